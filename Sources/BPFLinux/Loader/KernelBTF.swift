import BPFObject
import CBPFLinuxSupport
import Foundation
import Synchronization

/// BTF in the kernel, loaded with `BPF_BTF_LOAD` (or opened by id) and owned through its fd. Maps
/// and programs of an object refer to it for their key/value types, function and line info.
///
/// ```swift
/// var encoder = BTFEncoder(types: object.btf!.types)
/// let btf = try KernelBTF.load(encoder.encoded())
/// print(try btf.info().id)
/// ```
public final class KernelBTF: Sendable {
    /// The BTF object's fd.
    public let fd: BPFFileDescriptor

    /// Wraps an fd already open on a BTF object.
    public init(fd: BPFFileDescriptor) { self.fd = fd }

    /// `BPF_BTF_LOAD`: uploads encoded BTF. On failure it loads again with the log so the error
    /// carries the kernel's reason (in `verifierLog`).
    public static func load(_ bytes: [UInt8], logSize: Int = 256 * 1024) throws(BPFError) -> KernelBTF {
        var level: UInt32 = 0
        while true {
            var log = [UInt8](repeating: 0, count: level > 0 ? logSize : 0)
            var attr = cbpf_btf_load_attr()
            attr.btf_size = UInt32(bytes.count)
            let result: Result<Int32, BPFError> = bytes.withUnsafeBytes { raw in
                log.withUnsafeMutableBytes { logBuffer in
                    attr.btf = address(raw.baseAddress)
                    if level > 0 {
                        attr.btf_log_buf = address(logBuffer.baseAddress)
                        attr.btf_log_size = UInt32(logBuffer.count)
                        attr.btf_log_level = level
                    }
                    return Result { () throws(BPFError) in try BPFSyscall.call(.btfLoad, &attr) }
                }
            }
            switch result {
            case .success(let fd):
                return KernelBTF(fd: BPFFileDescriptor(adopting: fd))
            case .failure(let error):
                if level == 0, error.errno != .EPERM, error.errno != .ENOSYS {
                    level = 1
                    continue
                }
                var failure = error
                let text = level > 0 ? KernelProgram.logText(log) : nil
                failure.verifierLog = text
                failure.message = "BTF of \(bytes.count) bytes: \(failure.message)"
                if let text, let summary = KernelProgram.verifierSummary(text) { failure.message += ": \(summary)" }
                throw failure
            }
        }
    }

    /// What `BPF_OBJ_GET_INFO_BY_FD` says about a BTF object.
    public struct Info: Sendable, Hashable {
        public var id: UInt32
        /// The size of its raw BTF.
        public var size: Int
        /// The name (`vmlinux`, a module name, or empty for a program's BTF).
        public var name: String
        /// Whether it is the kernel's or a module's BTF.
        public var isKernel: Bool
    }

    /// `BPF_OBJ_GET_INFO_BY_FD` for this BTF object.
    public func info() throws(BPFError) -> Info {
        var raw = cbpf_btf_info()
        var name = [UInt8](repeating: 0, count: 64)
        let result = name.withUnsafeMutableBytes { buffer in
            raw.name = address(buffer.baseAddress)
            raw.name_len = UInt32(buffer.count)
            return capture { () throws(BPFError) in try KernelObjects.info(fd: fd, &raw) }
        }
        try result.get()
        return Info(id: raw.id, size: Int(raw.btf_size), name: KernelProgram.logText(name), isKernel: raw.kernel_btf != 0)
    }

    /// The raw BTF the kernel holds (`BPF_OBJ_GET_INFO_BY_FD` with a buffer).
    public func bytes() throws(BPFError) -> [UInt8] {
        let size = try info().size
        var raw = cbpf_btf_info()
        var data = [UInt8](repeating: 0, count: size)
        let result = data.withUnsafeMutableBytes { buffer in
            raw.btf = address(buffer.baseAddress)
            raw.btf_size = UInt32(buffer.count)
            return capture { () throws(BPFError) in try KernelObjects.info(fd: fd, &raw) }
        }
        try result.get()
        return data
    }

    /// Opens the BTF object with kernel id `id` (`BPF_BTF_GET_FD_BY_ID`).
    public static func open(id: UInt32) throws(BPFError) -> KernelBTF {
        KernelBTF(fd: try KernelObjects.fd(.btfGetFDByID, id: id))
    }

    /// The ids of every BTF object in the kernel (`BPF_BTF_GET_NEXT_ID`), ascending.
    public static func ids() throws(BPFError) -> [UInt32] { try KernelObjects.btfIDs() }

    /// Closes the fd now.
    public func close() { fd.close() }

    /// A kernel module's BTF that declares `name` as `kind` (a kfunc, a ksym), searched as libbpf
    /// does: every kernel BTF object but vmlinux, parsed as split BTF on the kernel's. Returns the
    /// module's BTF object (open), its types (vmlinux's and the module's) and the id of `name`; nil
    /// when no module declares it. Each module's types are parsed once per process.
    public static func module(declaring name: String, kind: BTFKind) throws(BPFError) -> (btf: KernelBTF, types: BTF, id: Int)? {
        let base = try vmlinux()
        for id in try ids() {
            guard let btf = try? open(id: id), let info = try? btf.info(), info.isKernel, info.name != "vmlinux" else { continue }
            let types: BTF
            if let cached = moduleTypes.withLock({ $0[info.name] }) {
                types = cached
            } else {
                do { types = try BTF(splitBytes: try btf.bytes(), base: base) } catch let error as BPFError {
                    throw error
                } catch {
                    throw BPFError.invalidArgument("module BTF '\(info.name)' (id \(id)): \(error)")
                }
                moduleTypes.withLock { $0[info.name] = types }
            }
            if let found = types.typeID(named: name, kind: kind), found >= base.types.count {
                return (btf, types, found)
            }
        }
        return nil
    }

    private static let moduleTypes = Mutex<[String: BTF]>([:])

    /// The running kernel's BTF (`/sys/kernel/btf/vmlinux`), read and parsed once per process.
    public static func vmlinux() throws(BPFError) -> BTF { try vmlinuxResult.get() }

    /// Where the kernel's BTF is read from.
    public static let vmlinuxPath = "/sys/kernel/btf/vmlinux"

    private static let vmlinuxResult: Result<BTF, BPFError> = {
        guard let data = FileManager.default.contents(atPath: vmlinuxPath) else {
            return .failure(BPFError(command: nil, errno: .ENOENT, message: "cannot read \(vmlinuxPath): the kernel has no BTF (CONFIG_DEBUG_INFO_BTF) or it is not readable"))
        }
        do { return .success(try BTF(fileBytes: [UInt8](data))) } catch {
            return .failure(BPFError.invalidArgument("\(vmlinuxPath): \(error)"))
        }
    }()
}
