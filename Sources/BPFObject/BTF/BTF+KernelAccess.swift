/// How the kernel's BTF types what a program reads through a typed kernel pointer (`PTR_TO_BTF_ID`)
/// and what a tracing program receives as arguments — the rules of the kernel's `btf_struct_walk` and
/// `btf_ctx_access`, written for SwiftBPF's verifier (and any tool that needs them) as pure logic over
/// a parsed BTF.
///
/// ```swift
/// let vmlinux = try BTF(fileBytes: bytes)
/// let task = vmlinux.typeID(named: "task_struct", kind: .structure)!
/// switch vmlinux.fieldAccess(in: task, offset: 0, size: 4) {
/// case .success(let access): print(access)          // scalar
/// case .failure(let error): print(error.message)
/// }
/// ```
extension BTF {
    /// What a read through a typed pointer gives.
    public enum FieldAccess: Hashable, Sendable {
        /// A number (an integer field, part of an array of integers, a pointer to a non-struct).
        case scalar
        /// A pointer field to a struct or union: its type id, the `__rcu`/`__user`/`__percpu` type tag
        /// on it (if any), the field's name, and whether the walk crossed a union of more than one
        /// member (which makes the pointer untrusted).
        case pointer(type: Int, tag: String?, field: String, throughUnion: Bool)
    }

    /// Why a read through a typed pointer is refused.
    public struct AccessError: Error, Hashable, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Which field a read of `size` bytes at `offset` of struct or union `type` reaches, as the
    /// kernel's `btf_struct_walk` decides: nested structs and arrays are entered, a pointer field
    /// must be read whole, and a read past the struct (except into a flexible array) is refused.
    public func fieldAccess(in type: Int, offset: Int, size: Int) -> Result<FieldAccess, AccessError> {
        var current = type
        var off = offset
        var throughUnion = false
        var steps = 0
        walk: while steps < 64 {
            steps += 1
            current = resolve(current)
            guard let t = self[current], t.kind == .structure || t.kind == .union, case .members(let members) = t.detail else {
                return .failure(AccessError(message: "type '\(typeName(current))' is not a struct"))
            }
            let name = typeName(current)
            if t.kind == .union && members.count != 1 { throughUnion = true }
            if off < 0 { return .failure(AccessError(message: "negative offset \(off) into \(name)")) }
            if off + size > t.sizeOrType {
                // A flexible array at the end may be read past the struct's size.
                guard let last = members.last, case .array(let element, _, 0)? = self[resolve(last.type)]?.detail,
                      off >= last.bitOffset / 8 else {
                    return .failure(AccessError(message: "access beyond \(name) at offset \(off), \(size) bytes (it has \(t.sizeOrType))"))
                }
                let elementID = resolve(element)
                guard let e = self[elementID] else { return .failure(AccessError(message: "access beyond \(name) at offset \(off)")) }
                if e.kind == .int { return .success(.scalar) }
                guard e.kind == .structure || e.kind == .union, e.sizeOrType > 0 else {
                    return .failure(AccessError(message: "access beyond \(name) at offset \(off), \(size) bytes"))
                }
                off = (off - last.bitOffset / 8) % e.sizeOrType
                current = elementID
                continue walk
            }
            for member in members {
                var memberOffset = member.bitOffset / 8
                if off + size <= memberOffset { break }
                if member.bitfieldSize > 0 {
                    let endBit = member.bitOffset + member.bitfieldSize
                    if off <= memberOffset && (endBit + 7) / 8 <= off + size { return .success(.scalar) }
                    continue
                }
                if off < memberOffset { break }
                // The member's type, arrays linearised to their innermost element.
                var memberType = resolve(member.type)
                var memberSize: Int
                var elements = 1
                var elementType = memberType
                while case .array(let element, _, let count)? = self[elementType]?.detail {
                    elements *= count
                    elementType = resolve(element)
                }
                if elementType != memberType {
                    guard let elementSize = try? self.size(of: elementType) else {
                        return .failure(AccessError(message: "field '\(member.name)' of \(name) has no size"))
                    }
                    memberSize = elementSize * elements
                } else {
                    guard let s = try? self.size(of: memberType) else {
                        return .failure(AccessError(message: "field '\(member.name)' of \(name) has no size"))
                    }
                    memberSize = s
                }
                let trueEnd = memberOffset + memberSize
                if off >= trueEnd { continue }
                if elementType != memberType {
                    if memberSize == 0 { continue }
                    let elementSize = memberSize / elements
                    memberOffset += (off - memberOffset) / elementSize * elementSize
                    memberType = elementType
                    memberSize = elementSize
                }
                guard let m = self[memberType] else { return .success(.scalar) }
                if m.kind == .structure || m.kind == .union {
                    off -= memberOffset
                    current = memberType
                    continue walk
                }
                if m.kind == .pointer {
                    guard memberSize == size, off == memberOffset else {
                        return .failure(AccessError(message: "cannot read pointer field '\(member.name)' of \(name) (offset \(memberOffset)) partially: offset \(off), \(size) bytes"))
                    }
                    var tag: String?
                    if let tagged = self[m.referencedType], tagged.kind == .typeTag, !tagged.kindFlag { tag = tagged.name }
                    let target = resolve(m.referencedType)
                    if let s = self[target], s.kind == .structure || s.kind == .union {
                        return .success(.pointer(type: target, tag: tag, field: member.name, throughUnion: throughUnion))
                    }
                }
                if off + size > trueEnd && !throughUnion {
                    return .failure(AccessError(message: "access beyond the end of field '\(member.name)' of \(name) (it ends at \(trueEnd)): offset \(off), \(size) bytes"))
                }
                return .success(.scalar)
            }
            return .failure(AccessError(message: "\(name) has no field at offset \(off)"))
        }
        return .failure(AccessError(message: "type chain too deep at BTF type \(type)"))
    }

    /// The prototype a tracing program's arguments come from: the attach target's function
    /// prototype, with the first `void *__data` dropped for a BTF tracepoint.
    public struct TracingPrototype: Hashable, Sendable {
        /// The function, tracepoint or hook, as the kernel names it in messages.
        public var name: String
        public var parameters: [BTFParameter]
        /// The return type (0: void).
        public var returnType: Int
    }

    /// The prototype of a `tp_btf/NAME` (typedef `btf_trace_NAME`), `fentry|fexit|fmod_ret/NAME` or
    /// `iter/NAME` (function `bpf_iter_NAME`) or `lsm/NAME` (function `bpf_lsm_NAME`) target, or nil
    /// when this BTF has none of that name.
    public func tracingPrototype(_ kind: TracingTargetKind, target: String) -> TracingPrototype? {
        let protoID: Int
        switch kind {
        case .tracepoint:
            guard let typedef = typeID(named: "btf_trace_" + target, kind: .typedef),
                  let pointer = self[resolve(typedef)], pointer.kind == .pointer else { return nil }
            protoID = resolve(pointer.referencedType)
        case .structOps:
            return nil
        case .function, .iterator, .lsmHook:
            let name = kind == .iterator ? "bpf_iter_" + target : kind == .lsmHook ? "bpf_lsm_" + target : target
            guard let function = typeID(named: name, kind: .function), let f = self[function] else { return nil }
            protoID = f.referencedType
        }
        guard let proto = self[protoID], proto.kind == .functionPrototype, case .parameters(var parameters) = proto.detail else {
            return nil
        }
        if kind == .tracepoint && !parameters.isEmpty { parameters.removeFirst() }
        return TracingPrototype(name: target, parameters: parameters, returnType: proto.referencedType)
    }

    /// What names a tracing program's target.
    public enum TracingTargetKind: Hashable, Sendable {
        case tracepoint, function, iterator, lsmHook
        /// A struct_ops member (its prototype comes from ``BTF/structOpsPrototype(type:member:)``).
        case structOps
    }

    /// Whether the kernel declares field `field` of struct `structName` safe to inherit its parent's
    /// trust: the kernel publishes these as BTF types named `STRUCT__safe_trusted`,
    /// `STRUCT__safe_trusted_or_null`, `STRUCT__safe_rcu` and `STRUCT__safe_rcu_or_null` whose members
    /// name the fields.
    public func declaresSafeField(_ structName: String, _ field: String, suffix: String) -> Bool {
        guard let id = typeID(named: structName + "__" + suffix, kind: .structure), case .members(let members)? = self[id]?.detail else {
            return false
        }
        return members.contains { $0.name == field }
    }

    /// Raw tracepoints whose arguments may be NULL (argument indexes), as the kernel lists them for
    /// `tp_btf` programs (Linux 6.18's `raw_tp_null_args`; arguments listed there as possibly an error
    /// pointer are in ``tracepointErrorArguments``).
    public static func tracepointNullableArguments(_ name: String) -> [Int] {
        switch name {
        case "afs_protocol_error", "cachefiles_unlink", "cachefiles_rename", "cachefiles_prep_read", "cachefiles_mark_active",
             "cachefiles_mark_failed", "cachefiles_mark_inactive", "cachefiles_vfs_error", "cachefiles_io_error",
             "cachefiles_ondemand_open", "cachefiles_ondemand_copen", "cachefiles_ondemand_close", "cachefiles_ondemand_read",
             "cachefiles_ondemand_cread", "cachefiles_ondemand_fd_write", "cachefiles_ondemand_fd_release",
             "mm_collapse_huge_page_isolate", "mm_page_alloc", "mm_page_pcpu_drain", "mm_page_alloc_zone_locked",
             "rxrpc_recvdata", "rxrpc_client", "xs_stream_read_data", "tmigr_update_events", "amdgpu_vm_bo_map",
             "amdgpu_vm_bo_unmap", "netfs_folioq", "xfs_defer_create_intent", "xfs_defer_cancel_list", "xfs_defer_pending_finish",
             "xfs_defer_pending_abort", "xfs_defer_relog_intent", "xfs_defer_isolate_paused", "xfs_defer_item_pause",
             "xfs_defer_item_unpause", "xfs_defer_add_item", "xfs_defer_cancel_item", "xfs_defer_finish_item", "xfs_inodegc_flush",
             "xfs_inodegc_push", "xfs_inodegc_start", "xfs_inodegc_stop", "xfs_inodegc_queue", "xfs_inodegc_throttle",
             "xfs_fs_sync_fs", "xfs_blockgc_start", "xfs_blockgc_stop", "xfs_blockgc_worker", "xfs_blockgc_flush_all",
             "nfsd_dirent", "nfsd_file_insert_err", "nfsd_file_cons_err", "nfs4_setup_sequence":
            return [0]
        case "cachefiles_lookup": return [0]
        case "nfsd_file_acquire": return [0, 3]
        case "sched_pi_setprio", "afs_make_fs_call", "afs_make_fs_calli", "afs_make_fs_call1", "afs_make_fs_call2", "afs_flock_ev",
             "ext4_mballoc_discard", "ext4_mballoc_free", "posix_lock_inode", "fcntl_setlk", "locks_remove_posix", "flock_lock_inode",
             "break_lease_noblock", "break_lease_block", "break_lease_unblock", "generic_delete_lease", "time_out_leases",
             "mm_khugepaged_scan_pmd", "mm_khugepaged_scan_file", "mm_khugepaged_collapse_file", "netfs_failure",
             "device_pm_callback_start", "rxrpc_resend", "rxrpc_tq", "xprt_reserve_cong", "xprt_release_cong", "xprt_get_cong",
             "xprt_put_cong", "writeback_dirty_folio", "folio_wait_writeback", "xfs_ioc_free_eofblocks", "xfs_blockgc_free_space",
             "xchk_nlinks_live_update", "coda_dec_pic_run", "coda_dec_pic_done", "rdev_set_coalesce", "wiphy_work_queue",
             "wiphy_work_run", "wiphy_work_cancel", "wiphy_work_flush", "hugetlbfs_alloc_inode", "spufs_context", "neigh_update":
            return [1]
        case "tcp_send_reset", "cfg80211_scan_done": return [0, 1]
        case "sched_stick_numa", "sched_swap_numa", "fib_table_lookup", "tegra_dma_tx_status", "xfs_btree_updkeys",
             "xfs_btree_overlapped_query_range", "xchk_metapath_lookup", "cfg80211_report_wowlan_wakeup", "cfg80211_inform_bss_frame",
             "kvm_page_fault_enter", "dpu_crtc_setup_mixer", "binder_transaction", "btree_path_free", "amdtp_packet":
            return [2]
        case "qdisc_dequeue", "kfree_skb", "xfs_iomap_alloc", "xfs_iomap_found", "hfi1_sdma_progress", "iptfs_ingress_postq_event":
            return [3]
        case "mr_integ_alloc": return []
        case "host1x_cdma_push_gather", "xfs_map_blocks_found", "xfs_map_blocks_alloc", "pnfs_update_layout",
             "pnfs_mds_fallback_pg_init_read", "pnfs_mds_fallback_pg_init_write", "pnfs_mds_fallback_pg_get_mirror_count",
             "pnfs_mds_fallback_read_done", "pnfs_mds_fallback_write_done", "pnfs_mds_fallback_read_pagelist",
             "pnfs_mds_fallback_write_pagelist", "cfg80211_michael_mic_failure":
            return [4]
        default: return []
        }
    }

    /// Raw tracepoint arguments that may hold an error pointer: the kernel gives them to `tp_btf`
    /// programs as numbers.
    public static func tracepointErrorArguments(_ name: String) -> [Int] {
        switch name {
        case "cachefiles_lookup", "nfs4_inode_callback_event", "nfs4_inode_stateid_callback_event": return [2]
        case "mr_integ_alloc": return [3]
        default: return []
        }
    }
}
