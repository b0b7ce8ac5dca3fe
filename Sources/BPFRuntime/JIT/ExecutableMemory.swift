#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CBPFRuntimeSupport

/// Machine code in pages of its own: written while the pages are read+write, then switched to
/// read+execute (never writable and executable at once), unmapped when the value is freed.
final class ExecutableMemory: @unchecked Sendable {
    /// The first byte of the code.
    let base: UnsafeRawPointer
    /// The mapped size (whole pages).
    let size: Int
    /// The code's length in bytes.
    let count: Int

    /// Maps pages for `code`, copies it in and makes the pages executable.
    init(code: [UInt8]) throws(RuntimeError) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = max(page, (code.count + page - 1) / page * page)
        guard let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapped != MAP_FAILED else {
            throw .unsupported(pc: 0, message: "the JIT could not map \(size) bytes of memory (errno \(errno))")
        }
        // Pad with int3 so a stray jump past the end traps instead of running garbage.
        mapped.initializeMemory(as: UInt8.self, repeating: 0xcc, count: size)
        code.withUnsafeBytes { mapped.copyMemory(from: $0.baseAddress!, byteCount: code.count) }
        cbpf_clear_cache(mapped, mapped + code.count)
        guard mprotect(mapped, size, PROT_READ | PROT_EXEC) == 0 else {
            let error = errno
            munmap(mapped, size)
            throw .unsupported(pc: 0, message: "the JIT could not make its code executable (errno \(error))")
        }
        self.base = UnsafeRawPointer(mapped)
        self.size = size
        self.count = code.count
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }
}
