/// The per-run block the JIT's code addresses through `r12`: saved host state, the eBPF registers
/// (spilled around calls into Swift), the run's state, and the tables of the inline bounds checks.
/// Offsets are bytes; every slot is 8 bytes.
enum JITFrame {
    /// The host `rsp` to unwind to when a run stops early (error, `unwind` helper).
    static let savedRSP: Int32 = 0
    /// Backward jumps left before the run is stopped (the instruction limit).
    static let budget: Int32 = 8
    /// eBPF r0–r10, read by the entry and written around every call into Swift.
    static let registers: Int32 = 16
    /// `UnsafeMutablePointer<RunState>`.
    static let state: Int32 = 16 + 11 * 8
    /// `UnsafeMutablePointer<JITRunInfo>`.
    static let info: Int32 = state + 8
    /// A bpf-to-bpf call is allowed while r10 is at least this (the stack's start plus two frames).
    static let callLimit: Int32 = info + 8
    /// Converted context fields (`xdp_md.data`, ...) lie in `[virtualLow, virtualLow + virtualLength)`:
    /// 32-bit loads there take the slow path, which converts them.
    static let virtualLow: Int32 = callLimit + 8
    static let virtualLength: Int32 = virtualLow + 8
    /// Regions for the inline checks of loads, then of stores: three entries of five words each —
    /// the first address, then the last valid start address for 1-, 2-, 4- and 8-byte accesses.
    /// Up to ``virtualSlots`` converted fields as (address, value) pairs, so the code converts them
    /// without calling into Swift (unused pairs repeat the first field; with none, address 1, which
    /// no aligned load has).
    static let virtualTable: Int32 = virtualLength + 8
    static let virtualSlots = 4
    static let loadRegions: Int32 = virtualTable + Int32(virtualSlots * 16)
    static let storeRegions: Int32 = loadRegions + regionTableBytes
    static let regionEntryBytes: Int32 = 40
    /// The packet, the input, the stack, and the last other region an access was allowed in
    /// (map values, global data), which the slow path fills.
    static let regionCount = 4
    static let regionTableBytes: Int32 = regionEntryBytes * 4
    /// Set (non-zero) whenever the code calls into Swift: a prepared run then checks for an error
    /// and for state to reset, which a run that stayed in machine code cannot have left.
    static let touched: Int32 = storeRegions + regionTableBytes
    static let size = Int(touched + 8)

    /// Where in a region entry the limit for an access of `size` bytes is.
    static func limitOffset(size: Int) -> Int32 {
        switch size {
        case 1: 8
        case 2: 16
        case 4: 24
        default: 32
        }
    }

    /// Fills region entry `index` of the table at `table`.
    @inline(__always)
    static func setRegion(_ ctx: UnsafeMutableRawPointer, table: Int32, index: Int, _ region: MemoryRegion) {
        let entry = (ctx + Int(table) + index * Int(regionEntryBytes)).assumingMemoryBound(to: UInt.self)
        let count = region.end &- region.start
        entry[0] = count == 0 ? UInt.max : region.start
        @inline(__always) func limit(_ size: UInt) -> UInt { count >= size ? region.end &- size : 0 }
        entry[1] = limit(1)
        entry[2] = limit(2)
        entry[3] = limit(4)
        entry[4] = limit(8)
    }
}

extension JITFrame {
    /// Fills the parts of the frame that follow the run's regions: the packet and input entries of
    /// the inline checks, the converted fields, and (emptied) the cached region. Called when a run
    /// starts and after every helper call, which may move the packet or free memory it granted.
    static func refresh(_ ctx: UnsafeMutableRawPointer, _ regions: UnsafePointer<MemoryRegions>) {
        let second = regions.pointee.second, input = regions.pointee.input
        let fields = regions.pointee.virtualFields
        setRegion(ctx, table: loadRegions, index: 0, second)
        setRegion(ctx, table: loadRegions, index: 1, input)
        setRegion(ctx, table: storeRegions, index: 0, second.writable ? second : .empty)
        // Stores into a context with converted fields go to Swift, which refuses those fields.
        setRegion(ctx, table: storeRegions, index: 1, input.writable && fields.isEmpty ? input : .empty)
        setRegion(ctx, table: loadRegions, index: 3, .empty)
        setRegion(ctx, table: storeRegions, index: 3, .empty)
        var low = UInt.max, high: UInt = 0
        for field in fields {
            low = min(low, field.address)
            high = max(high, field.address + 4)
        }
        if fields.isEmpty { low = 0 }
        ctx.storeBytes(of: low, toByteOffset: Int(virtualLow), as: UInt.self)
        ctx.storeBytes(of: high - low, toByteOffset: Int(virtualLength), as: UInt.self)
        let table = (ctx + Int(virtualTable)).assumingMemoryBound(to: UInt64.self)
        for i in 0..<virtualSlots {
            if i < fields.count {
                table[2 * i] = UInt64(fields[i].address)
                table[2 * i + 1] = fields[i].value
            } else if let first = fields.first {
                // Unused entries repeat the first field, so a lookup of one entry alone is exact.
                table[2 * i] = UInt64(first.address)
                table[2 * i + 1] = first.value
            } else {
                table[2 * i] = 1
            }
        }
    }

    /// Remembers the extra or permanent region holding `size` bytes at `address` in the fourth
    /// entry of the inline checks, so the next accesses to it (a map value, global data) stay inline.
    static func cache(_ ctx: UnsafeMutableRawPointer, _ regions: UnsafePointer<MemoryRegions>, address: UInt64, size: Int) {
        let start = UInt(truncatingIfNeeded: address), end = start &+ UInt(size)
        for region in regions.pointee.permanent where region.contains(start, end) {
            setRegion(ctx, table: loadRegions, index: 3, region)
            setRegion(ctx, table: storeRegions, index: 3, region.writable ? region : .empty)
            return
        }
    }
}

/// The Swift side of one JIT run, which the service entry point reaches through the frame.
struct JITRunInfo {
    /// The program running now (a tail call switches it).
    var interpreter: Unmanaged<Interpreter>
    /// The top of frame 0 (r10 at entry).
    var stackTop: UInt64
    /// The error that stopped the run.
    var error: RuntimeError?
}

extension X86Assembler {
    /// Falls through when the `size` bytes at `address` lie in one of the frame's regions (the
    /// packet, the input, the stack, or the region cached last; the frame at `frameBase`), jumps to
    /// `slow` otherwise. Both JIT tiers check unproven accesses with it.
    mutating func regionCheck(address: X86Reg, frameBase: X86Reg, size: Int, write: Bool, slow: X86Label) {
        let table = write ? JITFrame.storeRegions : JITFrame.loadRegions
        let ok = newLabel()
        for i in 0..<JITFrame.regionCount {
            let entry = table + Int32(i) * JITFrame.regionEntryBytes
            let last = i == JITFrame.regionCount - 1
            let next = last ? slow : newLabel()
            alu(.cmp, address, X86Mem(base: frameBase, disp: entry))
            jcc(.b, next)
            alu(.cmp, address, X86Mem(base: frameBase, disp: entry + JITFrame.limitOffset(size: size)))
            if last { jcc(.a, slow) } else { jcc(.be, ok); bind(next) }
        }
        bind(ok)
    }
}

extension X86Assembler {
    /// `fetch_or`/`fetch_and`/`fetch_xor` at `m`: a `lock cmpxchg` loop that leaves the old value in
    /// `operand` (which holds the value to combine). rax and r9 are saved and restored. Both JIT tiers
    /// emit it.
    mutating func fetchLogicLoop(_ op: X86ALU, wide w: Bool, at m: X86Mem, operand: X86Reg) {
        push(.rax)
        push(.r9)
        load(.rax, m, bits: w ? 64 : 32)
        let again = newLabel()
        bind(again)
        mov(true, .r9, .rax)
        alu(op, w, .r9, operand)
        lockCmpxchg(w, m, .r9)
        jcc(.ne, again)
        mov(true, operand, .rax)
        pop(.r9)
        pop(.rax)
    }
}
