import Synchronization

/// A probe a Swift app defines and fires, that programs attach to in the Swift runtime (as
/// uprobes/USDT do in the kernel): `swiftbpf`'s scripts attach with `app:NAME`. While nothing is
/// attached, firing costs one relaxed atomic load and a branch; with a program attached, it enters
/// the program's JIT code (or interpreter) directly, on a run context prepared when it attached.
///
/// ```swift
/// let requests = AppProbe(named: "request")       // registered by name, for scripts to find
/// requests.fire(UInt64(status), UInt64(bytes))   // arg0, arg1 of attached programs
/// ```
public final class AppProbe: Sendable {
    /// The name scripts attach to (`app:NAME`).
    public let name: String
    /// The most arguments a firing passes (`arg0`...`arg11`).
    public static let maxArguments = 12
    private let attachedCount = Atomic<Int>(0)
    private let entries = Mutex<[AppProbeEntry]>([])
    private let nextID = Atomic<Int>(0)

    private static let registry = Mutex<[String: AppProbe]>([:])

    /// A probe named `name`, registered so that scripts can find it (the newest of a name wins).
    public init(named name: String) {
        self.name = name
        AppProbe.registry.withLock { $0[name] = self }
    }

    /// The registered probe with this name.
    public static func named(_ name: String) -> AppProbe? { registry.withLock { $0[name] } }

    /// Every registered probe's name.
    public static var names: [String] { registry.withLock { Array($0.keys).sorted() } }

    /// Whether a program is attached.
    @inlinable public var isAttached: Bool { attachedCountValue > 0 }

    @usableFromInline var attachedCountValue: Int { attachedCount.load(ordering: .relaxed) }

    /// Attaches a program (a raw tracepoint program: it reads the arguments as `__u64 args[]`);
    /// returns a handle for ``detach(_:)``. The run context (the argument buffer, the JIT frame and
    /// stack, the run's state) is prepared here, once.
    @discardableResult
    public func attach(_ program: LoadedProgram) -> Int {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let entry = AppProbeEntry(id: id, program: program)
        entries.withLock { $0.append(entry) }
        attachedCount.add(1, ordering: .releasing)
        return id
    }

    /// Detaches the program attached with this handle.
    public func detach(_ handle: Int) {
        let removed = entries.withLock { list in
            let before = list.count
            list.removeAll { $0.id == handle }
            return before - list.count
        }
        if removed > 0 { attachedCount.subtract(removed, ordering: .releasing) }
    }

    /// Fires the probe: every attached program runs with the arguments as its context (`arg0`...).
    /// Nothing is allocated.
    @inlinable public func fire(_ a0: UInt64 = 0, _ a1: UInt64 = 0, _ a2: UInt64 = 0, _ a3: UInt64 = 0, _ a4: UInt64 = 0, _ a5: UInt64 = 0) {
        guard isAttached else { return }
        run(a0, a1, a2, a3, a4, a5)
    }

    /// Fires the probe with up to 12 arguments (the rest are ignored).
    @inlinable public func fire(arguments: [UInt64]) {
        guard isAttached else { return }
        run(arguments: arguments)
    }

    @usableFromInline func run(_ a0: UInt64, _ a1: UInt64, _ a2: UInt64, _ a3: UInt64, _ a4: UInt64, _ a5: UInt64) {
        for entry in entries.withLock({ $0 }) {
            entry.run { args in
                args[0] = a0; args[1] = a1; args[2] = a2; args[3] = a3; args[4] = a4; args[5] = a5
                for i in 6..<AppProbe.maxArguments { args[i] = 0 }
            }
        }
    }

    @usableFromInline func run(arguments: [UInt64]) {
        for entry in entries.withLock({ $0 }) {
            entry.run { args in
                for i in 0..<AppProbe.maxArguments { args[i] = i < arguments.count ? arguments[i] : 0 }
            }
        }
    }
}

/// One program attached to an ``AppProbe``, with its run context prepared once: the argument
/// buffer, and for JIT code the frame, call frames, stack and run state a test run would build per
/// run. A firing takes the context with one atomic exchange; a firing on another thread while it is
/// taken runs through an ordinary test run instead.
final class AppProbeEntry: @unchecked Sendable {
    let id: Int
    let program: LoadedProgram
    /// `__u64 args[12]`, the program's (read-only) context.
    private let arguments: UnsafeMutablePointer<UInt64>
    private let environment: RunEnvironment
    private let busy = Atomic<Bool>(false)
    /// The JIT's prepared run (nil for the interpreter): its memory below.
    private let prepared: PreparedRun?
    private let scratch: UnsafeMutableRawPointer?
    private let state: UnsafeMutablePointer<RunState>?
    private let info: UnsafeMutablePointer<JITRunInfo>?
    private let input: MemoryRegion

    init(id: Int, program: LoadedProgram) {
        self.id = id
        self.program = program
        arguments = .allocate(capacity: AppProbe.maxArguments)
        arguments.initialize(repeating: 0, count: AppProbe.maxArguments)
        environment = RunEnvironment(maps: program.maps)
        let bytes = UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(arguments), count: AppProbe.maxArguments * 8)
        input = MemoryRegion(bytes, writable: false)
        let address = UInt(bitPattern: UnsafeMutableRawPointer(arguments))
        environment.contextAddress = address
        guard let jit = program.jit else {
            prepared = nil; scratch = nil; state = nil; info = nil
            return
        }
        // As JITProgram.withSession prepares a run, but kept for the entry's lifetime.
        let ctx = UnsafeMutableRawPointer.allocate(byteCount: JITProgram.scratchBytes, alignment: 64)
        ctx.initializeMemory(as: UInt8.self, repeating: 0, count: JITProgram.scratchBytes)
        let (frames, stackTop, stackRegion) = JITProgram.layOut(scratch: ctx)
        var regions = MemoryRegions(stack: stackRegion, input: input)
        regions.permanent = jit.interpreter.permanentRegions
        let statePointer = UnsafeMutablePointer<RunState>.allocate(capacity: 1)
        statePointer.initialize(to: RunState(regions: regions, frames: frames, packet: nil, environment: environment))
        statePointer.pointee.jitFrame = ctx
        JITFrame.refresh(ctx, RunState.regions(statePointer))
        ctx.storeBytes(of: 0, toByteOffset: Int(JITFrame.touched), as: UInt64.self)
        let infoPointer = UnsafeMutablePointer<JITRunInfo>.allocate(capacity: 1)
        infoPointer.initialize(to: JITRunInfo(interpreter: Unmanaged.passUnretained(jit.interpreter), stackTop: stackTop, error: nil))
        ctx.storeBytes(of: statePointer, toByteOffset: Int(JITFrame.state), as: UnsafeMutablePointer<RunState>.self)
        ctx.storeBytes(of: infoPointer, toByteOffset: Int(JITFrame.info), as: UnsafeMutablePointer<JITRunInfo>.self)
        scratch = ctx
        state = statePointer
        info = infoPointer
        prepared = PreparedRun(ctx: ctx, state: statePointer, info: infoPointer, entry: jit.code.entry, r1: UInt64(address), r2: 0,
                               stackTop: stackTop, budget: jit.interpreter.options.instructionLimit, extraRegions: 0)
    }

    deinit {
        if let state {
            state.pointee.finish()
            state.deinitialize(count: 1)
            state.deallocate()
        }
        if let info {
            info.deinitialize(count: 1)
            info.deallocate()
        }
        scratch?.deallocate()
        arguments.deinitialize(count: AppProbe.maxArguments)
        arguments.deallocate()
    }

    /// Runs the program once on the arguments `fill` writes. A runtime failure ends that run only
    /// (as a failing kernel probe program does not stop its caller).
    @inline(__always)
    func run(_ fill: (UnsafeMutablePointer<UInt64>) -> Void) {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            // Another thread holds the prepared context: a run of its own.
            let local = UnsafeMutablePointer<UInt64>.allocate(capacity: AppProbe.maxArguments)
            defer { local.deallocate() }
            fill(local)
            let context = [UInt8](UnsafeRawBufferPointer(start: local, count: AppProbe.maxArguments * 8))
            _ = try? program.testRun(context: context)
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        fill(arguments)
        if !environment.trace.isEmpty { environment.trace.removeAll() }
        if let prepared, let state {
            _ = try? prepared.run()
            // Give back the virtual CPU and anything else the run held, as the end of a run does.
            state.pointee.finish()
        } else {
            _ = try? program.interpreter.run(r1: UInt64(UInt(bitPattern: UnsafeMutableRawPointer(arguments))), input: input, second: .empty,
                                             environment: environment, virtualFields: [])
        }
    }
}
