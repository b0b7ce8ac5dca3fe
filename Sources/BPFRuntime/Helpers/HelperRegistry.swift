import BPFObject
import BPFVerifier

/// What a helper sees when a program calls it: the arguments r1–r5, the run's memory regions
/// (so it can read and write program memory safely), and a way to stop the program.
///
/// ```swift
/// let double = Helper(id: 1000, name: "double") { call in call.argument(1) &* 2 }
/// ```
public struct HelperCall: ~Copyable {
    /// The argument registers r1–r5.
    public let arguments: (UInt64, UInt64, UInt64, UInt64, UInt64)
    /// The index of the calling instruction.
    public let pc: Int
    let state: UnsafeMutablePointer<RunState>
    let interpreter: Interpreter
    let registers: UnsafeMutablePointer<UInt64>
    let depth: Int
    /// Set to end the program after the call returns; r0 becomes the helper's result.
    public var stopsProgram = false

    init(arguments: (UInt64, UInt64, UInt64, UInt64, UInt64), pc: Int, state: UnsafeMutablePointer<RunState>,
         interpreter: Interpreter, registers: UnsafeMutablePointer<UInt64>, depth: Int) {
        self.arguments = arguments
        self.pc = pc
        self.state = state
        self.interpreter = interpreter
        self.registers = registers
        self.depth = depth
    }

    /// The run's maps, packet and trace output (nil for plain bytecode runs).
    public var environment: RunEnvironment? { state.pointee.environment }

    var regions: UnsafeMutablePointer<MemoryRegions> { RunState.regions(state) }

    /// The virtual CPU running this program (see ``VirtualCPUs``).
    public var cpu: Int { state.pointee.currentCPU() }

    /// Calls the program's callback function `handle` (the value a `lddw` of a function loads) with
    /// up to five arguments, as `bpf_loop` and `bpf_for_each_map_elem` do; returns its r0.
    public func invokeCallback(_ handle: UInt64, _ arguments: UInt64...) throws(RuntimeError) -> UInt64 {
        guard handle >= Interpreter.callbackHandleBase, handle - Interpreter.callbackHandleBase < UInt64(Int32.max) else {
            throw .helperFailed(pc: pc, helper: "callback", message: "0x\(String(handle, radix: 16)) is not a callback function")
        }
        if let frame = state.pointee.jitFrame {
            return try JITRuntime.invokeCallback(frame, pc: Int(handle - Interpreter.callbackHandleBase), arguments: arguments,
                                                 depth: depth, callPC: pc)
        }
        return try interpreter.invokeCallback(pc: Int(handle - Interpreter.callbackHandleBase), arguments: arguments,
                                              regs: registers, depth: depth, state: state, callPC: pc)
    }

    /// Asks for a tail call: when the helper returns, `target` replaces the running program.
    /// Returns false (and asks nothing) once the run has taken Linux's 33 tail calls.
    func requestTailCall(_ target: Interpreter, maps: [RuntimeMap]) -> Bool {
        guard state.pointee.tailCalls < RunState.maxTailCalls else { return false }
        state.pointee.tailCalls += 1
        state.pointee.pendingTailCall = (target, maps)
        return true
    }

    /// Sets r1 for the program a tail call starts (its context).
    func setTailCallContext(_ context: UInt64) { state.pointee.tailCallContext = context }

    /// A buffer of at least `size` bytes the program may read for the rest of the run.
    func scratchBuffer(_ size: Int) -> UnsafeMutableRawBufferPointer { state.pointee.scratchBuffer(size) }

    /// The map a handle names (a `lddw` of a map, or an inner map a map of maps returned), or nil.
    public func map(handle: UInt64) -> RuntimeMap? {
        if handle >= MapOfMaps.innerHandleBase {
            guard handle - MapOfMaps.innerHandleBase <= UInt64(UInt32.max) else { return nil }
            return IDRegistry<RuntimeMap>.maps.object(id: UInt32(handle - MapOfMaps.innerHandleBase))
        }
        guard handle >= RunEnvironment.mapHandleBase else { return nil }
        let index = handle - RunEnvironment.mapHandleBase
        let maps = state.pointee.maps
        return index < UInt64(maps.count) ? maps[Int(index)] : nil
    }

    /// Reads a NUL-terminated string of at most `limit` bytes from program memory.
    public func readString(at address: UInt64, limit: Int) throws(HelperError) -> String {
        var bytes: [UInt8] = []
        var a = address
        while bytes.count < limit {
            let p = try memory(at: a, size: 1, write: false)
            let b = p.load(as: UInt8.self)
            if b == 0 { break }
            bytes.append(b)
            a &+= 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Replaces the packet region (after the packet moved).
    func packetMoved(from old: MemoryRegion, to new: MemoryRegion) {
        if regions.pointee.second == old {
            regions.pointee.second = new
        } else if let i = regions.pointee.extra.firstIndex(of: old) {
            regions.pointee.extra[i] = new
        }
    }

    /// Updates the converted context fields (after the packet moved).
    func setVirtualFields(_ fields: [(address: UInt, value: UInt64)]) {
        regions.pointee.virtualFields = fields
        regions.pointee.hasVirtualFields = !fields.isEmpty
    }

    /// Argument register `n` (1–5).
    public func argument(_ n: Int) -> UInt64 {
        switch n {
        case 1: arguments.0
        case 2: arguments.1
        case 3: arguments.2
        case 4: arguments.3
        case 5: arguments.4
        default: 0
        }
    }

    /// A checked pointer to `size` bytes of program memory at `address`.
    public func memory(at address: UInt64, size: Int, write: Bool) throws(HelperError) -> UnsafeMutableRawPointer {
        guard size >= 0, regions.pointee.allows(address, size, write: write),
              let pointer = UnsafeMutableRawPointer(bitPattern: UInt(truncatingIfNeeded: address)) else {
            throw HelperError("\(write ? "write" : "read") of \(size) bytes at 0x\(String(address, radix: 16)) is outside the program's memory")
        }
        return pointer
    }

    /// Copies bytes out of program memory.
    public func read(at address: UInt64, size: Int) throws(HelperError) -> [UInt8] {
        if size == 0 { return [] }
        let pointer = try memory(at: address, size: size, write: false)
        return Array(UnsafeRawBufferPointer(start: pointer, count: size))
    }

    /// Copies bytes into program memory.
    public func write(_ bytes: [UInt8], at address: UInt64) throws(HelperError) {
        if bytes.isEmpty { return }
        let pointer = try memory(at: address, size: bytes.count, write: true)
        bytes.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Lets the program access `region` for the rest of this run.
    public func grant(_ region: MemoryRegion) {
        regions.pointee.add(region)
    }
}

/// A helper's failure (any error a helper throws is reported the same way), reported as a ``RuntimeError/helperFailed(pc:helper:message:)``.
public struct HelperError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The Swift function behind a helper.
public typealias HelperFunction = @Sendable (inout HelperCall) throws -> UInt64

/// A function a program can call by id, as the kernel's helpers are.
public struct Helper: Sendable {
    /// The id programs call it by (`call ID`).
    public var id: Int32
    /// Its name, for messages and disassembly.
    public var name: String
    /// The function: returns the value placed in r0.
    public var function: @Sendable (inout HelperCall) throws -> UInt64

    public init(id: Int32, name: String, function: @escaping @Sendable (inout HelperCall) throws -> UInt64) {
        self.id = id
        self.name = name
        self.function = function
    }
}

/// The helpers a program may call, by id. Swift code extends it with its own.
///
/// ```swift
/// var helpers = HelperRegistry.conformance
/// helpers.register(Helper(id: 1000, name: "double") { call in call.argument(1) &* 2 })
/// ```
public struct HelperRegistry: Sendable {
    private(set) var helpers: [Int32: Helper] = [:]
    /// kfuncs the runtime implements, by name: a loader rewrites a call to one into a call of its
    /// helper (kfuncs have no fixed ids; these get ids from ``kfuncIDs``).
    private(set) var kfuncs: [String: Int32] = [:]

    /// The helper ids kfuncs are given, above every kernel helper id.
    public static let kfuncIDs: ClosedRange<Int32> = 2048...4095

    public init(_ helpers: [Helper] = []) {
        for helper in helpers { register(helper) }
    }

    /// Adds or replaces a helper.
    public mutating func register(_ helper: Helper) {
        helpers[helper.id] = helper
    }

    /// Adds a kfunc the runtime implements, under its kernel name (`bpf_iter_num_new`): the call is
    /// given the next free id of ``kfuncIDs``.
    public mutating func register(kfunc name: String, _ function: @escaping @Sendable (inout HelperCall) throws -> UInt64) {
        let id = kfuncs[name] ?? (Self.kfuncIDs.lowerBound + Int32(kfuncs.count))
        precondition(Self.kfuncIDs.contains(id), "too many kfuncs")
        kfuncs[name] = id
        helpers[id] = Helper(id: id, name: name, function: function)
    }

    /// The helper id a call to kfunc `name` becomes, if the runtime implements it.
    public func kfuncID(_ name: String) -> Int32? { kfuncs[name] }

    /// The names of the kfuncs the runtime implements.
    public var kfuncNames: Set<String> { Set(kfuncs.keys) }

    /// The helper with this id.
    public subscript(id: Int32) -> Helper? { helpers[id] }

    /// All helpers, by id.
    public var all: [Helper] { helpers.values.sorted { $0.id < $1.id } }

    /// The helpers bpf_conformance expects: id 5 is `unwind`, which returns its argument and ends
    /// the program when that is 0 (the uBPF convention the suite's `call_unwind_fail` and `callx` tests use).
    public static let conformance = HelperRegistry([
        Helper(id: 5, name: "unwind") { call in
            let value = call.argument(1)
            if value == 0 { call.stopsProgram = true }
            return value
        },
    ])
}

extension VerificationTarget {
    /// The Swift runtime: the kernel's rules, and only the helpers `helpers` implements and the map
    /// types ``RuntimeMap`` implements.
    ///
    /// ```swift
    /// Verifier(options: VerifierOptions(target: .runtime())).verify(program)
    /// ```
    public static func runtime(_ helpers: HelperRegistry = .kernel) -> VerificationTarget {
        VerificationTarget(name: "the Swift runtime", helpers: Set(helpers.all.map(\.id)), mapTypes: RuntimeMap.implementedTypes,
                           kfuncs: helpers.kfuncNames, untypedKernelReads: true)
    }
}
