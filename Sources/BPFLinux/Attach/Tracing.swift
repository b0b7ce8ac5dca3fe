import BPFObject
import CBPFLinuxSupport
import Foundation

/// The BTF ids of attach targets in the running kernel's BTF (/sys/kernel/btf/vmlinux).
///
/// ```swift
/// let id = try KernelBTF.attachID(for: .traceFentry, target: "do_unlinkat")
/// let program = try KernelProgram.load(type: .tracing, instructions: code, expectedAttachType: .traceFentry,
///                                      attachBTFID: id, name: "on_unlink")
/// let link = try program.attachTracing()
/// ```
extension KernelBTF {
    /// The BTF id of the function `name` (a `FUNC`).
    public static func functionID(named name: String) throws(BPFError) -> UInt32 {
        guard let id = try vmlinux.typeID(named: name, kind: .function) else {
            throw BPFError(command: nil, errno: .ENOENT, message: "no function '\(name)' in \(vmlinuxPath) (not in vmlinux, or in a module)")
        }
        return UInt32(id)
    }

    /// The BTF id a program of `attachType` needs at load for `target`: the function of
    /// fentry/fexit/fmod_ret, `bpf_lsm_HOOK` of lsm, the `btf_trace_NAME` typedef of tp_btf,
    /// `bpf_iter_NAME` of iterators.
    public static func attachID(for attachType: AttachType, target: String) throws(BPFError) -> UInt32 {
        switch attachType {
        case .traceFentry, .traceFexit, .modifyReturn:
            return try functionID(named: target)
        case .lsmMac, .lsmCgroup:
            return try functionID(named: "bpf_lsm_" + target)
        case .traceIter:
            return try functionID(named: "bpf_iter_" + target)
        case .traceRawTp:
            guard let id = try vmlinux.typeID(named: "btf_trace_" + target, kind: .typedef) else {
                throw BPFError(command: nil, errno: .ENOENT, message: "no BTF tracepoint 'btf_trace_\(target)' in \(vmlinuxPath)")
            }
            return UInt32(id)
        default:
            throw BPFError.invalidArgument("attach type \(attachType) takes no BTF target")
        }
    }
}

extension KernelProgram {
    /// Attaches a BTF-targeted program — fentry, fexit, fmod_ret, tp_btf or lsm — to the hook its
    /// `attachBTFID` named at load (`BPF_RAW_TRACEPOINT_OPEN` without a name).
    ///
    /// ```swift
    /// let link = try lsmProgram.attachTracing(description: "lsm socket_create")
    /// ```
    public func attachTracing(description: String? = nil, cookie: UInt64 = 0) throws(BPFError) -> KernelLink {
        try rawTracepointOpen(name: nil, cookie: cookie, target: description ?? "\(type) program \(name)")
    }

    /// Attaches an LSM program to the hook it was loaded for (see `KernelBTF.attachID(for:target:)`).
    /// The kernel must run the BPF LSM (`lsm=...,bpf` on the command line).
    public func attachLSM(hook: String) throws(BPFError) -> KernelLink {
        do { return try attachTracing(description: "lsm \(hook)") } catch {
            var failure = error
            if error.errno == .EINVAL || error.errno == .EOPNOTSUPP {
                failure.message += " (is the BPF LSM enabled? check /sys/kernel/security/lsm for 'bpf')"
            }
            throw failure
        }
    }
}
