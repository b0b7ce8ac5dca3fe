import BPFCore
import BPFObject
import Synchronization

extension KernelFeatures {
    /// A kind of attachment whose support a program-type probe cannot tell: the kernel may load the
    /// program and still refuse to attach it (lockdown, no BPF LSM, no kprobe PMU, no tcx), or refuse
    /// to load it without a target. The probe does it for real, once: the smallest program of the
    /// kind, attached to a hook every kernel has, detached at once.
    ///
    /// ```swift
    /// if case .unsupported(let why) = KernelFeatures.attachment(.fentry) { print("no fentry here:", why) }
    /// ```
    public enum Attachment: String, CaseIterable, Sendable, CustomStringConvertible {
        /// A kprobe through the kprobe PMU, on `bpf_fentry_test1`.
        case kprobe
        /// The uprobe PMU (a uprobe needs a binary to attach to; this probe only asks whether the
        /// kernel has the PMU).
        case uprobe
        /// fentry on `bpf_fentry_test1` (a function the kernel keeps for BPF tests).
        case fentry
        /// fexit on `bpf_fentry_test1`.
        case fexit
        /// A BPF LSM program on the `socket_create` hook (it allows everything).
        case lsm
        /// tcx ingress on the loopback interface (the program returns TCX_NEXT).
        case tcx
        /// A perf_event program on a sampling software CPU clock, on one CPU.
        case perfEventSampling

        public var description: String {
            switch self {
            case .kprobe: "kprobe"
            case .uprobe: "uprobe"
            case .fentry: "fentry"
            case .fexit: "fexit"
            case .lsm: "BPF LSM"
            case .tcx: "tcx"
            case .perfEventSampling: "perf_event sampling"
            }
        }
    }

    private static let attachments = Mutex<[Attachment: Support]>([:])

    /// The function the fentry, fexit and kprobe probes attach to: in every kernel with
    /// BPF_PROG_TEST_RUN, for exactly this use.
    static let probeFunction = "bpf_fentry_test1"

    /// Whether the kernel attaches programs of `kind` (probed once per process, as root or with
    /// CAP_BPF and CAP_PERFMON). `.unsupported` carries the kernel's error; `.unknown` says why the
    /// probe could not try (no BTF for the target).
    public static func attachment(_ kind: Attachment) -> Support {
        if let known = attachments.withLock({ $0[kind] }) { return known }
        let answer = probeAttachment(kind)
        attachments.withLock { $0[kind] = answer }
        return answer
    }

    static func probeAttachment(_ kind: Attachment) -> Support {
        let code = [returnZero, exitInstruction]
        do {
            switch kind {
            case .kprobe:
                let program = try KernelProgram.load(type: .kprobe, instructions: code, name: "swiftbpf_probe")
                try program.attachKprobe(function: probeFunction).close()
            case .uprobe:
                _ = try PerfEvent.dynamicPMUType("uprobe")
            case .fentry, .fexit:
                let attachType: AttachType = kind == .fentry ? .traceFentry : .traceFexit
                let id: UInt32
                do { id = try KernelBTF.attachID(for: attachType, target: probeFunction) } catch {
                    return .unknown("no BTF id for \(probeFunction): \(error)")
                }
                let program = try KernelProgram.load(type: .tracing, instructions: code, expectedAttachType: attachType,
                                                     attachBTFID: id, name: "swiftbpf_probe")
                try program.attachTracing().close()
            case .lsm:
                let id: UInt32
                do { id = try KernelBTF.attachID(for: .lsmMac, target: "socket_create") } catch {
                    return .unknown("no BTF id for the socket_create hook: \(error)")
                }
                let program = try KernelProgram.load(type: .lsm, instructions: code, expectedAttachType: .lsmMac,
                                                     attachBTFID: id, name: "swiftbpf_probe")
                try program.attachLSM(hook: "socket_create").close()
            case .tcx:
                let next = [Instruction(opcode: 0xb7, imm: -1), exitInstruction]   // r0 = TCX_NEXT
                let program = try KernelProgram.load(type: .schedCls, instructions: next, expectedAttachType: .tcxIngress,
                                                     name: "swiftbpf_probe")
                try program.attachTCX(to: NetworkInterface(named: "lo"), direction: .ingress).close()
            case .perfEventSampling:
                let program = try KernelProgram.load(type: .perfEvent, instructions: code, name: "swiftbpf_probe")
                for link in try program.attachPerfEvent(frequency: 1, cpus: [0]) { link.close() }
            }
            return .supported
        } catch {
            return .unsupported(error.description)
        }
    }
}
