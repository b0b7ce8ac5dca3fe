import BPFObject
import CBPFLinuxSupport

/// The values of an array map created with `BPF_F_MMAPABLE`, mapped into this process: reads and
/// writes go to the kernel's memory with no system call (how libbpf skeletons reach `.data` and
/// `.bss`). Unmapped when released.
///
/// ```swift
/// let memory = try map.mapMemory()
/// let seen = memory.bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
/// ```
public final class KernelMapMemory: @unchecked Sendable {
    /// The map's values, one after another (`valueSize` rounded up to 8 per entry).
    public let bytes: UnsafeMutableRawBufferPointer
    /// Whether the mapping may be written (frozen maps map read-only).
    public let writable: Bool
    private let length: Int

    init(base: UnsafeMutableRawPointer, count: Int, length: Int, writable: Bool) {
        bytes = UnsafeMutableRawBufferPointer(start: base, count: count)
        self.length = length
        self.writable = writable
    }

    deinit { cbpf_munmap(bytes.baseAddress, length) }
}

extension KernelMap {
    /// Maps the values of this array map (created with `BPF_F_MMAPABLE`) into memory; read-only
    /// when `writable` is false (required for a frozen map).
    public func mapMemory(writable: Bool = true) throws(BPFError) -> KernelMapMemory {
        guard type == .array, flags & Flag.mmapable != 0 else {
            throw BPFError.invalidArgument("map \(name): only array maps created with BPF_F_MMAPABLE can be mapped")
        }
        let count = ((valueSize + 7) & ~7) * maxEntries
        let page = Int(cbpf_page_size())
        let length = max((count + page - 1) / page * page, page)
        var error: Int32 = 0
        guard let base = cbpf_mmap_shared(Int32(bitPattern: try fd.checked()), length, writable ? 1 : 0, 0, &error) else {
            throw BPFError.system("mmap of map \(name)'s values", errno: error)
        }
        return KernelMapMemory(base: base, count: count, length: length, writable: writable)
    }
}
