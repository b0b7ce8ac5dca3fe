#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The mutable state of one run, shared by everything that runs inside it: the program, the
/// programs it tail-calls and the callbacks helpers invoke.
struct RunState {
    var regions: MemoryRegions
    let frames: UnsafeMutablePointer<UInt64>
    let packet: UnsafeRawBufferPointer?
    let environment: RunEnvironment?
    var executed: UInt64 = 0
    /// Tail calls taken so far (at most ``RunState/maxTailCalls``).
    var tailCalls = 0
    /// A tail call a helper asked for, taken when the helper returns: the program and its maps.
    var pendingTailCall: (interpreter: Interpreter, maps: [RuntimeMap])?
    /// The maps the running program's map handles index (they change with a tail call into
    /// another object's program).
    var maps: [RuntimeMap]
    /// The `bpf_spin_lock` the program holds, released when the run ends if the program did not.
    var heldSpinLock: UnsafeMutableRawPointer?
    /// Memory helpers hand to callbacks (keys of `bpf_for_each_map_elem`), freed when the run ends.
    var scratch: UnsafeMutableRawBufferPointer?
    /// The kernel context view `bpf_cast_to_kern_ctx` gives (read-only), freed when the run ends.
    var kernelContext: UnsafeMutableRawBufferPointer?
    /// r1 for the program a tail call starts.
    var tailCallContext: UInt64 = 0
    /// Programs reached by tail calls, kept alive until the run ends.
    var retained: [Interpreter] = []
    /// The virtual CPU this run holds, or -1 until something asks for it.
    var cpu = -1
    /// The JIT's frame, when the run is JIT code (helpers then run callbacks compiled).
    var jitFrame: UnsafeMutableRawPointer?
    /// A `bpf_throw` unwinding the run: the cookie, the program that threw (its exception callback
    /// runs) and its maps. Set by the kfunc, which then fails so that every engine unwinds.
    var thrown: (cookie: UInt64, program: Interpreter, maps: [RuntimeMap])?
    /// Objects the run dropped (`bpf_obj_drop`), freed when it ends: a stale pointer the run still
    /// holds never reaches memory the allocator gave to something else (the heap already refuses it).
    var dropped: [UnsafeMutableRawPointer] = []

    /// The frames ``frames`` and the stack hold (see ``Interpreter/frameCapacity``).
    let frameCapacity: Int
    /// The call depth of the running program's first frame: 0, or where the tail call that started
    /// it was made (a program may use 8 frames from there, as the kernel's verifier checks it).
    var programBase = 0

    /// Linux's `MAX_TAIL_CALL_CNT`.
    static let maxTailCalls = 33

    init(regions: MemoryRegions, frames: UnsafeMutablePointer<UInt64>, packet: UnsafeRawBufferPointer?, environment: RunEnvironment?,
         frameCapacity: Int = ExecutionOptions.maxCallFrames) {
        self.regions = regions
        self.frames = frames
        self.frameCapacity = frameCapacity
        self.packet = packet
        self.environment = environment
        self.maps = environment?.maps ?? []
    }

    /// Whether a frame may open below the one at `depth`: the running program keeps within its 8
    /// frames and the run within the frames its memory holds.
    @inline(__always)
    func allowsCall(from depth: Int) -> Bool {
        depth + 1 - programBase < ExecutionOptions.maxCallFrames && depth + 1 < frameCapacity
    }

    /// A pointer to the regions inside the state.
    @inline(__always)
    static func regions(_ state: UnsafeMutablePointer<RunState>) -> UnsafeMutablePointer<MemoryRegions> {
        (UnsafeMutableRawPointer(state) + regionsOffset).assumingMemoryBound(to: MemoryRegions.self)
    }

    private static let regionsOffset = MemoryLayout<RunState>.offset(of: \.regions)!

    mutating func takeTailCall() -> Interpreter? {
        guard let (target, targetMaps) = pendingTailCall else { return nil }
        pendingTailCall = nil
        retained.append(target)
        if let first = target.permanentRegions.first, !regions.extra.contains(first), !regions.permanent.contains(first) {
            for region in target.permanentRegions { regions.add(region) }
        }
        maps = targetMaps
        return target
    }

    /// A scratch buffer of at least `size` bytes the program may read for the rest of the run.
    mutating func scratchBuffer(_ size: Int) -> UnsafeMutableRawBufferPointer {
        if let scratch, scratch.count >= size { return scratch }
        let buffer = replaceReadOnlyBuffer(scratch, byteCount: max(size, 64))
        scratch = buffer
        return buffer
    }

    /// The run's kernel context view, `size` bytes zeroed (the same buffer for every call of a run),
    /// readable by the program for the rest of the run.
    mutating func kernelContextBuffer(_ size: Int) -> UnsafeMutableRawBufferPointer {
        if let kernelContext, kernelContext.count >= size {
            kernelContext.initializeMemory(as: UInt8.self, repeating: 0)
            return kernelContext
        }
        let buffer = replaceReadOnlyBuffer(kernelContext, byteCount: max(size, 8))
        kernelContext = buffer
        return buffer
    }

    /// A zeroed read-only region of `byteCount` bytes for the rest of the run, in place of `old`
    /// (removed from the run's regions and freed).
    private mutating func replaceReadOnlyBuffer(_ old: UnsafeMutableRawBufferPointer?, byteCount: Int) -> UnsafeMutableRawBufferPointer {
        if let old {
            regions.extra.removeAll { $0 == MemoryRegion(old, writable: false) }
            old.deallocate()
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: byteCount, alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        regions.add(MemoryRegion(buffer, writable: false))
        return buffer
    }

    /// Whether a run left anything that must not carry over to the next run on the same state:
    /// tail calls counted, a held lock, regions granted.
    @inline(__always)
    func needsReset(extraRegions: Int) -> Bool {
        tailCalls != 0 || heldSpinLock != nil || regions.extra.count != extraRegions || !retained.isEmpty || !dropped.isEmpty
    }

    /// Prepares the state for another run (see ``needsReset(extraRegions:)``); the virtual CPU is kept.
    mutating func reset(extraRegions: Int) {
        tailCalls = 0
        programBase = 0
        thrown = nil
        releaseSpinLock()
        if regions.extra.count > extraRegions { regions.extra.removeLast(regions.extra.count - extraRegions) }
        if let old = scratch {
            old.deallocate()
            scratch = nil
        }
        kernelContext?.deallocate()
        kernelContext = nil
        retained.removeAll()
        freeDropped()
    }

    /// Frees the objects the run dropped.
    mutating func freeDropped() {
        for object in dropped { object.deallocate() }
        dropped.removeAll()
    }

    /// Releases the `bpf_spin_lock` the program left held, if any.
    mutating func releaseSpinLock() {
        if let lock = heldSpinLock { SpinLock.unlock(lock) }
        heldSpinLock = nil
    }

    /// The virtual CPU of this run, acquired on first use.
    mutating func currentCPU() -> Int {
        if cpu < 0 { cpu = VirtualCPUs.shared.acquire() }
        return cpu
    }

    /// Releases what the run held.
    mutating func finish() {
        releaseSpinLock()
        if cpu >= 0 { VirtualCPUs.shared.release(cpu) }
        cpu = -1
        scratch?.deallocate()
        scratch = nil
        kernelContext?.deallocate()
        kernelContext = nil
        freeDropped()
    }
}

/// The runtime's CPUs. Like a kernel CPU, a virtual CPU runs one program at a time: a run takes one
/// when it first needs it (a per-CPU map access, `bpf_get_smp_processor_id`, a perf event) and gives
/// it back when it ends, so each executing thread has per-CPU map slots of its own. Runs beyond
/// ``count`` wait for a CPU to come free.
public final class VirtualCPUs: Sendable {
    /// The number of CPUs: the host's online processors, at least 1 and at most 64.
    public let count: Int
    private let busy = Atomic<UInt64>(0)

    /// The CPUs every map and run in this process share.
    public static let shared = VirtualCPUs(count: hostProcessorCount())

    init(count: Int) {
        self.count = min(max(count, 1), 64)
    }

    static func hostProcessorCount() -> Int {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return Int(sysconf(_SC_NPROCESSORS_ONLN))
        #endif
    }

    /// Takes a free CPU, waiting for one if all are busy.
    func acquire() -> Int {
        var spins = 0
        while true {
            let current = busy.load(ordering: .relaxed)
            let free = ~current & (count == 64 ? UInt64.max : (UInt64(1) << UInt64(count)) - 1)
            if free != 0 {
                let cpu = free.trailingZeroBitCount
                let (exchanged, _) = busy.compareExchange(expected: current, desired: current | (UInt64(1) << UInt64(cpu)),
                                                          ordering: .acquiring)
                if exchanged { return cpu }
                continue
            }
            spins += 1
            if spins > 64 { sched_yield() }
        }
    }

    func release(_ cpu: Int) {
        busy.bitwiseAnd(~(UInt64(1) << UInt64(cpu)), ordering: .releasing)
    }
}
