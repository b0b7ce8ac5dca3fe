#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BPFObject

/// `BPF_MAP_TYPE_ARENA`: memory a program shares with user space at the same addresses. The
/// runtime reserves the arena's `max_entries` pages (4 KiB each) in one mapping whose untouched
/// pages cost nothing; programs reach them through arena pointers, user space through
/// ``RuntimeMap/arenaMemory``. In the Swift runtime both address spaces are the host's, so
/// `addr_space_cast` keeps the address: user space and programs see the same pointers, as with the
/// kernel's arena. `bpf_arena_alloc_pages` hands out pages, `bpf_arena_free_pages` zeroes and
/// returns them (a freed page reads 0, as in the kernel). Arena globals (`.addr_space.1`) sit at
/// the arena's start. Differences from the kernel, whose JIT confines arena accesses to a 4 GiB
/// window: an access outside the arena's pages is an error of the run, not a read of 0, and a write
/// to a page never allocated is kept instead of dropped.
final class ArenaMap: RuntimeMap, @unchecked Sendable {
    static let pageSize = 4096
    /// The largest arena the runtime reserves (the kernel's limit is 4 GiB of address space).
    static let maxPages = 1 << 20
    let base: UnsafeMutableRawPointer
    let size: Int
    /// Which pages are allocated (guarded by `lock`).
    private var allocated: [Bool]
    /// Pages the globals occupy at the start of the arena, never handed out.
    let globalPages: Int

    override init(spec: MapSpec) throws(MapError) {
        guard spec.keySize == 0, spec.valueSize == 0 else {
            throw MapError(.invalid, "arena '\(spec.name)': key and value sizes must be 0, found \(spec.keySize) and \(spec.valueSize)")
        }
        guard spec.flags & (1 << 10) != 0 else {
            throw MapError(.invalid, "arena '\(spec.name)': an arena must be BPF_F_MMAPABLE")
        }
        guard spec.maxEntries > 0, spec.maxEntries <= ArenaMap.maxPages else {
            throw MapError(.tooBig, "arena '\(spec.name)': \(spec.maxEntries) pages (the Swift runtime reserves at most \(ArenaMap.maxPages), 4 GiB)")
        }
        size = spec.maxEntries * ArenaMap.pageSize
        let globals = spec.initialValue ?? []
        globalPages = (globals.count + ArenaMap.pageSize - 1) / ArenaMap.pageSize
        guard globalPages <= spec.maxEntries else {
            throw MapError(.tooBig, "arena '\(spec.name)': its globals (\(globals.count) bytes) do not fit its \(spec.maxEntries) pages")
        }
        let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let address, address != MAP_FAILED else {
            throw MapError(.noMemory, "arena '\(spec.name)': cannot reserve \(size) bytes")
        }
        base = address
        if !globals.isEmpty { globals.withUnsafeBytes { address.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        allocated = [Bool](repeating: false, count: spec.maxEntries)
        for i in 0..<globalPages { allocated[i] = true }
        try super.init(spec: spec)
    }

    deinit { munmap(base, size) }

    override var regions: [MemoryRegion] { [MemoryRegion(start: UInt(bitPattern: base), count: size, writable: true)] }

    /// `bpf_arena_alloc_pages`: `count` consecutive pages (at `address` when it is not 0), zeroed;
    /// their address, or 0 when they are not free.
    func allocate(at address: UInt64, pages count: Int) -> UInt64 {
        guard count > 0, count <= allocated.count else { return 0 }
        return lock.withLock { _ -> UInt64 in
            var first: Int?
            if address != 0 {
                let start = UInt64(UInt(bitPattern: base))
                guard address >= start, (address - start) % UInt64(ArenaMap.pageSize) == 0 else { return 0 }
                let page = Int((address - start) / UInt64(ArenaMap.pageSize))
                guard page + count <= allocated.count, !allocated[page..<page + count].contains(true) else { return 0 }
                first = page
            } else {
                var run = 0
                for page in allocated.indices {
                    run = allocated[page] ? 0 : run + 1
                    if run == count { first = page - count + 1; break }
                }
            }
            guard let first else { return 0 }
            for page in first..<first + count { allocated[page] = true }
            return UInt64(UInt(bitPattern: base)) + UInt64(first * ArenaMap.pageSize)
        }
    }

    /// `bpf_arena_free_pages`: the allocated pages among `count` from `address` are zeroed and free.
    func free(at address: UInt64, pages count: Int) {
        let start = UInt64(UInt(bitPattern: base))
        guard address >= start, address < start + UInt64(size), count > 0 else { return }
        let first = Int((address - start) / UInt64(ArenaMap.pageSize))
        lock.withLock { _ in
            for page in first..<min(first + count, allocated.count) where allocated[page] && page >= globalPages {
                allocated[page] = false
                (base + page * ArenaMap.pageSize).initializeMemory(as: UInt8.self, repeating: 0, count: ArenaMap.pageSize)
            }
        }
    }

    /// `bpf_arena_reserve_pages`: the pages are taken without being handed out (0), or -EBUSY.
    func reserve(at address: UInt64, pages count: Int) -> UInt64 {
        allocate(at: address, pages: count) != 0 || count == 0 ? 0 : UInt64(bitPattern: -16)
    }
}

extension RuntimeMap {
    /// An arena's memory (its pages, globals first), at the addresses programs use; nil for other maps.
    public var arenaMemory: UnsafeMutableRawBufferPointer? {
        guard let arena = self as? ArenaMap else { return nil }
        return UnsafeMutableRawBufferPointer(start: arena.base, count: arena.size)
    }
}

/// The arena kfuncs, for the arena a program names (its `__map` argument).
enum ArenaKfuncs {
    static func arena(_ call: borrowing HelperCall) throws(HelperError) -> ArenaMap {
        guard let arena = call.map(handle: call.argument(1)) as? ArenaMap else {
            throw HelperError("argument 1 is not an arena map")
        }
        return arena
    }

    static func register(into registry: inout HelperRegistry) {
        registry.register(kfunc: "bpf_arena_alloc_pages") { call in
            try arena(call).allocate(at: call.argument(2), pages: Int(UInt32(truncatingIfNeeded: call.argument(3))))
        }
        registry.register(kfunc: "bpf_arena_free_pages") { call in
            try arena(call).free(at: call.argument(2), pages: Int(UInt32(truncatingIfNeeded: call.argument(3))))
            return 0
        }
        registry.register(kfunc: "bpf_arena_reserve_pages") { call in
            try arena(call).reserve(at: call.argument(2), pages: Int(UInt32(truncatingIfNeeded: call.argument(3))))
        }
    }
}
