/// What the kernel says about a kfunc beyond its BTF prototype: the flags of its `BTF_ID_FLAGS`
/// registration (acquire, release, may return NULL, trusted or RCU arguments...). The kernel's BTF
/// carries the prototype but not these, so they come from this table, which follows Linux 6.18's
/// generic (with allocated objects, lists and rbtrees), task, cgroup and cpumask kfunc sets. A kfunc
/// missing here is checked by its prototype alone (no references, arguments as the prototype types
/// them).
public struct KfuncFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Returns a referenced object the program must release (`KF_ACQUIRE`).
    public static let acquire = KfuncFlags(rawValue: 1 << 0)
    /// Releases the referenced object passed as its first argument (`KF_RELEASE`).
    public static let release = KfuncFlags(rawValue: 1 << 1)
    /// May return NULL (`KF_RET_NULL`).
    public static let returnsNull = KfuncFlags(rawValue: 1 << 2)
    /// Pointer arguments must be trusted or referenced (`KF_TRUSTED_ARGS`).
    public static let trustedArguments = KfuncFlags(rawValue: 1 << 3)
    /// Pointer arguments may also be RCU-protected (`KF_RCU`).
    public static let rcuArguments = KfuncFlags(rawValue: 1 << 4)
    /// May sleep: only sleepable programs call it (`KF_SLEEPABLE`).
    public static let sleepable = KfuncFlags(rawValue: 1 << 5)
    /// Destructive (`KF_DESTRUCTIVE`): needs CAP_SYS_BOOT.
    public static let destructive = KfuncFlags(rawValue: 1 << 6)
    /// Its result is RCU-protected (`KF_RCU_PROTECTED`).
    public static let rcuProtected = KfuncFlags(rawValue: 1 << 7)

    /// The flags of kfunc `name` on Linux 6.18, nil when the table does not know it.
    public static func of(_ name: String) -> KfuncFlags? {
        switch name {
        case "bpf_task_acquire", "bpf_cgroup_acquire", "bpf_cgroup_ancestor", "bpf_task_get_cgroup1":
            [.acquire, .rcuArguments, .returnsNull]
        case "bpf_task_from_pid", "bpf_task_from_vpid", "bpf_cgroup_from_id", "bpf_cpumask_create", "bpf_get_task_exe_file":
            [.acquire, .returnsNull]
        case "bpf_cpumask_acquire":
            [.acquire, .trustedArguments]
        case "bpf_task_release", "bpf_cgroup_release", "bpf_cpumask_release", "bpf_put_file",
             "bpf_kfunc_call_test_release", "bpf_kfunc_call_memb_release":
            [.release]
        case "bpf_task_under_cgroup", "bpf_cpumask_first", "bpf_cpumask_first_zero", "bpf_cpumask_first_and",
             "bpf_cpumask_set_cpu", "bpf_cpumask_clear_cpu", "bpf_cpumask_test_cpu", "bpf_cpumask_test_and_set_cpu",
             "bpf_cpumask_test_and_clear_cpu", "bpf_cpumask_setall", "bpf_cpumask_clear", "bpf_cpumask_and", "bpf_cpumask_or",
             "bpf_cpumask_xor", "bpf_cpumask_equal", "bpf_cpumask_intersects", "bpf_cpumask_subset", "bpf_cpumask_empty",
             "bpf_cpumask_full", "bpf_cpumask_copy", "bpf_cpumask_any_distribute", "bpf_cpumask_any_and_distribute",
             "bpf_cpumask_weight", "bpf_cpumask_populate":
            [.rcuArguments]
        case "bpf_path_d_path": [.trustedArguments]
        // Allocated objects, lists and rbtrees (checked by the verifier's GraphObjects.swift).
        case "bpf_obj_new_impl", "bpf_percpu_obj_new_impl", "bpf_list_pop_front", "bpf_list_pop_back", "bpf_rbtree_remove":
            [.acquire, .returnsNull]
        case "bpf_refcount_acquire_impl": [.acquire, .returnsNull, .rcuArguments]
        case "bpf_obj_drop_impl", "bpf_percpu_obj_drop_impl": [.release]
        case "bpf_list_front", "bpf_list_back", "bpf_rbtree_first", "bpf_rbtree_root", "bpf_rbtree_left", "bpf_rbtree_right":
            [.returnsNull]
        case "bpf_list_push_front_impl", "bpf_list_push_back_impl", "bpf_rbtree_add_impl": []
        case "crash_kexec": [.destructive]
        case "bpf_copy_from_user_str", "bpf_copy_from_user_task_str", "bpf_get_file_xattr", "bpf_get_dentry_xattr":
            [.sleepable]
        case "bpf_session_cookie", "bpf_session_is_return", "bpf_get_cpu_time_counter", "bpf_cpu_time_counter_to_ns",
             "bpf_task_get_cgroup", "bpf_send_signal_task", "bpf_probe_read_kernel_dynptr", "bpf_cast_to_kern_ctx",
             "bpf_rdonly_cast", "bpf_get_kmem_cache":
            []
        // Conntrack (net/netfilter/nf_conntrack_bpf.c): an entry looked up or inserted is a
        // reference, an allocated one (nf_conn___init) until it is inserted or released.
        case "bpf_skb_ct_lookup", "bpf_xdp_ct_lookup", "bpf_skb_ct_alloc", "bpf_xdp_ct_alloc": [.acquire, .returnsNull]
        case "bpf_ct_insert_entry": [.acquire, .returnsNull, .release]
        case "bpf_ct_release": [.release]
        case "bpf_ct_set_timeout", "bpf_ct_change_timeout", "bpf_ct_set_status", "bpf_ct_change_status", "bpf_ct_set_nat_info":
            [.trustedArguments]
        // Crypto contexts (kernel/bpf/crypto.c).
        case "bpf_crypto_ctx_create": [.acquire, .returnsNull, .sleepable]
        case "bpf_crypto_ctx_acquire": [.acquire, .rcuArguments, .returnsNull]
        case "bpf_crypto_ctx_release": [.release]
        case "bpf_crypto_encrypt", "bpf_crypto_decrypt": [.rcuArguments]
        // Socket destruction from a socket iterator (net/core/filter.c).
        case "bpf_sock_destroy": [.trustedArguments]
        // Arena pages: any program type, sleepable ones (as Linux 6.12 declares them; later kernels
        // also allow some non-sleepable calls); results are arena addresses (numbers).
        case "bpf_arena_alloc_pages", "bpf_arena_free_pages", "bpf_arena_reserve_pages": [.sleepable]
        default: nil
        }
    }

    /// The parameter names of a kfunc as Linux 6.18 declares it, where the kernel's suffixes carry
    /// meaning (`__uninit`, `__szk`, `__opt`...): an object's own declaration of a kfunc has a
    /// prototype without names, so a program typed by its object's BTF (in the Swift runtime, which
    /// has no kernel BTF) gets them from here. nil for kfuncs this table does not know.
    public static func parameterNames(of name: String) -> [String]? {
        switch name {
        case "bpf_iter_num_new": ["it", "start", "end"]
        case "bpf_iter_num_next", "bpf_iter_num_destroy": ["it"]
        case "bpf_dynptr_size", "bpf_dynptr_is_null", "bpf_dynptr_is_rdonly": ["p"]
        case "bpf_dynptr_adjust": ["p", "start", "end"]
        case "bpf_dynptr_clone": ["p", "clone__uninit"]
        case "bpf_dynptr_slice", "bpf_dynptr_slice_rdwr": ["p", "offset", "buffer__opt", "buffer__szk"]
        case "bpf_dynptr_from_skb": ["s", "flags", "ptr__uninit"]
        case "bpf_dynptr_from_xdp": ["x", "flags", "ptr__uninit"]
        case "bpf_rcu_read_lock", "bpf_rcu_read_unlock", "bpf_preempt_disable", "bpf_preempt_enable": []
        case "bpf_throw": ["cookie"]
        case "bpf_obj_new_impl", "bpf_percpu_obj_new_impl": ["local_type_id__k", "meta__ign"]
        case "bpf_obj_drop_impl", "bpf_percpu_obj_drop_impl": ["p__alloc", "meta__ign"]
        case "bpf_refcount_acquire_impl": ["p__refcounted_kptr", "meta__ign"]
        case "bpf_list_push_front_impl", "bpf_list_push_back_impl": ["head", "node", "meta__ign", "off"]
        case "bpf_list_pop_front", "bpf_list_pop_back", "bpf_list_front", "bpf_list_back": ["head"]
        case "bpf_rbtree_add_impl": ["root", "node", "less", "meta__ign", "off"]
        case "bpf_rbtree_remove", "bpf_rbtree_left", "bpf_rbtree_right": ["root", "node"]
        case "bpf_rbtree_first", "bpf_rbtree_root": ["root"]
        case "bpf_arena_alloc_pages": ["p__map", "addr__ign", "page_cnt", "node_id", "flags"]
        case "bpf_arena_free_pages", "bpf_arena_reserve_pages": ["p__map", "ptr__ign", "page_cnt"]
        case "bpf_cast_to_kern_ctx": ["obj"]
        case "bpf_rdonly_cast": ["obj__ign", "btf_id__k"]
        case "bpf_crypto_ctx_create": ["params", "params__sz", "err"]
        case "bpf_crypto_ctx_acquire", "bpf_crypto_ctx_release": ["ctx"]
        case "bpf_crypto_encrypt", "bpf_crypto_decrypt": ["ctx", "src", "dst", "siv__nullable"]
        case "bpf_xdp_ct_lookup": ["xdp_ctx", "bpf_tuple", "tuple__sz", "opts", "opts__sz"]
        case "bpf_skb_ct_lookup": ["skb_ctx", "bpf_tuple", "tuple__sz", "opts", "opts__sz"]
        case "bpf_ct_release": ["nfct"]
        case "bpf_sk_assign_tcp_reqsk": ["s", "sk", "attrs", "attrs__sz"]
        case "bpf_kfunc_call_test_release": ["p"]
        default: nil
        }
    }

    /// kfunc families whose objects the verifier does not model yet (IRQ sections, timers and work
    /// queues, device metadata...): a program calling one is undecided, with the family named.
    public static func unmodelledFamily(_ name: String) -> String? {
        let families: [(String, String)] = [
            ("bpf_local_irq_", "IRQ sections"), ("bpf_res_spin_", "resilient locks"),
            ("bpf_wq_", "work queues"), ("bpf_timer_", "timers"),
            ("bpf_xdp_metadata_", "device metadata"),
            ("bpf_stream_", "streams"), ("scx_bpf_", "sched_ext"),
        ]
        return families.first { name.hasPrefix($0.0) }?.1
    }
}
