/// Kernel ids of the timer helpers in ``TimerHelpers``.
extension KernelHelperID {
    public static let timerInit: Int32 = 169, timerSetCallback: Int32 = 170, timerStart: Int32 = 171, timerCancel: Int32 = 172
}

/// `bpf_timer_*` in the Swift runtime: a timer in a map value is initialized, given its callback,
/// armed and cancelled with the kernel's results, but never fires — the runtime has no event loop
/// to run the callback on. What a run returns is the kernel's (a timer armed by a test run fires
/// after the run there too); what the callback would do later does not happen.
///
/// The timer's state lives in its 16-byte `struct bpf_timer`, which the verifier keeps programs out
/// of: word 0 holds a mark and the state bits, word 1 the callback's handle.
enum TimerHelpers {
    static let einval = UInt64(bitPattern: -22), ebusy = UInt64(bitPattern: -16)
    static let mark: UInt64 = 0x5357_4254_0000_0000   // "SWBT": a runtime timer
    static let initialized: UInt64 = 1, hasCallback: UInt64 = 2, armed: UInt64 = 4

    /// The timer's two words, checked to be in the program's writable memory.
    static func timer(_ call: borrowing HelperCall) throws(HelperError) -> UnsafeMutablePointer<UInt64> {
        try call.memory(at: call.argument(1), size: 16, write: true).bindMemory(to: UInt64.self, capacity: 2)
    }

    static func state(_ t: UnsafeMutablePointer<UInt64>) -> UInt64? {
        t[0] & 0xffff_ffff_0000_0000 == mark ? t[0] & 0xffff : nil
    }

    static let all: [Helper] = [
        Helper(id: KernelHelperID.timerInit, name: "bpf_timer_init") { call in
            let t = try timer(call)
            // CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME only.
            guard [0, 1, 7].contains(call.argument(3)) else { return einval }
            guard state(t) == nil else { return ebusy }
            t[0] = mark | initialized
            t[1] = 0
            return 0
        },
        Helper(id: KernelHelperID.timerSetCallback, name: "bpf_timer_set_callback") { call in
            let t = try timer(call)
            guard let s = state(t) else { return einval }
            t[0] = mark | s | hasCallback
            t[1] = call.argument(2)
            return 0
        },
        Helper(id: KernelHelperID.timerStart, name: "bpf_timer_start") { call in
            let t = try timer(call)
            // BPF_F_TIMER_ABS, BPF_F_TIMER_CPU_PIN.
            guard call.argument(3) & ~UInt64(3) == 0, let s = state(t), s & hasCallback != 0 else { return einval }
            t[0] = mark | s | armed
            return 0
        },
        Helper(id: KernelHelperID.timerCancel, name: "bpf_timer_cancel") { call in
            let t = try timer(call)
            guard let s = state(t) else { return einval }
            // The kernel drops the callback too: a later start needs bpf_timer_set_callback again.
            t[0] = mark | initialized
            t[1] = 0
            // 1 when it was armed (hrtimer_cancel's "was active"): armed timers never fire here.
            return s & armed != 0 ? 1 : 0
        },
    ]
}
