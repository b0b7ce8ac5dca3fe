import BPFCore
import BPFObject
import Foundation

/// Options for loading an object into the kernel.
///
/// ```swift
/// var options = KernelLoadOptions()
/// options.programs = ["xdp_counter"]
/// options.continueAfterRefusal = true   // see KernelObject.refusedPrograms
/// options.kconfig["CONFIG_HZ"] = withUnsafeBytes(of: UInt32(250)) { Array($0) }
/// ```
public struct KernelLoadOptions: Sendable {
    /// Load only these programs (and those their program arrays name); nil loads every program.
    public var programs: Set<String>?
    /// `.kconfig` values by extern name (little-endian bytes), over what the running kernel says.
    public var kconfig: [String: [UInt8]] = [:]
    /// Where `LIBBPF_PIN_BY_NAME` maps are reused from and pinned to.
    public var pinDirectory = BPFFileSystem.defaultPath
    /// Maps to reuse rather than create: map name → the path of a pinned map of the same
    /// definition (`bpftool prog load ... map name NAME pinned PATH`).
    public var reuseMaps: [String: String] = [:]
    /// The verifier log level of every program load (0: a log only when the kernel refuses one).
    /// At level 1 or more a loaded program keeps its log in `KernelProgram.verifierLog`; with
    /// `BPF_LOG_STATS` (4) it ends with the kernel's "processed N insns" and "verification time" lines.
    public var logLevel: UInt32 = 0
    /// The first verifier log buffer size (it grows while the kernel says ENOSPC).
    public var logSize = KernelProgram.initialLogSize
    /// When the kernel refuses a program, or one of its relocations cannot be resolved, load the
    /// other programs and list it in `KernelObject.refusedPrograms` (its error carries the
    /// verifier log) instead of failing the whole object. A program array slot naming a refused
    /// program stays empty, with a warning.
    public var continueAfterRefusal = false
    /// The BTF CO-RE relocations, kfuncs, ksyms and attach targets are resolved against; nil
    /// reads the running kernel's (`/sys/kernel/btf/vmlinux`) when an object needs it.
    public var targetBTF: BTF?

    public init() {}
}

/// An object loaded into the Linux kernel: its BTF uploaded, its maps created (global data filled,
/// `.rodata` frozen, maps of maps and program arrays populated, pin-by-name maps reused), and its
/// programs relocated (map fds, CO-RE against the kernel's BTF, `.kconfig`, ksyms, kfuncs) and loaded
/// with their types, attach types, license and BTF info.
///
/// ```swift
/// let object = try ObjectFile(bytes: bytes)
/// let loaded = try KernelObject(object)
/// let run = try loaded.program(named: "xdp_counter")!.testRun(data: frame)
/// print(run.returnValue, try loaded.map(named: "proto_stats")!.keys().count)
/// ```
public final class KernelObject: Sendable {
    public let object: ObjectFile
    /// The object's BTF in the kernel (nil when the object has none, or the kernel refused it).
    public let btf: KernelBTF?
    /// The maps, in the object's order, with the spec each was created from.
    public let maps: [(spec: MapSpec, map: KernelMap)]
    /// The loaded programs by name.
    public let programs: [String: KernelProgram]
    /// The programs that were not loaded, by name, with why (the kernel's error and verifier log,
    /// or the relocation that failed). Empty unless `KernelLoadOptions.continueAfterRefusal` is set:
    /// otherwise the first refusal fails the load.
    public let refusedPrograms: [String: BPFError]
    /// Things that did not stop the load (BTF refused, a map created without its BTF types, ...).
    public let warnings: [String]
    /// Maps that were reused from their pin (`LIBBPF_PIN_BY_NAME`) rather than created.
    public let reusedPins: Set<String>
    /// The struct_ops maps laid out for this kernel (kernel type ids, value, function slots), by map name.
    public var structOpsLayouts: [String: StructOpsKernelLayout] { structOps.mapValues(\.layout) }
    /// The struct_ops maps' registration values, by map name (see `registerStructOps(_:)`).
    let structOps: [String: PreparedStructOps]

    /// The map with this name.
    public func map(named name: String) -> KernelMap? { maps.first { $0.spec.name == name }?.map }

    /// The program with this name.
    public func program(named name: String) -> KernelProgram? { programs[name] }

    /// Loads `object` into the running kernel.
    public init(_ object: ObjectFile, options: KernelLoadOptions = KernelLoadOptions()) throws(BPFError) {
        self.object = object
        var warnings: [String] = []
        var target = options.targetBTF
        func targetBTF(_ why: String) throws(BPFError) -> BTF {
            if let target { return target }
            do {
                let btf = try KernelBTF.vmlinux()
                target = btf
                return btf
            } catch {
                var failure = error
                failure.message = "\(why): " + failure.message
                throw failure
            }
        }

        // BTF, fixed up for the kernel.
        var uploaded: (btf: KernelBTF, encoder: BTFEncoder)?
        if object.btf != nil {
            var encoder = BTFEncoder(types: KernelObject.sanitisedTypes(object))
            // Line info names its file and source text by string offsets: put them in the table.
            for program in object.programs {
                for line in program.sourceLines.values {
                    _ = encoder.string(line.file)
                    _ = encoder.string(line.text)
                }
            }
            do { uploaded = (try KernelBTF.load(encoder.encoded()), encoder) } catch {
                if error.errno == .EPERM { throw error }
                warnings.append("the kernel refused the object's BTF, loading without it: \(error)")
            }
        }
        btf = uploaded?.btf

        // struct_ops maps: laid out against the kernel's BTF (its types and value sizes).
        var structOpsLayouts: [String: StructOpsKernelLayout] = [:]
        if object.maps.contains(where: { $0.structOps != nil }) {
            structOpsLayouts = try KernelObject.structOpsLayouts(object, kernel: try targetBTF("the object has struct_ops maps"))
        }

        // Maps.
        var maps: [(spec: MapSpec, map: KernelMap)] = []
        var reused: Set<String> = []
        for var spec in object.maps {
            if let layout = structOpsLayouts[spec.name] {
                spec.valueSize = layout.value.count
                maps.append((spec, try KernelMap.structOps(spec, layout: layout, btf: uploaded?.btf)))
                continue
            }
            if spec.type == .perfEventArray && spec.maxEntries == 0 { spec.maxEntries = try PossibleCPUs.count }
            if spec.readOnly { spec.flags |= KernelMap.Flag.rdonlyProg }
            // Global data is mmapable, as libbpf makes it, so user space reads and writes it in place.
            if KernelObject.isMmapable(spec, btf: object.btf) { spec.flags |= KernelMap.Flag.mmapable }
            if let given = options.reuseMaps[spec.name] {
                maps.append((spec, try KernelObject.reusePinnedMap(spec, at: given)))
                reused.insert(spec.name)
                continue
            }
            let pinPath = spec.pinning == 1 ? options.pinDirectory + "/" + spec.name : nil
            if let pinPath, FileManager.default.fileExists(atPath: pinPath) {
                let map = try KernelObject.reusePinnedMap(spec, at: pinPath)
                maps.append((spec, map))
                reused.insert(spec.name)
                continue
            }
            var inner: KernelMap?
            if spec.type == .arrayOfMaps || spec.type == .hashOfMaps {
                guard let innerSpec = spec.innerMap?.spec else {
                    throw BPFError.invalidArgument("map '\(spec.name)': a \(spec.type.kernelName) needs an inner map definition (__array(values, ...))", command: .mapCreate)
                }
                inner = try KernelMap(innerSpec)
            }
            let map: KernelMap
            func create(_ spec: MapSpec) throws(BPFError) -> KernelMap {
                if let kernelBTF = uploaded?.btf, KernelObject.takesBTFTypes(spec) {
                    do { return try KernelMap(spec, innerMap: inner, btf: kernelBTF) } catch where error.errno != .EPERM {
                        warnings.append("map '\(spec.name)' was created without its BTF types: \(error)")
                        return try KernelMap(spec, innerMap: inner)
                    }
                }
                return try KernelMap(spec, innerMap: inner)
            }
            do {
                do { map = try create(spec) } catch where error.errno == .EINVAL && spec.flags & KernelMap.Flag.mmapable != 0 {
                    // Kernels before 5.5 refuse BPF_F_MMAPABLE: then the data is reached by syscalls only.
                    spec.flags &= ~KernelMap.Flag.mmapable
                    map = try create(spec)
                }
            } catch {
                // Say so when this kernel lacks the map type altogether (the probe creates the smallest one).
                var failure = error
                if error.errno != .EPERM, case .unsupported(let why) = KernelFeatures.mapType(spec.type) {
                    failure.message += " — this kernel does not create \(spec.type.kernelName) maps (probed: \(why))"
                }
                throw failure
            }
            inner?.close()
            if spec.type == .arena, spec.initialValue?.contains(where: { $0 != 0 }) == true {
                // libbpf copies arena globals through a mapping of the arena; this loader does not map arenas yet.
                throw BPFError.invalidArgument("map '\(spec.name)': arena globals with initial values are not copied into a kernel arena by this loader yet (declare them zero-initialized)")
            }
            if var value = spec.initialValue, spec.type != .arena {
                if spec.name == ".kconfig" {
                    try KernelObject.fillKconfig(&value, object: object, btf: object.btf, overrides: options.kconfig)
                }
                do { try map.update(key: [0, 0, 0, 0], value: value) } catch {
                    var failure = error
                    failure.message = "map '\(spec.name)': filling its initial contents: " + failure.message
                    throw failure
                }
            }
            if spec.readOnly {
                do { try map.freeze() } catch {
                    var failure = error
                    failure.message = "map '\(spec.name)': " + failure.message
                    throw failure
                }
            }
            if let pinPath {
                do {
                    try FileManager.default.createDirectory(atPath: options.pinDirectory, withIntermediateDirectories: true)
                } catch {
                    throw BPFError.invalidArgument("map '\(spec.name)': cannot create the pin directory \(options.pinDirectory): \(error)")
                }
                try map.pin(at: pinPath)
            }
            maps.append((spec, map))
        }
        // Maps of maps start with the inner maps the object names.
        for (spec, map) in maps where (spec.type == .arrayOfMaps || spec.type == .hashOfMaps) && !reused.contains(spec.name) {
            for (slot, name) in spec.initialReferences.sorted(by: { $0.key < $1.key }) {
                guard let inner = maps.first(where: { $0.spec.name == name })?.map else {
                    throw BPFError.invalidArgument("map '\(spec.name)', slot \(slot): inner map '\(name)' does not exist")
                }
                do { try map.setFD(inner.fd, key: KernelObject.u32(UInt32(slot))) } catch {
                    var failure = error
                    failure.message = "map '\(spec.name)', slot \(slot) (inner map '\(name)'): " + failure.message
                    throw failure
                }
            }
        }
        self.maps = maps
        self.reusedPins = reused

        // Programs.
        var wanted = options.programs
        if wanted != nil {
            for spec in object.maps where spec.type == .programArray { wanted!.formUnion(spec.initialReferences.values) }
        }
        var relocator: CORERelocator?
        // One program, relocated and loaded.
        func load(_ spec: ProgramSpec) throws(BPFError) -> KernelProgram {
            var request = try KernelObject.request(for: spec, maps: maps, options: options)
            let place = { (index: Int) -> String in
                var text = "program '\(spec.name)' (section '\(spec.section)'), instruction \(index)"
                if let line = spec.sourceLine(at: index) { text += " (\(line))" }
                return text
            }
            // CO-RE.
            if !spec.coreRelocations.isEmpty {
                guard let local = object.btf else {
                    throw BPFError.invalidArgument("program '\(spec.name)': CO-RE relocations without BTF")
                }
                if relocator == nil {
                    let targetTypes = try targetBTF("program '\(spec.name)' has CO-RE relocations")
                    relocator = CORERelocator(local: local, target: targetTypes, index: KernelObject.index(for: targetTypes))
                }
                for relocation in spec.coreRelocations {
                    do {
                        let resolution = try relocator!.resolve(relocation)
                        try CORERelocator.patch(&request.instructions, at: relocation.instruction, with: resolution,
                                                kind: CORERelocationKind(rawValue: relocation.kind)!)
                    } catch {
                        throw BPFError.invalidArgument("\(place(relocation.instruction)): CO-RE relocation (kind \(relocation.kind), type '\(local.typeName(relocation.typeID))', access \(relocation.accessString)): \(error.message)")
                    }
                }
            }
            // Externs: ksyms and kfuncs, as libbpf resolves them.
            for (index, reference) in spec.references.sorted(by: { $0.key < $1.key }) {
                switch reference {
                case .external(let name):
                    let ext = object.externs.first { $0.name == name }
                    let isWeak = ext?.isWeak ?? false
                    let localFunction = object.btf?.typeID(named: name, kind: .function) != nil
                    let localVariable = object.btf?.typeID(named: name, kind: .variable).flatMap { object.btf?[$0] }
                    if localFunction || (localVariable.map { $0.referencedType != 0 } ?? false) {
                        // A typed ksym, or a kfunc's address (`bpf_ksym_exists`): its kernel BTF id (src 3).
                        let kernel = try targetBTF("\(place(index)): \(localFunction ? "kfunc" : "ksym") '\(name)'")
                        let kind: BTFKind = localFunction ? .function : .variable
                        if options.targetBTF == nil, kernel.typeID(named: name, kind: kind) == nil,
                           let module = try KernelBTF.module(declaring: name, kind: kind),
                           let id = try KernelObject.resolveKsym(name, function: localFunction, object: object, kernel: module.types, place: place(index)) {
                            // A module's ksym: its BTF id, and the module's BTF fd in the second half.
                            _ = request.moduleBTFIndex(module.btf)   // kept open until the load
                            request.instructions[index].src = LoadImmediateSource.btfID.rawValue
                            request.instructions[index].imm = Int32(id)
                            request.instructions[index + 1].imm = Int32(bitPattern: try module.btf.fd.checked(.progLoad))
                            continue
                        }
                        switch try KernelObject.resolveKsym(name, function: localFunction, object: object, kernel: kernel, place: place(index)) {
                        case .some(let id):
                            request.instructions[index].src = LoadImmediateSource.btfID.rawValue
                            request.instructions[index].imm = Int32(id)
                            request.instructions[index + 1].imm = 0   // vmlinux: no BTF object fd
                        case .none:
                            // A __weak extern missing from this kernel is 0, so `if (bpf_ksym_exists(f))` is dead code.
                            request.instructions[index].src = 0
                            request.instructions[index].imm = 0
                            request.instructions[index + 1].imm = 0
                        }
                    } else {
                        let address = KernelConfig.kernelSymbolAddress(name)
                        guard address != nil || isWeak else {
                            throw BPFError.invalidArgument("\(place(index)): extern '\(name)' is neither a .kconfig value nor a symbol in /proc/kallsyms")
                        }
                        request.instructions[index].src = 0
                        request.instructions[index].imm = Int32(bitPattern: UInt32(truncatingIfNeeded: address ?? 0))
                        request.instructions[index + 1].imm = Int32(bitPattern: UInt32(truncatingIfNeeded: (address ?? 0) >> 32))
                    }
                case .kfunc(let name):
                    let kernel = try targetBTF("\(place(index)): kfunc '\(name)'")
                    if options.targetBTF == nil, kernel.typeID(named: name, kind: .function) == nil,
                       let module = try KernelBTF.module(declaring: name, kind: .function) {
                        // A module's kfunc (conntrack, a test module): its id in the module's BTF, and
                        // the module's BTF fd in the load's fd_array, which the call's offset indexes.
                        if let id = try KernelObject.resolveKsym(name, function: true, object: object, kernel: module.types, place: place(index)) {
                            request.instructions[index].imm = Int32(id)
                            request.instructions[index].offset = request.moduleBTFIndex(module.btf)
                            continue
                        }
                    }
                    if let id = try KernelObject.resolveKsym(name, function: true, object: object, kernel: kernel, place: place(index)) {
                        request.instructions[index].imm = Int32(id)
                        request.instructions[index].offset = 0
                    } else {
                        // A __weak kfunc missing from this kernel: the call becomes a call of helper
                        // 2002000000 + its extern index, as libbpf poisons it; the verifier refuses it
                        // only if it is reachable (behind `bpf_ksym_exists`, it is not).
                        let ext = object.externs.firstIndex { $0.name == name } ?? 0
                        request.instructions[index] = Instruction(opcode: Opcode.call, dst: 0, src: 0, offset: 0,
                                                                  imm: KernelObject.poisonedKfuncCall + Int32(ext))
                    }
                default:
                    break
                }
            }
            // struct_ops: the kernel struct and the member the program implements.
            if spec.type == .structOps {
                let target = try KernelObject.structOpsTarget(of: spec, layouts: structOpsLayouts, object: object)
                request.attachBTFID = UInt32(target.typeID)
                request.structOpsMemberIndex = UInt32(target.memberIndex)
            }
            // The attach target's BTF id.
            if let attach = spec.attachType, KernelObject.attachesByBTF(attach), !spec.attachTarget.isEmpty {
                if let target = options.targetBTF {
                    guard let name = KernelObject.attachBTFName(spec), let id = target.typeID(named: name.name, kind: name.kind) else {
                        throw BPFError.invalidArgument("program '\(spec.name)' (section '\(spec.section)'): the target BTF has no '\(spec.attachTarget)' to attach to")
                    }
                    request.attachBTFID = UInt32(id)
                } else {
                    do { request.attachBTFID = try KernelBTF.attachID(for: attach, target: spec.attachTarget) } catch {
                        var failure = error
                        failure.message = "program '\(spec.name)' (section '\(spec.section)'): " + failure.message
                        throw failure
                    }
                }
            }
            // BTF function and line info.
            if let (kernelBTF, encoder) = uploaded {
                var encoder = encoder
                request.btf = kernelBTF
                request.functionInfo = spec.functionInfos.sorted { $0.instruction < $1.instruction }.map { ($0.instruction, $0.typeID) }
                request.lineInfo = spec.sourceLines.sorted { $0.key < $1.key }.map { index, line in
                    (index, encoder.string(line.file), encoder.string(line.text), line.line, line.column)
                }
            }
            do {
                return try KernelProgram.load(request)
            } catch {
                var failure = error
                failure.message = "program '\(spec.name)' (section '\(spec.section)'): " + failure.message
                // A refusal that is not the verifier's: say so when this kernel lacks the program type.
                if error.errno != .EACCES, error.errno != .EPERM, case .unsupported(let why) = KernelFeatures.programType(spec.type) {
                    failure.message += " — this kernel does not load \(spec.type.kernelName) programs (probed: \(why))"
                }
                throw failure
            }
        }
        var programs: [String: KernelProgram] = [:]
        var refused: [String: BPFError] = [:]
        for spec in object.programs where wanted?.contains(spec.name) ?? true {
            do { programs[spec.name] = try load(spec) } catch {
                guard options.continueAfterRefusal else { throw error }
                refused[spec.name] = error
            }
        }
        self.programs = programs
        self.refusedPrograms = refused
        self.structOps = KernelObject.prepareStructOps(structOpsLayouts, programs: programs)

        // Program arrays start with the programs the object names.
        for (spec, map) in maps where spec.type == .programArray && !reused.contains(spec.name) {
            for (slot, name) in spec.initialReferences.sorted(by: { $0.key < $1.key }) {
                guard let program = programs[name] else {
                    if refused[name] != nil {
                        warnings.append("program array '\(spec.name)', slot \(slot): left empty, program '\(name)' was refused")
                        continue
                    }
                    throw BPFError.invalidArgument("program array '\(spec.name)', slot \(slot): program '\(name)' was not loaded")
                }
                do { try map.setFD(program.fd, key: KernelObject.u32(UInt32(slot))) } catch {
                    var failure = error
                    failure.message = "program array '\(spec.name)', slot \(slot) (program '\(name)'): " + failure.message
                    throw failure
                }
            }
        }
        self.warnings = warnings
    }

    /// Whether a map is created `BPF_F_MMAPABLE`: global data (`.data`, `.bss`, `.rodata`, `.kconfig`,
    /// their `.*` variants) whose BTF data section holds a variable that is not static — libbpf's
    /// `map_is_mmapable` (sections of string literals, such as `.rodata.str1.1`, have none).
    public static func isMmapable(_ spec: MapSpec, btf: BTF?) -> Bool {
        guard spec.isGlobalData, spec.type == .array, let btf, spec.valueType != nil,
              let section = btf[spec.valueType!], section.kind == .dataSection,
              case let .variables(variables) = section.detail else { return false }
        return variables.contains { v in
            guard let variable = btf[v.type], variable.kind == .variable, case .linkage(let linkage) = variable.detail else { return false }
            return linkage != 0
        }
    }

    /// Whether the kernel takes BTF key/value types for this map: it needs a value type, and a key
    /// type unless the map kind has no keys it checks (arrays, bloom filters); queues and stacks take none.
    static func takesBTFTypes(_ spec: MapSpec) -> Bool {
        guard spec.valueType != nil else { return false }
        switch spec.type {
        case .queue, .stack, .ringBuffer, .userRingBuffer, .programArray, .perfEventArray, .arrayOfMaps, .hashOfMaps: return false
        case .array, .perCPUArray, .bloomFilter: return true
        default: return spec.keyType != nil
        }
    }

    /// The kernel BTF id of extern `name` (a kfunc when `function`, else a typed ksym variable), as
    /// libbpf resolves it: found by name and kind in the kernel's BTF, its type compatible with the
    /// object's declaration (`CORERelocator.typesCompatible`). nil when it is missing or incompatible
    /// and the extern is `__weak`; an error naming the place otherwise.
    static func resolveKsym(_ name: String, function: Bool, object: ObjectFile, kernel: BTF, place: String) throws(BPFError) -> Int? {
        let kind: BTFKind = function ? .function : .variable
        let what = function ? "kfunc" : "ksym"
        let isWeak = object.externs.first { $0.name == name }?.isWeak ?? false
        guard let id = kernel.typeID(named: name, kind: kind) else {
            if isWeak { return nil }
            throw BPFError.invalidArgument("\(place): \(what) '\(name)' is not a \(function ? "function" : "variable") in the kernel's BTF (declare it __weak to load without it)")
        }
        if let local = object.btf, let localID = local.typeID(named: name, kind: kind), let localType = local[localID],
           let kernelType = kernel[id],
           !CORERelocator.typesCompatible(localType.referencedType, in: local, kernelType.referencedType, in: kernel) {
            if isWeak { return nil }
            throw BPFError.invalidArgument("\(place): \(what) '\(name)': its declaration (\(local.typeName(localType.referencedType))) is incompatible with the kernel's (\(kernel.typeName(kernelType.referencedType)), BTF id \(kernelType.referencedType))")
        }
        return id
    }

    /// The helper id a call of a missing `__weak` kfunc gets, plus the extern's index (libbpf's
    /// `POISON_CALL_KFUNC_BASE`): no helper has it, so the verifier refuses the call if it is reachable.
    public static let poisonedKfuncCall: Int32 = 2_002_000_000

    static func u32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    /// The load request of one program: its instructions with map fds patched in, its types and flags.
    static func request(for spec: ProgramSpec, maps: [(spec: MapSpec, map: KernelMap)], options: KernelLoadOptions) throws(BPFError) -> ProgramLoadRequest {
        guard spec.type != .unspecified else {
            throw BPFError.invalidArgument("program '\(spec.name)': section '\(spec.section)' names no program type (use a libbpf SEC() name such as xdp, tc, tracepoint/...)")
        }
        var request = ProgramLoadRequest(type: spec.type, instructions: spec.instructions)
        request.name = spec.name
        request.license = spec.license.isEmpty ? "GPL" : spec.license
        request.expectedAttachType = KernelObject.expectedAttachType(for: spec)
        request.kernelVersion = spec.kernelVersion ?? KernelConfig.runningVersionCode
        request.logLevel = options.logLevel
        request.logSize = options.logSize
        let kind = SectionKind(section: spec.section)
        let convention = kind?.convention ?? ""
        if spec.isSleepable {
            request.flags |= ProgramLoadRequest.Flag.sleepable
        }
        if convention.hasPrefix("xdp.frags") { request.flags |= ProgramLoadRequest.Flag.xdpHasFrags }
        for (index, reference) in spec.references {
            let mapName: String
            switch reference {
            case .map(let name): mapName = name
            case .mapValue(let name, _): mapName = name
            default: continue
            }
            guard let map = maps.first(where: { $0.spec.name == mapName })?.map else {
                throw BPFError.invalidArgument("program '\(spec.name)' (section '\(spec.section)'), instruction \(index): map '\(mapName)' does not exist")
            }
            guard index + 1 < request.instructions.count else {
                throw BPFError.invalidArgument("program '\(spec.name)', instruction \(index): lddw without its second slot")
            }
            request.instructions[index].imm = map.fd.rawValue
        }
        return request
    }

    /// The expected attach type a program is loaded with: its section's, except that `usdt` programs
    /// get `BPF_TRACE_UPROBE_MULTI` on kernels with uprobe-multi links (6.6 and newer), as libbpf
    /// sends them — they are then attached through one uprobe-multi link per binary.
    public static func expectedAttachType(for spec: ProgramSpec) -> AttachType? {
        if spec.type == .kprobe, SectionKind(section: spec.section)?.convention.hasPrefix("usdt") == true,
           KernelObject.hasUprobeMultiLinks {
            return .traceUprobeMulti
        }
        return spec.attachType
    }

    /// Whether the running kernel has uprobe-multi links (Linux 6.6, `BPF_TRACE_UPROBE_MULTI`).
    public static var hasUprobeMultiLinks: Bool { KernelConfig.runningVersionCode >= 0x06_06_00 }

    /// Whether programs of this attach type name their hook by BTF id at load.
    static func attachesByBTF(_ attach: AttachType) -> Bool {
        switch attach {
        case .traceFentry, .traceFexit, .modifyReturn, .traceRawTp, .lsmMac, .lsmCgroup, .traceIter: true
        default: false
        }
    }

    /// What a tracing, LSM or iterator program's attach target is called in the kernel's BTF.
    static func attachBTFName(_ spec: ProgramSpec) -> (name: String, kind: BTFKind)? {
        guard let attach = spec.attachType, !spec.attachTarget.isEmpty else { return nil }
        return KernelBTF.attachTargetName(for: attach, target: spec.attachTarget)
    }

    /// Fills the `.kconfig` value: each extern from `overrides`, else from the running kernel.
    static func fillKconfig(_ value: inout [UInt8], object: ObjectFile, btf: BTF?, overrides: [String: [UInt8]]) throws(BPFError) {
        for (name, entry) in object.kconfigExterns {
            var bytes: [UInt8]?
            if let override = overrides[name] {
                bytes = override
            } else if name == "LINUX_KERNEL_VERSION" {
                bytes = withUnsafeBytes(of: KernelConfig.runningVersionCode.littleEndian) { Array($0) }
            } else if name == "LINUX_HAS_BPF_COOKIE" {
                // usdt.bpf.h: spec ids travel as BPF cookies (Linux 5.15), else by address.
                bytes = [USDTAttach.kernelHasBPFCookies ? 1 : 0]
            } else if let text = KernelConfig.running[name], let btf,
                      let variable = btf.typeID(named: name, kind: .variable).flatMap({ btf[$0] }) {
                bytes = KernelConfig.value(text, type: variable.referencedType, size: entry.size, btf: btf)
                if bytes == nil {
                    throw BPFError.invalidArgument(".kconfig extern '\(name)': the kernel's value '\(text)' does not fit its type \(btf.typeName(variable.referencedType))")
                }
            }
            guard let bytes else { continue }   // unknown: zero, as for a __weak extern
            for (i, b) in bytes.prefix(entry.size).enumerated() { value[entry.offset + i] = b }
        }
    }

    /// Opens a pinned map for reuse and checks it matches the definition.
    static func reusePinnedMap(_ spec: MapSpec, at path: String) throws(BPFError) -> KernelMap {
        let map: KernelMap
        do { map = try KernelMap.pinned(at: path) } catch {
            var failure = error
            failure.message = "map '\(spec.name)' (reused from \(path)): " + failure.message
            throw failure
        }
        let info = try map.info()
        let expected = (spec.type.rawValue, spec.keySize, spec.valueSize, spec.maxEntries, spec.flags)
        let found = (info.rawType, info.keySize, info.valueSize, info.maxEntries, info.flags)
        guard expected == found else {
            throw BPFError.invalidArgument("map '\(spec.name)': the map pinned at \(path) does not match its definition (type, key, value, max_entries, flags: \(found) in the pin, \(expected) in the object)")
        }
        return map
    }

    /// The object's BTF types, fixed for the kernel: data sections sorted and sized (`.kconfig`
    /// laid out as the loader places its externs), extern variables made global (or, outside
    /// `.kconfig`, replaced by plain ints), extern functions (kfuncs) made global with every
    /// parameter named, and sections without a map (`.ksyms`) replaced by plain ints.
    public static func sanitisedTypes(_ object: ObjectFile) -> [BTFType] {
        guard let btf = object.btf else { return [] }
        var types = btf.types
        let intDetail = BTFType.Detail.integer(signed: false, char: false, bool: false, bitOffset: 0, bits: 32)
        func makeInt(_ i: Int) {
            types[i].kind = .int
            types[i].name = ""
            types[i].kindFlag = false
            types[i].sizeOrType = 4
            types[i].detail = intDetail
        }
        var kconfigVariables: Set<Int> = []
        for (i, type) in btf.types.enumerated() where type.kind == .dataSection {
            guard case var .variables(vars) = type.detail else { continue }
            if type.name == ".kconfig" {
                for j in vars.indices {
                    guard let variable = btf[vars[j].type], let entry = object.kconfigExterns[variable.name] else { continue }
                    vars[j].offset = entry.offset
                    vars[j].size = entry.size
                    kconfigVariables.insert(vars[j].type)
                }
                types[i].sizeOrType = object.map(named: ".kconfig")?.valueSize ?? 0
            } else if let map = object.map(named: type.name), map.isGlobalData {
                types[i].sizeOrType = map.valueSize
            } else if type.name != ".maps" {
                makeInt(i)
                continue
            }
            vars.sort { $0.offset < $1.offset }
            types[i].detail = .variables(vars)
            if vars.isEmpty { makeInt(i) }
        }
        for (i, type) in btf.types.enumerated() {
            if type.kind == .variable, case .linkage(let linkage) = type.detail, linkage == 2 {
                if kconfigVariables.contains(i) {
                    types[i].detail = .linkage(1)
                } else {
                    makeInt(i)
                }
            } else if type.kind == .function, case .linkage(let linkage) = type.detail, linkage == 1,
                      object.hiddenFunctions.contains(type.name) {
                // A __hidden global function: static, as libbpf sends it, so the kernel verifies it
                // with its caller's context rather than under the rules for global functions.
                types[i].detail = .linkage(0)
            } else if type.kind == .function, case .linkage(let linkage) = type.detail, linkage == 2 {
                // An extern function (a kfunc): global, its unnamed parameters named, as libbpf sends
                // it (the kernel refuses a function whose parameters have no names).
                types[i].detail = .linkage(1)
                let proto = type.referencedType
                if proto > 0 && proto < types.count, case .parameters(var parameters) = types[proto].detail {
                    for j in parameters.indices where parameters[j].type != 0 && parameters[j].name.isEmpty {
                        parameters[j].name = "dummy_ksym"
                    }
                    types[proto].detail = .parameters(parameters)
                }
            }
        }
        return types
    }

    /// The candidate index of a target BTF, computed once for the running kernel's.
    static func index(for btf: BTF) -> CORERelocator.CandidateIndex {
        if let vmlinux = try? KernelBTF.vmlinux(), vmlinux.types.count == btf.types.count, vmlinux.types.last == btf.types.last,
           let index = vmlinuxIndex {
            return index
        }
        return CORERelocator.CandidateIndex(btf)
    }

    static let vmlinuxIndex: CORERelocator.CandidateIndex? = {
        guard let btf = try? KernelBTF.vmlinux() else { return nil }
        return CORERelocator.CandidateIndex(btf)
    }()
}
