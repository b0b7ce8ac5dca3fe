import BPFObject
import CBPFLinuxSupport

/// A network interface by index, found by name.
///
/// ```swift
/// let lo = try NetworkInterface(named: "lo")
/// print(lo.index)   // 1
/// ```
public struct NetworkInterface: Sendable, Hashable, CustomStringConvertible {
    public var index: UInt32
    public var name: String

    /// The interface called `name` (if_nametoindex).
    public init(named name: String) throws(BPFError) {
        let index = name.withCString { cbpf_if_nametoindex($0) }
        guard index != 0 else {
            throw BPFError(command: nil, errno: .ENODEV, message: "no network interface '\(name)' (in this network namespace)")
        }
        self.index = index
        self.name = name
    }

    /// The interface with index `index` (its name read back with if_indextoname).
    public init(index: UInt32) throws(BPFError) {
        var buffer = [CChar](repeating: 0, count: 17)
        let result = buffer.withUnsafeMutableBufferPointer { cbpf_if_indextoname(index, $0.baseAddress) }
        guard result == 0 else { throw BPFError(command: nil, errno: Errno(rawValue: -result), message: "no network interface with index \(index)") }
        self.index = index
        self.name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// An interface known by both (as a listing gives them).
    public init(index: UInt32, name: String) {
        self.index = index
        self.name = name
    }

    public var description: String { "\(name) (ifindex \(index))" }
}

extension KernelProgram {
    /// `BPF_LINK_CREATE` on `targetFD` (an ifindex, cgroup fd, ... or 0) with `attachType`.
    func linkCreate(targetFD: UInt32, attachType: AttachType, flags: UInt32 = 0, target: String,
                    configure: (inout cbpf_link_create_attr) -> Void = { _ in }) throws(BPFError) -> KernelLink {
        var attr = cbpf_link_create_attr()
        attr.prog_fd = try fd.checked(.linkCreate)
        attr.target_fd = targetFD
        attr.attach_type = attachType.rawValue
        attr.flags = flags
        configure(&attr)
        do { return KernelLink(kind: .bpfLink, fd: try BPFSyscall.callReturningFD(.linkCreate, &attr), target: target) } catch {
            var failure = error
            switch error.errno {
            case .EINVAL: failure.message = "the kernel refused the attachment (program type/expected attach type, flags, or the target)"
            case .EEXIST, .EBUSY: failure.message = "something is already attached there in an exclusive mode"
            default: break
            }
            failure.message = "\(target): program \(name) (\(type)): " + failure.message
            throw failure
        }
    }
}
