import BPFCore
import BPFObject

/// Rules that depend on what the program is rather than on what it computes: which maps a program
/// type may use (the kernel's `check_map_prog_compatibility`), helpers whose availability depends on
/// the attach type or on the program being sleepable, and helper flags the kernel wants constant.
extension Analysis {
    /// The program types the kernel counts as tracing for map compatibility (`is_tracing_prog_type`):
    /// they may run in any context, so they may not take a `bpf_spin_lock` or arm a `bpf_timer`.
    var isNonBTFTracing: Bool {
        switch program.type {
        case .kprobe, .tracepoint, .perfEvent, .rawTracepoint, .rawTracepointWritable: true
        default: false
        }
    }

    /// Checks that the program's type may use map `map` (at its `lddw`): values holding a
    /// `bpf_spin_lock` or `bpf_timer`, struct_ops maps.
    func checkMapProgramCompatibility(_ st: VerifierState, _ pc: Int, map: Int) throws(VerifierError) {
        let spec = maps[map]
        if spec.type == .structOps {
            throw fail(.invalidProgram, pc, "map '\(spec.name)' is a struct_ops map, which no program may use",
                       "struct_ops maps only register their programs with the kernel", state: st)
        }
        let record = graphRecords.map(map)
        let hasLock = spec.spinLockOffset != nil
            || record?.fields.contains { $0.kind == .spinLock || $0.name == "bpf_res_spin_lock" } == true
        if hasLock && (program.type == .socketFilter || isNonBTFTracing) {
            throw fail(.invalidProgram, pc,
                       "\(program.type.kernelName) programs cannot use map '\(spec.name)': its value holds a bpf_spin_lock",
                       program.type == .socketFilter ? "the kernel does not let socket filters take a bpf_spin_lock"
                           : "the kernel lets only BTF-typed tracing programs (fentry, tp_btf...) take a bpf_spin_lock",
                       state: st)
        }
        if isNonBTFTracing, record?.fields.contains(where: { $0.name == "bpf_timer" }) == true {
            throw fail(.invalidProgram, pc,
                       "\(program.type.kernelName) programs cannot use map '\(spec.name)': its value holds a bpf_timer",
                       "the kernel lets only BTF-typed tracing programs (fentry, tp_btf...) use a bpf_timer", state: st)
        }
    }

    /// Checks the rules of a helper's availability the program type alone does not decide: the
    /// attach type (`bpf_get_retval`/`bpf_set_retval` on cgroup hooks whose return value is fixed,
    /// cgroup helpers in LSM programs) and helpers that may sleep.
    func checkHelperContext(_ st: VerifierState, _ pc: Int, _ proto: HelperPrototype) throws(VerifierError) {
        // Packet pointers go only to helpers the kernel marks `pkt_access` (check_func_arg,
        // may_access_direct_pkt_data): map operations, csum_diff, socket lookups, syncookies.
        switch proto.id {
        case 1, 2, 3, 28, 84, 85, 87, 88, 89, 99, 100, 110, 195, 204, 205, 206, 207:
            break
        default:
            if program.type != .cgroupSockopt {
                for i in proto.arguments.indices where proto.arguments[i] != .anything {
                    let r = st[i + 1]
                    if r.kind == .packet || r.kind == .packetMeta {
                        throw fail(.helperArgument, pc, "\(proto.name) may not be given a packet pointer (R\(i + 1))",
                                   "copy the bytes to the stack first, or use a helper that reads the packet itself (bpf_skb_load_bytes)",
                                   state: st, registers: [i + 1])
                    }
                }
            }
        }
        switch proto.id {
        case 186, 187:  // bpf_get_retval, bpf_set_retval (cgroup_common_func_proto)
            let fixed: Set<AttachType> = [.cgroupInetIngress, .cgroupInetEgress, .cgroupSockOps, .cgroupUdp4Recvmsg,
                                          .cgroupUdp6Recvmsg, .cgroupUnixRecvmsg, .cgroupInet4Getpeername,
                                          .cgroupInet6Getpeername, .cgroupUnixGetpeername, .cgroupInet4Getsockname,
                                          .cgroupInet6Getsockname, .cgroupUnixGetsockname]
            if let attach = program.attachType, fixed.contains(attach) {
                throw fail(.helperUnavailable, pc, "\(proto.name) is not available to programs attached as \(attach.kernelName)",
                           "the return value of this cgroup hook cannot be read or changed", state: st)
            }
            if program.type == .lsm && program.attachType != .lsmCgroup {
                throw fail(.helperUnavailable, pc, "\(proto.name) is only available to LSM programs attached as lsm_cgroup",
                           state: st)
            }
        case 81:  // bpf_get_local_storage: LSM programs only as lsm_cgroup; flags must be 0
            let flags = st[2]
            needPrecise(st, pc, registers: [2])
            if !(flags.kind == .scalar && flags.value.constantValue == 0) {
                throw fail(.helperArgument, pc, "bpf_get_local_storage's flags (R2) must be the constant 0",
                           "the kernel defines no flags for it", state: st, registers: [2])
            }
            if program.type == .lsm && program.attachType != .lsmCgroup {
                throw fail(.helperUnavailable, pc, "\(proto.name) is only available to LSM programs attached as lsm_cgroup",
                           state: st)
            }
        case 2, 3:  // bpf_map_update_elem, bpf_map_delete_elem on a sockmap or sockhash (may_update_sockmap)
            guard st[1].kind == .mapPointer, maps[st[1].map].type == .sockmap || maps[st[1].map].type == .sockhash else { break }
            let allowed: Bool
            switch program.type {
            case .tracing: allowed = program.attachType == .traceIter
            case .sockOps: allowed = proto.id == 3   // updates go through bpf_sock_map_update / bpf_sock_hash_update
            case .socketFilter, .schedCls, .schedAct, .xdp, .skReuseport, .flowDissector, .skLookup: allowed = true
            default: allowed = false
            }
            if !allowed {
                throw fail(.helperUnavailable, pc,
                           "\(proto.name) cannot change \(maps[st[1].map].type.kernelName) map '\(maps[st[1].map].name)' from \(program.type.kernelName) programs",
                           "the kernel lets only programs that cannot hold a locked socket change a sockmap", state: st, registers: [1])
            }
        case 12:  // bpf_tail_call in a subprogram: the function must return an int (check_btf_func)
            if st.frames.count > 1, subprogramReturnsScalar(st.current.subprogram) == false {
                throw fail(.invalidProgram, pc, "bpf_tail_call in a function that does not return an int (by its BTF)",
                           "declare the function to return int", state: st)
            }
        case 148, 191, 161, 193:  // copy_from_user(_task), ima_inode_hash, ima_file_hash: might_sleep
            if !program.sleepable && program.type != .syscall {
                throw fail(.helperUnavailable, pc, "\(proto.name) may sleep: only sleepable programs (SEC(\"....s/...\")) may call it",
                           state: st)
            }
        default:
            break
        }
    }
}

extension Analysis {
    /// The kernel rewrites each load and store of the context (and of sockets and kernel objects) for the
    /// kind of pointer it goes through, once per instruction: one instruction reached with the context on
    /// one path and with another pointer (the stack, a socket...) on another cannot be rewritten for both
    /// (`save_aux_ptr_type`). Records the class of `base` at `pc` and refuses a different one.
    func samePointerClass(_ st: VerifierState, _ pc: Int, _ base: RegisterKind) throws(VerifierError) {
        let cls: UInt8
        switch base {
        case .context: cls = 2
        case .socket: cls = 3
        case .socketCommon: cls = 4
        case .tcpSocket: cls = 5
        case .kernelPointer: cls = 6
        default: cls = 1   // the stack, map values, packets, memory: accessed as they are
        }
        if pointerClassAt.isEmpty { pointerClassAt = [UInt8](filled: 0, count: insns.count) }
        let previous = pointerClassAt[pc]
        if previous == 0 {
            pointerClassAt[pc] = cls
        } else if previous != cls {
            func name(_ c: UInt8) -> String {
                switch c {
                case 2: "the context"
                case 3: "a socket"
                case 4: "a socket (sock_common)"
                case 5: "a tcp_sock"
                case 6: "a kernel object"
                default: "a stack, map or packet pointer"
                }
            }
            throw fail(.invalidPointer, pc,
                       "this instruction is reached with \(name(cls)) here and with \(name(previous)) on another path",
                       "the kernel rewrites a context or socket access for one pointer kind per instruction; use separate loads or stores on each path",
                       state: st)
        }
    }
}

extension Analysis {
    /// Whether subprogram `start` returns a scalar by its BTF prototype (an integer of at most 8 bytes
    /// or an enum); nil when the program's BTF does not describe it.
    func subprogramReturnsScalar(_ start: Int) -> Bool? {
        guard let btf = program.programBTF,
              let info = program.functionInfos.first(where: { $0.instruction == start }),
              let function = btf[info.typeID], function.kind == .function,
              let proto = btf[function.referencedType], proto.kind == .functionPrototype else { return nil }
        guard proto.referencedType != 0, let result = btf[btf.resolve(proto.referencedType)] else { return false }
        switch result.kind {
        case .int: return result.sizeOrType <= 8
        case .enumeration, .enumeration64: return true
        default: return false
        }
    }

    /// `ld_abs`/`ld_ind` (and `bpf_tail_call`) in a subprogram: the kernel wants the subprogram to return
    /// an int by its BTF (a failed packet load returns 0 from it), refuses them in callbacks, and lets
    /// the subprogram return 0 early — the caller must handle that. Forks that early return.
    func subprogramPacketLoad(_ st: VerifierState, _ pc: Int, _ parent: Checkpoint?, what: String) throws(VerifierError) {
        if let lock = st.lock {
            throw fail(.lock, pc, "\(what) while holding a bpf_spin_lock (taken at insn \(lock.instruction))",
                       "a failed packet load ends the program: release the lock first", state: st)
        }
        guard st.frames.count > 1 else { return }
        if st.lowestCallbackFrame != nil {
            throw fail(.invalidProgram, pc, "\(what) inside a callback", "the kernel refuses them in callbacks (bpf_loop, timers...)", state: st)
        }
        let start = st.current.subprogram
        if program.functionInfos.isEmpty {
            throw fail(.invalidProgram, pc, "\(what) in a function needs the program's BTF (func_info), which it does not have",
                       "build the object with -g so that it carries BTF", state: st)
        }
        if subprogramReturnsScalar(start) == false {
            throw fail(.invalidProgram, pc, "\(what) in a function that does not return an int (by its BTF)",
                       "a failed packet load returns 0 from the function: declare it to return int", state: st)
        }
        var early = st
        early[0] = .scalar(.constant(0))
        if case .next(let returnSite) = try exit(&early, pc) {
            fork(early, at: returnSite, parent: parent)
        }
    }
}

extension Analysis {
    /// Why the kernel refuses a read of `size` bytes at `offset` of a `struct bpf_sock` or
    /// `struct bpf_tcp_sock` (`bpf_sock_is_valid_access`, `bpf_sock_common_is_valid_access`,
    /// `bpf_tcp_sock_is_valid_access`), or nil.
    func socketFieldProblem(_ kind: RegisterKind, offset: Int, size: Int) -> String? {
        guard size > 0, offset % size == 0 else { return "the read is not aligned to its size" }
        if kind == .tcpSocket {
            guard offset < 112 else { return "struct bpf_tcp_sock ends at icsk_retransmits (offset 112)" }
            let wide = offset == 80 || offset == 88   // bytes_received, bytes_acked
            return size == (wide ? 8 : 4) ? nil : "this field of struct bpf_tcp_sock is read whole (\(wide ? 8 : 4) bytes)"
        }
        guard offset < 80 else { return "struct bpf_sock ends at rx_queue_mapping (offset 80)" }
        if kind == .socketCommon && offset >= 8 && offset < 24 {
            return "type, protocol, mark and priority are only readable on a full socket (bpf_sk_fullsock)"
        }
        switch offset {
        case 50..<52:
            return "offsets 50-51 of struct bpf_sock are padding after dst_port"
        case 48..<50:   // dst_port: a 2-byte field, also readable as the 4-byte word it starts
            return size <= 4 && size & (size - 1) == 0 && (size == 4 || offset + size <= 50) ? nil : "dst_port is 2 bytes"
        case 4, 8, 12, 44, 72, 76, 24..<44, 52..<72:
            // family, type, protocol, src_port, state, rx_queue_mapping (from their start) and the
            // addresses: narrow reads allowed.
            return size <= 4 ? nil : "the fields of struct bpf_sock are 4 bytes"
        default:
            // bound_dev_if, mark, priority: read whole.
            return size == 4 ? nil : "this field of struct bpf_sock is read whole (4 bytes)"
        }
    }
}

extension Analysis {
    /// The kernel's strict alignment check (`check_ptr_alignment(..., strict = true)`), for atomics and
    /// the fixed-size outputs of helpers (`ARG_PTR_TO_FIXED_SIZE_MEM | MEM_ALIGNED`): the address
    /// `reg + off` must be a multiple of `size` whatever the register's variable offset is.
    func checkStrictAlignment(_ st: VerifierState, _ pc: Int, regno: Int, off: Int, size: Int, what: String) throws(VerifierError) {
        guard size > 1 else { return }
        let r = st[regno]
        let t = r.value.tnum
        let fixed = UInt64(bitPattern: Int64(r.offset + off))
        let low = UInt64(size - 1)
        if t.mask & low != 0 || (t.value &+ fixed) & low != 0 {
            throw fail(.invalidPointer, pc,
                       "misaligned \(r.kind.name) access through R\(regno) at offset \(r.offset + off)\(r.value.isConstant ? "" : " + \(r.value)"): \(what) of \(size) bytes must be aligned to \(size)",
                       state: st, registers: [regno])
        }
    }
}

extension Analysis {
    /// The kernel registers its task, cgroup and cpumask kfuncs for BTF-typed tracing, tracepoint,
    /// perf_event, struct_ops, syscall and networking programs, but not for raw tracepoints: they get
    /// "calling kernel function ... is not allowed" there.
    func checkKfuncProgramType(_ st: VerifierState, _ pc: Int, name: String) throws(VerifierError) {
        guard program.type == .rawTracepoint || program.type == .rawTracepointWritable else { return }
        let generic: Set<String> = ["bpf_task_acquire", "bpf_task_release", "bpf_task_from_pid", "bpf_task_from_vpid",
                                    "bpf_task_under_cgroup", "bpf_task_get_cgroup1", "bpf_cgroup_acquire", "bpf_cgroup_release",
                                    "bpf_cgroup_ancestor", "bpf_cgroup_from_id"]
        if generic.contains(name) || name.hasPrefix("bpf_cpumask_") {
            throw fail(.helperUnavailable, pc, "kfunc '\(name)' is not available to \(program.type.kernelName) programs",
                       "the kernel offers its task, cgroup and cpumask kfuncs to tp_btf, fentry, tracepoint, perf_event, struct_ops and syscall programs",
                       state: st)
        }
    }
}

extension Analysis {
    /// Rules on the whole program, checked before its instructions: struct_ops programs need a
    /// GPL-compatible license (the kernel refuses them otherwise, whatever they call).
    func checkProgramRules() throws(VerifierError) {
        if program.type == .structOps, let license = program.license, !HelperPrototype.isGPLCompatible(license) {
            throw fail(.invalidProgram, 0, "struct_ops programs need a GPL-compatible license, but the program's is '\(license)'",
                       "declare char LICENSE[] SEC(\"license\") = \"GPL\";")
        }
        if program.type == .structOps, let ops = program.structOps {
            // Members the kernel's struct_ops implementations refuse to take a program for
            // (bpf_tcp_ca's unsupported_ops; bpf_dummy_ops' check_member: only test_sleepable
            // may be sleepable).
            if ops.kernelTypeName == "tcp_congestion_ops" && ops.member == "get_info" {
                throw fail(.invalidProgram, 0, "struct tcp_congestion_ops' member get_info takes no BPF program (the kernel's bpf_tcp_ca lists it as unsupported)",
                           "implement the other members; get_info is for the inet_diag of built-in congestion controls")
            }
            if ops.kernelTypeName == "bpf_dummy_ops" && program.sleepable && ops.member != "test_sleepable" {
                throw fail(.invalidProgram, 0, "struct bpf_dummy_ops' member \(ops.member) takes no sleepable program (only test_sleepable does)",
                           "use SEC(\"struct_ops/...\") rather than struct_ops.s for this member")
            }
        }
    }
}
