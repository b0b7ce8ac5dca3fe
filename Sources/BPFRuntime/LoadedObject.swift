import BPFCore
import BPFObject
import BPFVerifier

/// Whether programs are verified when an object loads into the runtime.
///
/// ```swift
/// let loaded = try LoadedObject(object)                        // .strict: unsafe programs fail the load
/// let trusted = try LoadedObject(object, verification: .off)   // trusted code; runtime checks stay on
/// ```
public enum VerificationPolicy: Sendable, Hashable {
    /// Verify every program; a rejected program fails the load with the verifier's explanation.
    case strict
    /// Do not verify (trusted code). The interpreter and JIT keep all their runtime checks.
    case off
}

/// Why an object could not be loaded into the runtime: the program or map, the instruction and
/// C source line where known, and the cause.
public struct LoadError: Error, Hashable, Sendable, CustomStringConvertible {
    public var place: String
    public var message: String
    /// The verifier's structured explanation, when the verifier rejected a program.
    public var verifierError: VerifierError? = nil
    public var description: String { "\(place): \(message)" }
}

/// An object loaded into the Swift runtime: its maps created and filled, its programs linked,
/// resolved and ready to run.
///
/// ```swift
/// let object = try ObjectFile(bytes: bytes)
/// let loaded = try LoadedObject(object)
/// let result = try loaded.program(named: "xdp_counter")!.testRun(packet: frame)
/// print(result.returnValue)
/// ```
public final class LoadedObject: Sendable {
    public let object: ObjectFile
    /// Maps in the object's order.
    public let maps: [RuntimeMap]
    /// Programs by name.
    public let programs: [String: LoadedProgram]

    /// Loads `object`. `kconfig` supplies `.kconfig` extern values by name (little-endian bytes);
    /// `programs`, when given, limits loading to the programs with these names.
    ///
    /// With `verification` `.strict` (the default) every loaded program is verified first; the
    /// result, with the accesses it proved in bounds, is each program's ``LoadedProgram/verification``.
    /// `engine` chooses what runs the programs: the JIT by default on x86-64, else the interpreter;
    /// the JIT skips the bounds checks of the accesses the verifier proved. `jitTier` picks the JIT's tier.
    public init(_ object: ObjectFile, kconfig: [String: [UInt8]] = [:], extraHelpers: [Helper] = [],
                programs only: Set<String>? = nil, verification: VerificationPolicy = .strict,
                engine: ExecutionEngine = .default, jitTier: JITTier = .default) throws(LoadError) {
        self.object = object
        // A map type the runtime lacks fails the load only when a loaded program uses the map.
        let used = Set(object.programs.filter { only?.contains($0.name) ?? true }.flatMap { program in
            program.references.values.compactMap { reference -> String? in
                switch reference {
                case .map(let name), .mapValue(let name, _): name
                default: nil
                }
            }
        })
        var maps: [RuntimeMap] = []
        for spec in object.maps {
            var spec = spec
            if spec.name == ".kconfig", var value = spec.initialValue {
                for (name, bytes) in kconfig {
                    guard let entry = object.kconfigExterns[name] else { continue }
                    for (i, b) in bytes.prefix(entry.size).enumerated() { value[entry.offset + i] = b }
                }
                spec.initialValue = value
            }
            do { maps.append(try RuntimeMap.make(spec)) } catch {
                if error.code == .notSupported && !used.contains(spec.name) { continue }
                throw LoadError(place: "map '\(spec.name)'", message: error.description)
            }
        }
        // Maps of maps start with the inner maps the object names.
        for map in maps where map.spec.type == .arrayOfMaps || map.spec.type == .hashOfMaps {
            for (slot, name) in map.spec.initialReferences.sorted(by: { $0.key < $1.key }) {
                guard let inner = maps.first(where: { $0.spec.name == name }) else {
                    throw LoadError(place: "map '\(map.spec.name)', slot \(slot)", message: "inner map '\(name)' does not exist")
                }
                do { try map.setInnerMap(key: RuntimeMap.bytes(of: UInt32(slot)), inner) } catch {
                    throw LoadError(place: "map '\(map.spec.name)', slot \(slot)", message: error.description)
                }
            }
        }
        self.maps = maps
        var helpers = HelperRegistry.kernel
        for helper in extraHelpers { helpers.register(helper) }
        // Programs a program array names are loaded too, so tail calls reach them.
        var wanted = only
        if wanted != nil {
            for map in maps where map.spec.type == .programArray { wanted!.formUnion(map.spec.initialReferences.values) }
        }
        var programs: [String: LoadedProgram] = [:]
        let regions = maps.flatMap(\.regions)
        for spec in object.programs where wanted?.contains(spec.name) ?? true {
            programs[spec.name] = try LoadedProgram(spec: spec, maps: maps, helpers: helpers, license: object.license, programBTF: object.btf, regions: regions,
                                                    verification: verification, engine: engine, jitTier: jitTier)
        }
        self.programs = programs
        for map in maps where map.spec.type == .programArray {
            for (slot, name) in map.spec.initialReferences.sorted(by: { $0.key < $1.key }) {
                guard let program = programs[name] else {
                    throw LoadError(place: "program array '\(map.spec.name)', slot \(slot)", message: "program '\(name)' does not exist")
                }
                do { try map.setProgram(program, at: slot) } catch {
                    throw LoadError(place: "program array '\(map.spec.name)', slot \(slot)", message: error.description)
                }
            }
        }
    }

    deinit {
        // As Linux does when user space closes a program array: empty it (this also frees the
        // programs, which the array would otherwise keep alive).
        for map in maps { (map as? ProgramArrayMap)?.clear() }
    }

    /// The map with this name.
    public func map(named name: String) -> RuntimeMap? { maps.first { $0.spec.name == name } }

    /// The program with this name.
    public func program(named name: String) -> LoadedProgram? { programs[name] }
}

/// A program ready to run in the runtime.
public final class LoadedProgram: Sendable {
    public let spec: ProgramSpec
    public let interpreter: Interpreter
    /// The engine that runs the program's test runs.
    public let engine: ExecutionEngine
    /// The compiled program when the engine is the JIT.
    public let jit: JITProgram?
    /// A process-wide unique id, as the kernel gives each program (what program arrays store).
    /// Reading it makes the program findable by id.
    public var id: UInt32 {
        IDRegistry<LoadedProgram>.programs.register(self, id: rawID)
        return rawID
    }
    let rawID: UInt32
    /// The maps the program's map references name, in the object's order.
    public let maps: [RuntimeMap]
    /// In a verified program, a write to r10 is on no path (the verifier refuses any it reaches):
    /// dead code the kernel's verifier accepts and then replaces (`sanitize_dead_code`). They become
    /// `exit` here (the kernel writes `ja -1`), so the engines, which refuse any write to r10, load the program; an
    /// unverified program keeps being refused for them.
    static func removeDeadFramePointerWrites(_ instructions: inout [Instruction]) {
        guard (try? Program.validate(instructions, framePointerWrites: true)) != nil else { return }
        for _ in 0..<instructions.count {
            do {
                try Program.validate(instructions)
                return
            } catch {
                // Everything else is valid, so the error is a write to r10 at `error.index`.
                let i = error.index
                guard i >= 0 && i < instructions.count else { return }
                let slots = instructions[i].opcode == Opcode.lddw ? 2 : 1
                // `exit`, not the kernel's `ja -1`: were a verifier bug ever to let a path reach
                // it, the run would end instead of spinning the host's thread.
                for k in i..<min(i + slots, instructions.count) { instructions[k] = Instruction(opcode: Opcode.exit) }
            }
        }
    }

    /// The verifier's result (nil when loaded with ``VerificationPolicy/off``). Its
    /// `provenAccesses` marks the loads and stores an engine may run without a bounds check.
    public let verification: VerificationResult?

    init(spec: ProgramSpec, maps: [RuntimeMap], helpers: HelperRegistry, license: String? = nil, programBTF: BTF? = nil, regions: [MemoryRegion],
         verification policy: VerificationPolicy = .strict, engine: ExecutionEngine = .default, jitTier: JITTier = .default) throws(LoadError) {
        self.spec = spec
        self.engine = engine
        self.maps = maps
        if policy == .strict {
            let verifier = Verifier(options: VerifierOptions(target: .runtime(helpers)))
            var input = VerifierProgram(spec: spec, maps: maps.map(\.spec), license: license)
            input.programBTF = programBTF   // types its kfuncs too: there is no kernel here to give its BTF
            let result = verifier.verify(input)
            if let error = result.error {
                var place = "program '\(spec.name)' (section '\(spec.section)')"
                if let pc = error.instruction { place += ", instruction \(pc)" }
                throw LoadError(place: place, message: "rejected by the verifier: \(error.description)", verifierError: error)
            }
            verification = result
        } else {
            verification = nil
        }
        rawID = IDRegistry<LoadedProgram>.programs.nextID()
        var instructions = spec.instructions
        func place(_ index: Int) -> String {
            var text = "program '\(spec.name)' (section '\(spec.section)'), instruction \(index)"
            if let line = spec.sourceLine(at: index) { text += " (\(line))" }
            return text
        }
        for (index, reference) in spec.references {
            let value: UInt64
            switch reference {
            case .map(let name):
                guard let i = maps.firstIndex(where: { $0.spec.name == name }) else {
                    throw LoadError(place: place(index), message: "map '\(name)' does not exist")
                }
                value = RunEnvironment.mapHandleBase + UInt64(i)
            case let .mapValue(name, offset):
                guard let map = maps.first(where: { $0.spec.name == name }) else {
                    throw LoadError(place: place(index), message: "map '\(name)' does not exist")
                }
                if let arena = map as? ArenaMap {
                    // An arena global: its address in the arena (the globals sit at its start).
                    guard offset >= 0, offset < arena.size else {
                        throw LoadError(place: place(index), message: "offset \(offset) is outside arena '\(name)' (\(arena.size) bytes)")
                    }
                    value = UInt64(UInt(bitPattern: arena.base)) + UInt64(offset)
                    break
                }
                guard let array = map as? ArrayMap, !array.perCPU else {
                    throw LoadError(place: place(index), message: "map '\(name)' (\(map.spec.type)) has no direct value address; only arrays do")
                }
                guard offset >= 0, offset < max(map.spec.valueSize, 1) else {
                    throw LoadError(place: place(index), message: "offset \(offset) is outside map '\(name)' (value size \(map.spec.valueSize))")
                }
                value = UInt64(UInt(bitPattern: array.valueBase)) + UInt64(offset)
            case .external(let name):
                throw LoadError(place: place(index), message: "extern '\(name)' cannot be resolved in the Swift runtime")
            case .kfunc(let name):
                guard let id = helpers.kfuncID(name) else {
                    throw LoadError(place: place(index), message: "kfunc '\(name)' is not available in the Swift runtime")
                }
                // A call of the runtime's kfunc becomes a call of the helper that implements it.
                instructions[index].src = 0
                instructions[index].imm = id
                continue
            }
            instructions[index].src = 0
            instructions[index].imm = Int32(bitPattern: UInt32(truncatingIfNeeded: value))
            instructions[index + 1].imm = Int32(bitPattern: UInt32(truncatingIfNeeded: value >> 32))
        }
        if verification != nil { Self.removeDeadFramePointerWrites(&instructions) }
        let probeLoads = verification?.probeLoads ?? []
        do {
            let program = try Program(validating: instructions)
            // A verified program's loops end; those bounded by may_goto (or open-coded iterators) may run 8M times per frame,
            // past the instruction limit meant for unverified code (the JIT has no budget for them either).
            let iterates = spec.references.values.contains { if case .kfunc(let name) = $0 { name.hasPrefix("bpf_iter_") } else { false } }
            let options = verification != nil && (iterates || program.instructions.contains(where: \.isMayGoto))
                ? ExecutionOptions(instructionLimit: .max) : ExecutionOptions()
            interpreter = try Interpreter(program: program, helpers: helpers, options: options, permanentRegions: regions,
                                          exceptionCallback: Self.exceptionCallback(of: spec, btf: programBTF), programBTF: programBTF,
                                          probeLoads: probeLoads)
            jit = engine == .jit ? try JITProgram(interpreter: interpreter, provenAccesses: verification?.provenAccesses, maps: maps, tier: jitTier) : nil
        } catch let error as DecodeError {
            throw LoadError(place: place(error.index), message: error.message)
        } catch let error as RuntimeError {
            var message = error.description
            if case let .unknownHelper(pc, id) = error {
                message = "call to helper \(id), which the Swift runtime does not provide"
                throw LoadError(place: place(pc), message: message)
            }
            throw LoadError(place: place(error.pc ?? 0), message: message)
        } catch {
            throw LoadError(place: "program '\(spec.name)'", message: "\(error)")
        }
    }

    deinit { IDRegistry<LoadedProgram>.programs.unregister(rawID) }

    /// The first instruction of the exception callback the program's BTF names (`__exception_cb`),
    /// which the linker placed in the program.
    static func exceptionCallback(of spec: ProgramSpec, btf: BTF?) -> Int? {
        guard let btf, let name = btf.functionTags(of: spec.name, prefix: BTF.exceptionCallbackTag).first else { return nil }
        return spec.functionInfos.filter { btf[$0.typeID]?.name == name }.map(\.instruction).min()
    }

    /// The error text for a runtime failure, with the C source line when BTF has it.
    public func describe(_ error: RuntimeError) -> String {
        guard let pc = error.pc, let line = spec.sourceLine(at: pc) else { return error.description }
        return "\(error.description) [\(line)]"
    }
}
