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
    static let loadRegions: Int32 = virtualLength + 8
    static let storeRegions: Int32 = loadRegions + regionTableBytes
    static let regionEntryBytes: Int32 = 40
    static let regionCount = 3
    static let regionTableBytes: Int32 = regionEntryBytes * 3
    static let size = Int(storeRegions + regionTableBytes)

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

/// The Swift side of one JIT run, which the service entry point reaches through the frame.
struct JITRunInfo {
    /// The program running now (a tail call switches it).
    var interpreter: Unmanaged<Interpreter>
    /// The top of frame 0 (r10 at entry).
    var stackTop: UInt64
    /// The error that stopped the run.
    var error: RuntimeError?
}
