/// Every helper of the Linux 6.18 UAPI (`__BPF_FUNC_MAPPER`, ids 1 ... 211), by id: its prototype as the
/// kernel's `struct bpf_func_proto` gives it, and the program types that may call it.
///
/// Nothing here is built ahead of time: `prototype(_:)` and `availability(_:)` are switches evaluated for
/// the one id asked about, so the first verification of a process stays cheap.
///
/// Where the kernel has several prototypes for one helper (one per program type), the entry is the one
/// the networking or most common program types get, and a comment names the others. Arguments follow the
/// kernel's `ARG_*` types; return ranges are given only where the runtime or the verifier needs them.
/// `Scripts/helper-availability/` says how the availability data was made and re-checks it on a machine.
extension HelperPrototype {
    /// The last helper id Linux 6.18 defines (`bpf_cgrp_storage_delete`).
    public static let lastID: Int32 = 211

    // MARK: Map types (the kernel's check_map_func_compatibility)

    /// The maps `bpf_map_lookup_elem` takes.
    static let lookupMaps: MapTypeSet = MapTypeSet(.hash, .array, .perCPUHash, .perCPUArray, .lruHash, .lruPerCPUHash, .lpmTrie, .arrayOfMaps)
        .union(MapTypeSet(.hashOfMaps, .devmap, .devmapHash, .xskmap, .sockmap, .sockhash))
    /// The maps `bpf_map_update_elem` and `bpf_map_delete_elem` take (sockmap and sockhash only from the program
    /// types the kernel lets update them).
    static let updateMaps: MapTypeSet = MapTypeSet(.hash, .array, .perCPUHash, .perCPUArray, .lruHash, .lruPerCPUHash, .lpmTrie, .sockmap)
        .union(MapTypeSet(.sockhash))
    /// The maps whose values may hold a `struct bpf_timer`.
    static let timerMaps: MapTypeSet = MapTypeSet(.hash, .lruHash, .array)

    /// The prototype of helper `id`, built on demand (no table is set up ahead).
    static func prototype(_ id: Int32) -> HelperPrototype? {
        switch id {
        case 1: .init(1, "bpf_map_lookup_elem", .init(.map, .mapKey), .mapValueOrNull, mapTypes: lookupMaps)
        case 2: .init(2, "bpf_map_update_elem", .init(.map, .mapKey, .mapValue, .scalar), mapTypes: updateMaps)
        case 3: .init(3, "bpf_map_delete_elem", .init(.map, .mapKey), mapTypes: updateMaps)
        case 4: .init(4, "bpf_probe_read", .init(.memoryOutput, .sizeOrZero, .anything), .integer(-4095, 0), gplOnly: true)
        case 5: .init(5, "bpf_ktime_get_ns", .empty)
        // Like the kernel's prototype, only the format and its size are checked (r3-r5 may be unset).
        case 6: .init(6, "bpf_trace_printk", .init(.memory, .size), gplOnly: true)
        case 7: .init(7, "bpf_get_prandom_u32", .empty, .integer(0, Int64(UInt32.max)))
        case 8: .init(8, "bpf_get_smp_processor_id", .empty, .integer(0, 8191))
        case 9: .init(9, "bpf_skb_store_bytes", .init(.context, .scalar, .memory, .size, .scalar), .integer(-4095, 0), changesPacket: true)
        case 10: .init(10, "bpf_l3_csum_replace", .init(.context, .scalar, .scalar, .scalar, .scalar), changesPacket: true)
        case 11: .init(11, "bpf_l4_csum_replace", .init(.context, .scalar, .scalar, .scalar, .scalar), changesPacket: true)
        case 12: .init(12, "bpf_tail_call", .init(.context, .map, .scalar), .void, changesPacket: true, mapTypes: MapTypeSet(.programArray))
        case 13: .init(13, "bpf_clone_redirect", .init(.context, .scalar, .scalar), changesPacket: true)
        case 14: .init(14, "bpf_get_current_pid_tgid", .empty)
        case 15: .init(15, "bpf_get_current_uid_gid", .empty)
        case 16: .init(16, "bpf_get_current_comm", .init(.memoryOutput, .size), .integer(-4095, 0))
        // Types without a socket buffer get the current task's classid instead, and pass no argument.
        case 17: .init(17, "bpf_get_cgroup_classid", .init(.context))
        case 18: .init(18, "bpf_skb_vlan_push", .init(.context, .scalar, .scalar), changesPacket: true)
        case 19: .init(19, "bpf_skb_vlan_pop", .init(.context), changesPacket: true)
        case 20: .init(20, "bpf_skb_get_tunnel_key", .init(.context, .memoryOutput, .size, .scalar))
        case 21: .init(21, "bpf_skb_set_tunnel_key", .init(.context, .memory, .size, .scalar))
        case 22: .init(22, "bpf_perf_event_read", .init(.map, .scalar), gplOnly: true, mapTypes: MapTypeSet(.perfEventArray))
        // XDP programs' bpf_redirect has the same arguments.
        case 23: .init(23, "bpf_redirect", .init(.scalar, .scalar))
        case 24: .init(24, "bpf_get_route_realm", .init(.context))
        // skb and XDP programs' proto; the tracing types' ones have the same arguments (all GPL-only).
        case 25: .init(25, "bpf_perf_event_output", .init(.context, .map, .scalar, .memory, .sizeOrZero), .integer(-4095, 0), gplOnly: true, mapTypes: MapTypeSet(.perfEventArray))
        // flow_dissector and sk_reuseport programs' protos have the same arguments.
        case 26: .init(26, "bpf_skb_load_bytes", .init(.context, .scalar, .memoryOutput, .size), .integer(-4095, 0))
        // perf_event programs' proto is the same but not GPL-only.
        case 27: .init(27, "bpf_get_stackid", .init(.context, .map, .scalar), gplOnly: true, mapTypes: MapTypeSet(.stackTrace))
        case 28: .init(28, "bpf_csum_diff", .init(.memoryOrNull, .sizeOrZero, .memoryOrNull, .sizeOrZero, .scalar))
        case 29: .init(29, "bpf_skb_get_tunnel_opt", .init(.context, .memoryOutput, .size))
        case 30: .init(30, "bpf_skb_set_tunnel_opt", .init(.context, .memory, .size))
        case 31: .init(31, "bpf_skb_change_proto", .init(.context, .scalar, .scalar), changesPacket: true)
        case 32: .init(32, "bpf_skb_change_type", .init(.context, .scalar))
        case 33: .init(33, "bpf_skb_under_cgroup", .init(.context, .map, .scalar), mapTypes: MapTypeSet(.cgroupArray))
        case 34: .init(34, "bpf_get_hash_recalc", .init(.context))
        case 35: .init(35, "bpf_get_current_task", .empty, gplOnly: true)
        case 36: .init(36, "bpf_probe_write_user", .init(.anything, .memory, .size), gplOnly: true)
        case 37: .init(37, "bpf_current_task_under_cgroup", .init(.map, .scalar), mapTypes: MapTypeSet(.cgroupArray))
        // sk_skb programs' protos for 38, 39, 43 and 50 have the same arguments.
        case 38: .init(38, "bpf_skb_change_tail", .init(.context, .scalar, .scalar), .integer(-4095, 0), changesPacket: true)
        case 39: .init(39, "bpf_skb_pull_data", .init(.context, .scalar), .integer(-4095, 0), changesPacket: true)
        case 40: .init(40, "bpf_csum_update", .init(.context, .scalar))
        case 41: .init(41, "bpf_set_hash_invalid", .init(.context))
        case 42: .init(42, "bpf_get_numa_node_id", .empty, .integer(0, 1023))
        case 43: .init(43, "bpf_skb_change_head", .init(.context, .scalar, .scalar), .integer(-4095, 0), changesPacket: true)
        case 44: .init(44, "bpf_xdp_adjust_head", .init(.context, .scalar), .integer(-4095, 0), changesPacket: true)
        case 45: .init(45, "bpf_probe_read_str", .init(.memoryOutput, .sizeOrZero, .anything), .integer(-4095, Int64(Int32.max)), gplOnly: true)
        // Tracing, LSM and syscall programs pass a struct sock_common pointer (or NULL) instead of the context.
        case 46: .init(46, "bpf_get_socket_cookie", .init(.context))
        case 47: .init(47, "bpf_get_socket_uid", .init(.context))
        case 48: .init(48, "bpf_set_hash", .init(.context, .scalar))
        // Tracing (iter/tcp), LSM (lsm_cgroup) and struct_ops programs pass a struct sock_common pointer instead of the context.
        case 49: .init(49, "bpf_setsockopt", .init(.context, .scalar, .scalar, .memory, .size))
        case 50: .init(50, "bpf_skb_adjust_room", .init(.context, .scalar, .scalar, .scalar), changesPacket: true)
        case 51: .init(51, "bpf_redirect_map", .init(.map, .scalar, .scalar), mapTypes: MapTypeSet(.devmap, .devmapHash, .cpumap, .xskmap))
        case 52: .init(52, "bpf_sk_redirect_map", .init(.context, .map, .scalar, .scalar), mapTypes: MapTypeSet(.sockmap))
        case 53: .init(53, "bpf_sock_map_update", .init(.context, .map, .mapKey, .scalar), mapTypes: MapTypeSet(.sockmap))
        case 54: .init(54, "bpf_xdp_adjust_meta", .init(.context, .scalar), .integer(-4095, 0), changesPacket: true)
        case 55: .init(55, "bpf_perf_event_read_value", .init(.map, .scalar, .memoryOutput, .size), gplOnly: true, mapTypes: MapTypeSet(.perfEventArray))
        case 56: .init(56, "bpf_perf_prog_read_value", .init(.context, .memoryOutput, .size), gplOnly: true)
        // Tracing (iter/tcp), LSM (lsm_cgroup) and struct_ops programs pass a struct sock_common pointer instead of the context.
        case 57: .init(57, "bpf_getsockopt", .init(.context, .scalar, .scalar, .memoryOutput, .size))
        case 58: .init(58, "bpf_override_return", .init(.context, .scalar), gplOnly: true)
        case 59: .init(59, "bpf_sock_ops_cb_flags_set", .init(.context, .scalar))
        case 60: .init(60, "bpf_msg_redirect_map", .init(.context, .map, .scalar, .scalar), mapTypes: MapTypeSet(.sockmap))
        case 61: .init(61, "bpf_msg_apply_bytes", .init(.context, .scalar))
        case 62: .init(62, "bpf_msg_cork_bytes", .init(.context, .scalar))
        case 63: .init(63, "bpf_msg_pull_data", .init(.context, .scalar, .scalar, .scalar), changesPacket: true)
        case 64: .init(64, "bpf_bind", .init(.context, .memory, .size))
        case 65: .init(65, "bpf_xdp_adjust_tail", .init(.context, .scalar), .integer(-4095, 0), changesPacket: true)
        case 66: .init(66, "bpf_skb_get_xfrm_state", .init(.context, .scalar, .memoryOutput, .size, .scalar))
        // raw_tracepoint programs' proto takes the buffer as readable memory; the others as here.
        case 67: .init(67, "bpf_get_stack", .init(.context, .memoryOutput, .sizeOrZero, .scalar), gplOnly: true)
        case 68: .init(68, "bpf_skb_load_bytes_relative", .init(.context, .scalar, .memoryOutput, .size, .scalar))
        // XDP programs' proto has the same arguments.
        case 69: .init(69, "bpf_fib_lookup", .init(.context, .memoryOutput, .size, .scalar), gplOnly: true)
        case 70: .init(70, "bpf_sock_hash_update", .init(.context, .map, .mapKey, .scalar), mapTypes: MapTypeSet(.sockhash))
        case 71: .init(71, "bpf_msg_redirect_hash", .init(.context, .map, .mapKey, .scalar), mapTypes: MapTypeSet(.sockhash))
        case 72: .init(72, "bpf_sk_redirect_hash", .init(.context, .map, .mapKey, .scalar), mapTypes: MapTypeSet(.sockhash))
        // lwt_xmit programs' proto has the same arguments.
        case 73: .init(73, "bpf_lwt_push_encap", .init(.context, .scalar, .memory, .size), changesPacket: true)
        case 74: .init(74, "bpf_lwt_seg6_store_bytes", .init(.context, .scalar, .memory, .size), changesPacket: true)
        case 75: .init(75, "bpf_lwt_seg6_adjust_srh", .init(.context, .scalar, .scalar), changesPacket: true)
        case 76: .init(76, "bpf_lwt_seg6_action", .init(.context, .scalar, .memory, .size), changesPacket: true)
        case 77: .init(77, "bpf_rc_repeat", .init(.context), gplOnly: true)
        case 78: .init(78, "bpf_rc_keydown", .init(.context, .scalar, .scalar, .scalar), gplOnly: true)
        case 79: .init(79, "bpf_skb_cgroup_id", .init(.context))
        case 80: .init(80, "bpf_get_current_cgroup_id", .empty)
        case 81: .init(81, "bpf_get_local_storage", .init(.map, .scalar), .mapValue, mapTypes: MapTypeSet(.cgroupStorage, .perCPUCgroupStorage))
        case 82: .init(82, "bpf_sk_select_reuseport", .init(.context, .map, .mapKey, .scalar), mapTypes: MapTypeSet(.reuseportSockarray, .sockmap, .sockhash))
        case 83: .init(83, "bpf_skb_ancestor_cgroup_id", .init(.context, .scalar))
        // XDP, cgroup_sock_addr and sk_skb programs' protos have the same arguments.
        case 84: .init(84, "bpf_sk_lookup_tcp", .init(.context, .memory, .sizeOrZero, .scalar, .scalar), .socketOrNull, acquires: true)
        case 85: .init(85, "bpf_sk_lookup_udp", .init(.context, .memory, .sizeOrZero, .scalar, .scalar), .socketOrNull, acquires: true)
        case 86: .init(86, "bpf_sk_release", .init(.releasedSocket))
        case 87: .init(87, "bpf_map_push_elem", .init(.map, .mapValue, .scalar), .integer(-4095, 0), mapTypes: queueMaps.union(MapTypeSet(.bloomFilter)))
        case 88: .init(88, "bpf_map_pop_elem", .init(.map, .mapValueOutput), .integer(-4095, 0), mapTypes: queueMaps)
        case 89: .init(89, "bpf_map_peek_elem", .init(.map, .mapValueOutput), .integer(-4095, 0), mapTypes: queueMaps.union(MapTypeSet(.bloomFilter)))
        case 90: .init(90, "bpf_msg_push_data", .init(.context, .scalar, .scalar, .scalar), changesPacket: true)
        case 91: .init(91, "bpf_msg_pop_data", .init(.context, .scalar, .scalar, .scalar), changesPacket: true)
        case 92: .init(92, "bpf_rc_pointer_rel", .init(.context, .scalar, .scalar), gplOnly: true)
        case 93: .init(93, "bpf_spin_lock", .init(.spinLock), .void)
        case 94: .init(94, "bpf_spin_unlock", .init(.spinLock), .void)
        case 95: .init(95, "bpf_sk_fullsock", .init(.socketCommon), .socketOrNull)
        case 96: .init(96, "bpf_tcp_sock", .init(.socketCommon), .tcpSocketOrNull)
        case 97: .init(97, "bpf_skb_ecn_set_ce", .init(.context))
        case 98: .init(98, "bpf_get_listener_sock", .init(.socketCommon), .socketOrNull)
        // XDP, cgroup_sock_addr and sk_skb programs' protos have the same arguments.
        case 99: .init(99, "bpf_skc_lookup_tcp", .init(.context, .memory, .sizeOrZero, .scalar, .scalar), .socketCommonOrNull, acquires: true)
        case 100: .init(100, "bpf_tcp_check_syncookie", .init(.btfSocketCommon, .memory, .size, .memory, .size), gplOnly: true)
        case 101: .init(101, "bpf_sysctl_get_name", .init(.context, .memoryOutput, .size, .scalar))
        case 102: .init(102, "bpf_sysctl_get_current_value", .init(.context, .memoryOutput, .size))
        case 103: .init(103, "bpf_sysctl_get_new_value", .init(.context, .memoryOutput, .size))
        case 104: .init(104, "bpf_sysctl_set_new_value", .init(.context, .memory, .size))
        case 105: .init(105, "bpf_strtol", .init(.memory, .size, .scalar, .fixedOutput(8)), .integer(-4095, Int64(Int32.max)))
        case 106: .init(106, "bpf_strtoul", .init(.memory, .size, .scalar, .fixedOutput(8)), .integer(-4095, Int64(Int32.max)))
        // Tracing programs pass a struct sock_common pointer or NULL; cgroup_sock programs their context.
        case 107: .init(107, "bpf_sk_storage_get", .init(.map, .btfSocketCommon, .mapValueOrNull, .scalar), .mapValueOrNull, mapTypes: MapTypeSet(.skStorage))
        // Tracing programs pass a struct sock_common pointer or NULL.
        case 108: .init(108, "bpf_sk_storage_delete", .init(.map, .btfSocketCommon), mapTypes: MapTypeSet(.skStorage))
        case 109: .init(109, "bpf_send_signal", .init(.scalar))
        case 110: .init(110, "bpf_tcp_gen_syncookie", .init(.btfSocketCommon, .memory, .size, .memory, .size), gplOnly: true)
        case 111: .init(111, "bpf_skb_output", .init(.btfID("sk_buff"), .map, .scalar, .memory, .sizeOrZero), gplOnly: true, mapTypes: MapTypeSet(.perfEventArray))
        case 112: .init(112, "bpf_probe_read_user", .init(.memoryOutput, .sizeOrZero, .anything), .integer(-4095, 0), gplOnly: true)
        case 113: .init(113, "bpf_probe_read_kernel", .init(.memoryOutput, .sizeOrZero, .anything), .integer(-4095, 0), gplOnly: true)
        case 114: .init(114, "bpf_probe_read_user_str", .init(.memoryOutput, .sizeOrZero, .anything), .integer(-4095, Int64(Int32.max)), gplOnly: true)
        case 115: .init(115, "bpf_probe_read_kernel_str", .init(.memoryOutput, .sizeOrZero, .anything), .integer(-4095, Int64(Int32.max)), gplOnly: true)
        case 116: .init(116, "bpf_tcp_send_ack", .init(.btfID("tcp_sock"), .scalar))
        case 117: .init(117, "bpf_send_signal_thread", .init(.scalar))
        case 118: .init(118, "bpf_jiffies64", .empty)
        // The buffer is written, or NULL with a size of 0.
        case 119: .init(119, "bpf_read_branch_records", .init(.context, .memoryOrNull, .sizeOrZero, .scalar), gplOnly: true)
        case 120: .init(120, "bpf_get_ns_current_pid_tgid", .init(.scalar, .scalar, .memoryOutput, .size))
        case 121: .init(121, "bpf_xdp_output", .init(.btfID("xdp_buff"), .map, .scalar, .memory, .sizeOrZero), gplOnly: true, mapTypes: MapTypeSet(.perfEventArray))
        case 122: .init(122, "bpf_get_netns_cookie", .init(.contextOrNull))
        case 123: .init(123, "bpf_get_current_ancestor_cgroup_id", .init(.scalar))
        // sk_lookup programs pass a full socket or NULL.
        case 124: .init(124, "bpf_sk_assign", .init(.context, .btfSocketCommon, .scalar))
        case 125: .init(125, "bpf_ktime_get_boot_ns", .empty)
        case 126: .init(126, "bpf_seq_printf", .init(.btfID("seq_file"), .memory, .size, .memoryOrNull, .sizeOrZero), gplOnly: true)
        case 127: .init(127, "bpf_seq_write", .init(.btfID("seq_file"), .memory, .sizeOrZero), gplOnly: true)
        case 128: .init(128, "bpf_sk_cgroup_id", .init(.btfSocketCommon))
        case 129: .init(129, "bpf_sk_ancestor_cgroup_id", .init(.btfSocketCommon, .scalar))
        case 130: .init(130, "bpf_ringbuf_output", .init(.map, .memory, .sizeOrZero, .scalar), .integer(-4095, 0), mapTypes: MapTypeSet(.ringBuffer))
        case 131: .init(131, "bpf_ringbuf_reserve", .init(.map, .constantSize, .scalar), .recordOrNull, mapTypes: MapTypeSet(.ringBuffer))
        case 132: .init(132, "bpf_ringbuf_submit", .init(.releasedRecord, .scalar), .void)
        case 133: .init(133, "bpf_ringbuf_discard", .init(.releasedRecord, .scalar), .void)
        case 134: .init(134, "bpf_ringbuf_query", .init(.map, .scalar), mapTypes: MapTypeSet(.ringBuffer))
        case 135: .init(135, "bpf_csum_level", .init(.context, .scalar))
        case 136: .init(136, "bpf_skc_to_tcp6_sock", .init(.btfSocketCommon), .btfIDOrNull("tcp6_sock"))
        case 137: .init(137, "bpf_skc_to_tcp_sock", .init(.btfSocketCommon), .btfIDOrNull("tcp_sock"))
        case 138: .init(138, "bpf_skc_to_tcp_timewait_sock", .init(.btfSocketCommon), .btfIDOrNull("tcp_timewait_sock"))
        case 139: .init(139, "bpf_skc_to_tcp_request_sock", .init(.btfSocketCommon), .btfIDOrNull("tcp_request_sock"))
        case 140: .init(140, "bpf_skc_to_udp6_sock", .init(.btfSocketCommon), .btfIDOrNull("udp6_sock"))
        case 141: .init(141, "bpf_get_task_stack", .init(.btfID("task_struct"), .memoryOutput, .sizeOrZero, .scalar))
        case 142: .init(142, "bpf_load_hdr_opt", .init(.context, .memoryOutput, .size, .scalar))
        case 143: .init(143, "bpf_store_hdr_opt", .init(.context, .memory, .size, .scalar), changesPacket: true)
        case 144: .init(144, "bpf_reserve_hdr_opt", .init(.context, .scalar, .scalar))
        case 145: .init(145, "bpf_inode_storage_get", .init(.map, .btfIDOrNull("inode"), .mapValueOrNull, .scalar), .mapValueOrNull, mapTypes: MapTypeSet(.inodeStorage))
        case 146: .init(146, "bpf_inode_storage_delete", .init(.map, .btfIDOrNull("inode")), mapTypes: MapTypeSet(.inodeStorage))
        case 147: .init(147, "bpf_d_path", .init(.btfID("path"), .memoryOutput, .sizeOrZero))
        case 148: .init(148, "bpf_copy_from_user", .init(.memoryOutput, .sizeOrZero, .anything))
        case 149: .init(149, "bpf_snprintf_btf", .init(.memoryOutput, .size, .memory, .size, .scalar))
        case 150: .init(150, "bpf_seq_printf_btf", .init(.btfID("seq_file"), .memory, .sizeOrZero, .scalar), gplOnly: true)
        case 151: .init(151, "bpf_skb_cgroup_classid", .init(.context))
        case 152: .init(152, "bpf_redirect_neigh", .init(.scalar, .memoryOrNull, .sizeOrZero, .scalar))
        case 153: .init(153, "bpf_per_cpu_ptr", .init(.perCPUBTFID, .scalar), .memoryOrNull)
        case 154: .init(154, "bpf_this_cpu_ptr", .init(.perCPUBTFID), .memory)
        case 155: .init(155, "bpf_redirect_peer", .init(.scalar, .scalar))
        case 156: .init(156, "bpf_task_storage_get", .init(.map, .btfIDOrNull("task_struct"), .mapValueOrNull, .scalar), .mapValueOrNull, mapTypes: MapTypeSet(.taskStorage))
        case 157: .init(157, "bpf_task_storage_delete", .init(.map, .btfIDOrNull("task_struct")), mapTypes: MapTypeSet(.taskStorage))
        case 158: .init(158, "bpf_get_current_task_btf", .empty, .btfID("task_struct"), gplOnly: true)
        case 159: .init(159, "bpf_bprm_opts_set", .init(.btfID("linux_binprm"), .scalar))
        case 160: .init(160, "bpf_ktime_get_coarse_ns", .empty)
        case 161: .init(161, "bpf_ima_inode_hash", .init(.btfID("inode"), .memoryOutput, .size))
        case 162: .init(162, "bpf_sock_from_file", .init(.btfID("file")), .btfIDOrNull("socket"))
        // XDP programs' proto has the same arguments.
        case 163: .init(163, "bpf_check_mtu", .init(.context, .scalar, .fixedOutput(4), .scalar, .scalar), gplOnly: true)
        case 164: .init(164, "bpf_for_each_map_elem", .init(.map, .function, .stackOrNull, .scalar), .integer(-4095, Int64(Int32.max)), mapTypes: forEachMaps)
        case 165: .init(165, "bpf_snprintf", .init(.memoryOutputOrNull, .sizeOrZero, .constantString, .memoryOrNull, .sizeOrZero), .integer(-4095, Int64(Int32.max)), gplOnly: true)
        case 166: .init(166, "bpf_sys_bpf", .init(.scalar, .memory, .size))
        case 167: .init(167, "bpf_btf_find_by_name_kind", .init(.memory, .size, .scalar, .scalar))
        case 168: .init(168, "bpf_sys_close", .init(.scalar))
        case 169: .init(169, "bpf_timer_init", .init(.timer, .map, .scalar), gplOnly: true, mapTypes: timerMaps)
        case 170: .init(170, "bpf_timer_set_callback", .init(.timer, .function), gplOnly: true)
        case 171: .init(171, "bpf_timer_start", .init(.timer, .scalar, .scalar), gplOnly: true)
        case 172: .init(172, "bpf_timer_cancel", .init(.timer), gplOnly: true)
        // kprobe.multi programs' proto is the same but not GPL-only.
        case 173: .init(173, "bpf_get_func_ip", .init(.context), gplOnly: true)
        case 174: .init(174, "bpf_get_attach_cookie", .init(.context))
        case 175: .init(175, "bpf_task_pt_regs", .init(.btfID("task_struct")), .btfID("pt_regs"), gplOnly: true)
        case 176: .init(176, "bpf_get_branch_snapshot", .init(.memoryOutput, .sizeOrZero), gplOnly: true)
        case 177: .init(177, "bpf_trace_vprintk", .init(.memory, .size, .memoryOrNull, .sizeOrZero), gplOnly: true)
        case 178: .init(178, "bpf_skc_to_unix_sock", .init(.btfSocketCommon), .btfIDOrNull("unix_sock"))
        // The name is only read (the kernel's plain ARG_PTR_TO_MEM, checked as a read since 6.12).
        case 179: .init(179, "bpf_kallsyms_lookup_name", .init(.memory, .sizeOrZero, .scalar, .fixedOutput(8)))
        case 180: .init(180, "bpf_find_vma", .init(.btfID("task_struct"), .scalar, .function, .stackOrNull, .scalar))
        case 181: .init(181, "bpf_loop", .init(.scalar, .function, .stackOrNull, .scalar), .integer(-4095, 1 << 23))
        case 182: .init(182, "bpf_strncmp", .init(.memory, .size, .constantString), .unknown)
        case 183: .init(183, "bpf_get_func_arg", .init(.context, .scalar, .fixedOutput(8)))
        case 184: .init(184, "bpf_get_func_ret", .init(.context, .fixedOutput(8)))
        case 185: .init(185, "bpf_get_func_arg_cnt", .init(.context))
        case 186: .init(186, "bpf_get_retval", .empty)
        case 187: .init(187, "bpf_set_retval", .init(.scalar))
        // Tracing programs pass a struct xdp_buff pointer instead of the context.
        case 188: .init(188, "bpf_xdp_get_buff_len", .init(.context))
        case 189: .init(189, "bpf_xdp_load_bytes", .init(.context, .scalar, .memoryOutput, .size))
        case 190: .init(190, "bpf_xdp_store_bytes", .init(.context, .scalar, .memory, .size))
        case 191: .init(191, "bpf_copy_from_user_task", .init(.memoryOutput, .sizeOrZero, .anything, .btfID("task_struct"), .scalar), gplOnly: true)
        case 192: .init(192, "bpf_skb_set_tstamp", .init(.context, .scalar, .scalar))
        case 193: .init(193, "bpf_ima_file_hash", .init(.btfID("file"), .memoryOutput, .size))
        // The pointer's type is the map value's kptr field's: the name is left empty.
        case 194: .init(194, "bpf_kptr_xchg", .init(.kptr, .btfIDOrNull("")), .btfIDOrNull(""), acquires: true)
        case 195: .init(195, "bpf_map_lookup_percpu_elem", .init(.map, .mapKey, .scalar), .mapValueOrNull, mapTypes: perCPUMaps)
        case 196: .init(196, "bpf_skc_to_mptcp_sock", .init(.socketCommon), .btfIDOrNull("mptcp_sock"))
        case 197: .init(197, "bpf_dynptr_from_mem", .init(.memoryOutput, .sizeOrZero, .scalar, .dynptrOutput))
        case 198: .init(198, "bpf_ringbuf_reserve_dynptr", .init(.map, .scalar, .scalar, .dynptrOutput), mapTypes: MapTypeSet(.ringBuffer))
        case 199: .init(199, "bpf_ringbuf_submit_dynptr", .init(.releasedDynptr, .scalar), .void)
        case 200: .init(200, "bpf_ringbuf_discard_dynptr", .init(.releasedDynptr, .scalar), .void)
        case 201: .init(201, "bpf_dynptr_read", .init(.memoryOutput, .sizeOrZero, .dynptr, .scalar, .scalar))
        case 202: .init(202, "bpf_dynptr_write", .init(.dynptr, .scalar, .memory, .sizeOrZero, .scalar))
        case 203: .init(203, "bpf_dynptr_data", .init(.dynptr, .scalar, .constantSize), .sizedMemoryOrNull, returnSizeArgument: 3)
        // The kernel checks the IP header as fixed-size memory (struct iphdr); the TCP header is only read.
        case 204: .init(204, "bpf_tcp_raw_gen_syncookie_ipv4", .init(.pointer, .memory, .sizeOrZero), gplOnly: true)
        // The kernel checks the IP header as fixed-size memory (struct ipv6hdr); the TCP header is only read.
        case 205: .init(205, "bpf_tcp_raw_gen_syncookie_ipv6", .init(.pointer, .memory, .sizeOrZero), gplOnly: true)
        // Fixed-size IP and TCP headers (struct iphdr, struct tcphdr), read.
        case 206: .init(206, "bpf_tcp_raw_check_syncookie_ipv4", .init(.pointer, .pointer), gplOnly: true)
        // Fixed-size IP and TCP headers (struct ipv6hdr, struct tcphdr), read.
        case 207: .init(207, "bpf_tcp_raw_check_syncookie_ipv6", .init(.pointer, .pointer), gplOnly: true)
        case 208: .init(208, "bpf_ktime_get_tai_ns", .empty)
        case 209: .init(209, "bpf_user_ringbuf_drain", .init(.map, .function, .stackOrNull, .scalar), mapTypes: MapTypeSet(.userRingBuffer))
        case 210: .init(210, "bpf_cgrp_storage_get", .init(.map, .btfIDOrNull("cgroup"), .mapValueOrNull, .scalar), .mapValueOrNull, mapTypes: MapTypeSet(.cgrpStorage))
        case 211: .init(211, "bpf_cgrp_storage_delete", .init(.map, .btfIDOrNull("cgroup")), mapTypes: MapTypeSet(.cgrpStorage))
        default: nil
        }
    }

    // MARK: Program types

    /// Types that may call every helper: `unspecified` (raw and conformance programs, tied to no kernel
    /// type) and `ext` (an freplace program gets the helpers of the program it replaces, of any type).
    static let anyHelperTypes: ProgramTypeSet = ProgramTypeSet(.unspecified, .ext)
    /// Every type: the kernel's base helpers, which all program types get.
    static let base: ProgramTypeSet = .all
    /// Types whose helpers come from the kernel's tracing set (`bpf_tracing_func_proto`).
    static let tracingTypes: ProgramTypeSet = ProgramTypeSet(.kprobe, .tracepoint, .perfEvent, .rawTracepoint, .rawTracepointWritable, .tracing, .lsm, .syscall)
    /// Tracing types that get the BTF-typed helpers (`tracing_prog_func_proto`).
    static let btfTracingTypes: ProgramTypeSet = ProgramTypeSet(.tracing, .lsm, .syscall)
    /// Traffic control classifiers and actions.
    static let tcTypes: ProgramTypeSet = ProgramTypeSet(.schedCls, .schedAct)
    /// Lightweight tunnel programs.
    static let lwtTypes: ProgramTypeSet = ProgramTypeSet(.lwtIn, .lwtOut, .lwtXmit, .lwtSeg6local)
    /// Types whose context is a `struct __sk_buff` with packet data the helpers read.
    static let skbTypes: ProgramTypeSet = ProgramTypeSet(.socketFilter, .schedCls, .schedAct, .cgroupSkb, .lwtIn, .lwtOut, .lwtXmit, .skSkb)
        .union(ProgramTypeSet(.lwtSeg6local, .skReuseport, .flowDissector))
    /// Networking types that get the kernel's socket base helpers (`bpf_sk_base_func_proto`).
    static let socketTypes: ProgramTypeSet = ProgramTypeSet(.socketFilter, .schedCls, .schedAct, .xdp, .cgroupSkb, .lwtIn, .lwtOut, .lwtXmit)
        .union(ProgramTypeSet(.sockOps, .skSkb, .skMsg, .cgroupSockAddr, .lwtSeg6local, .flowDissector, .skLookup))
    /// Programs attached to cgroups.
    static let cgroupTypes: ProgramTypeSet = ProgramTypeSet(.cgroupSkb, .cgroupSock, .sockOps, .cgroupDevice, .cgroupSockAddr, .cgroupSysctl, .cgroupSockopt)

    /// The program types that may call helper `id` on Linux 6.18.
    ///
    /// Probed on a 6.18 kernel (loading `call id; exit` as each type and attach type and reading the
    /// verifier's answer) for every type but these, which come from the kernel's source:
    /// - `lsm`: fentry-style programs could not be loaded there; the kernel gives LSM programs the tracing
    ///   set of `tracing` programs (less the iterator-only `bpf_seq_*`) plus its own storage, IMA and
    ///   `bpf_bprm_opts_set` helpers, and `lsm_cgroup` ones the cgroup helpers and socket options.
    /// - `tracing`: probed as tp_btf and iterator programs; fentry/fexit/fmod_ret add the trampoline's
    ///   `bpf_get_func_arg`, `bpf_get_func_ret` and `bpf_get_func_arg_cnt`.
    /// - `lirc_mode2` (not built into that kernel): the base helpers and the `bpf_rc_*` ones.
    /// - `unspecified` and `ext`: every helper (see ``anyHelperTypes``).
    /// - Helpers that kernel's configuration or lockdown hid: `bpf_probe_write_user`, `bpf_override_return`,
    ///   `bpf_lwt_seg6_*`.
    static func availability(_ id: Int32) -> ProgramTypeSet {
        guard id >= 1, id <= lastID else { return [] }
        return anyHelperTypes.union(callers(id))
    }

    /// The kernel program types whose helper sets hold `id` (``anyHelperTypes`` aside).
    private static func callers(_ id: Int32) -> ProgramTypeSet {
        switch id {
        case 1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 35, 37, 42, 55, 80, 87, 88, 89, 93, 94, 105, 106, 109, 112, 113,
             114, 115, 117, 118, 120, 123, 125, 130, 131, 132, 133, 134, 141, 148, 149, 153, 154, 156, 157, 158, 164, 165,
             169, 170, 171, 172, 175, 176, 177, 180, 181, 182, 191, 194, 195, 197, 198, 199, 200, 201, 202, 203, 208, 209,
             210, 211:
            base
        // Only in the tracing set (bpf_probe_write_user: hidden by that kernel's lockdown, from the source).
        case 4, 27, 36, 45, 67, 173: tracingTypes
        case 174: tracingTypes.subtracting(ProgramTypeSet(.syscall))
        case 183, 184, 185: ProgramTypeSet(.tracing, .lsm)
        case 111, 121, 147, 162: btfTracingTypes
        case 188: btfTracingTypes.union(ProgramTypeSet(.xdp))
        case 126, 127, 150: ProgramTypeSet(.tracing)
        case 56, 119: ProgramTypeSet(.perfEvent)
        case 58: ProgramTypeSet(.kprobe)  // from the source: that kernel was built without CONFIG_BPF_KPROBE_OVERRIDE
        case 25: base.subtracting(ProgramTypeSet(.lircMode2, .skReuseport, .flowDissector, .structOps, .netfilter))
        case 160: socketTypes.union(ProgramTypeSet(.cgroupSock, .skReuseport, .cgroupSysctl, .structOps))
        case 136, 137, 138, 139, 140, 178, 196: socketTypes.union(btfTracingTypes)
        // Packet and socket-buffer helpers.
        case 26: skbTypes
        case 9, 38, 43: tcTypes.union(ProgramTypeSet(.lwtXmit, .skSkb))
        case 10, 11, 13, 20, 21, 29, 30, 40, 41, 135: tcTypes.union(ProgramTypeSet(.lwtXmit))
        case 18, 19, 31, 32, 48, 66, 151, 152, 155, 192: tcTypes
        case 23: tcTypes.union(ProgramTypeSet(.xdp, .lwtXmit))
        case 24, 33, 34: tcTypes.union(lwtTypes)
        case 28: tcTypes.union(lwtTypes).union(ProgramTypeSet(.xdp))
        case 39: tcTypes.union(lwtTypes).union(ProgramTypeSet(.skSkb))
        case 47: tcTypes.union(ProgramTypeSet(.socketFilter, .cgroupSkb, .skSkb))
        case 50: tcTypes.union(ProgramTypeSet(.skSkb))
        case 68: tcTypes.union(ProgramTypeSet(.socketFilter, .cgroupSkb, .skReuseport))
        case 69, 100, 110, 163, 204, 205, 206, 207: tcTypes.union(ProgramTypeSet(.xdp))
        case 79, 83, 95, 97, 98: tcTypes.union(ProgramTypeSet(.cgroupSkb))
        case 96: tcTypes.union(ProgramTypeSet(.cgroupSkb, .sockOps, .cgroupSockopt))
        case 73: ProgramTypeSet(.lwtIn, .lwtXmit)
        case 74, 75, 76: ProgramTypeSet(.lwtSeg6local)  // from the source: that kernel was built without CONFIG_IPV6_SEG6_BPF
        case 44, 51, 54, 65, 189, 190: ProgramTypeSet(.xdp)
        // Sockets.
        case 46: tcTypes.union(btfTracingTypes).union(ProgramTypeSet(.socketFilter, .cgroupSkb, .cgroupSock, .sockOps, .skSkb, .cgroupSockAddr, .skReuseport))
        case 49, 57: ProgramTypeSet(.sockOps, .cgroupSockAddr, .cgroupSockopt, .tracing, .structOps, .lsm)
        case 84, 85, 99: tcTypes.union(ProgramTypeSet(.xdp, .cgroupSkb, .skSkb, .cgroupSockAddr))
        case 86: tcTypes.union(ProgramTypeSet(.xdp, .cgroupSkb, .skSkb, .cgroupSockAddr, .skLookup))
        case 107: tcTypes.union(btfTracingTypes).union(ProgramTypeSet(.cgroupSkb, .cgroupSock, .sockOps, .skMsg, .cgroupSockAddr, .cgroupSockopt, .structOps))
        case 108: tcTypes.union(btfTracingTypes).union(ProgramTypeSet(.cgroupSkb, .sockOps, .skMsg, .cgroupSockAddr, .cgroupSockopt, .structOps))
        case 122: tcTypes.union(ProgramTypeSet(.socketFilter, .cgroupSkb, .cgroupSock, .sockOps, .skMsg, .cgroupSockAddr, .cgroupSockopt))
        case 124: tcTypes.union(ProgramTypeSet(.skLookup))
        case 52, 72: ProgramTypeSet(.skSkb)
        case 53, 59, 70, 142, 143, 144: ProgramTypeSet(.sockOps)
        case 60, 61, 62, 63, 71, 90, 91: ProgramTypeSet(.skMsg)
        case 82: ProgramTypeSet(.skReuseport)
        case 116: ProgramTypeSet(.structOps)
        // Cgroups.
        case 81: cgroupTypes.union(ProgramTypeSet(.lsm))
        case 186, 187: cgroupTypes.subtracting(ProgramTypeSet(.cgroupSkb, .sockOps)).union(ProgramTypeSet(.lsm))
        case 128, 129: ProgramTypeSet(.cgroupSkb)
        case 64: ProgramTypeSet(.cgroupSockAddr)
        case 101, 102, 103, 104: ProgramTypeSet(.cgroupSysctl)
        // The rest: one type each.
        case 77, 78, 92: ProgramTypeSet(.lircMode2)  // from the source (bpf-lirc.c)
        case 145, 146, 159, 161, 193: ProgramTypeSet(.lsm)  // from the source (bpf_lsm.c)
        case 166, 167, 168, 179: ProgramTypeSet(.syscall)
        default: []
        }
    }
}
