import BPFCore
import BPFLinux
import BPFObject
import Foundation

/// Helper ids the generated code calls.
enum HelperID {
    static let mapLookup: Int32 = 1, mapUpdate: Int32 = 2, mapDelete: Int32 = 3, ktimeGetNs: Int32 = 5, prandom: Int32 = 7
    static let smpProcessorID: Int32 = 8, getStackID: Int32 = 27, currentPidTgid: Int32 = 14, currentUidGid: Int32 = 15, currentComm: Int32 = 16
    static let currentTask: Int32 = 35, probeReadString: Int32 = 45, probeReadKernel: Int32 = 113, currentCgroupID: Int32 = 80, ringbufOutput: Int32 = 130
}

/// What every probe of one script shares while it compiles: maps and events.
final class CompilationState {
    var maps: [String: MapLayout] = [:]
    var events: [EventKind] = []
    /// The second pass: every map's layout is known (the first pass collects them).
    var finalPass = false
    /// Whether a probe uses `kstack`/`ustack` (the object then has a stack map).
    var usesStacks = false
    /// `elapsed` counts from here (CLOCK_MONOTONIC, as `bpf_ktime_get_ns`).
    let startTime: UInt64

    /// The kernel's types (given, or read from /sys/kernel/btf/vmlinux when a script first needs them).
    var kernelTypes: KernelTypes?

    init(startTime: UInt64, btf: BTF? = nil) {
        self.startTime = startTime
        kernelTypes = btf.map(KernelTypes.init)
    }

    func types(_ location: SourceLocation) throws(TraceError) -> KernelTypes {
        if let kernelTypes { return kernelTypes }
        do {
            let types = KernelTypes(btf: try KernelBTF.vmlinux())
            kernelTypes = types
            return types
        } catch {
            throw TraceError("struct member access needs the kernel's BTF: \(error.message)", at: location)
        }
    }

    func event(_ kind: EventKind) -> Int32 {
        events.append(kind)
        return Int32(events.count - 1)
    }
}

/// A value the generated code holds: an integer in r0, or a string in a stack buffer.
enum Operand {
    case integer(signed: Bool)
    case string(offset: Int, size: Int)
}

/// Generates one probe's program.
struct ProbeCodeGen {
    static let eventsMap = "events"
    static let stacksMap = "stacks"
    /// Frames kept per stack (the kernel's default `perf_event_max_stack`, as bpftrace keeps).
    static let stackDepth = 127
    static let lostMap = "lost"
    static let stringSize = 64

    var e = Emitter()
    let probe: ResolvedProbe
    let fields: [String: TracepointField]
    let state: CompilationState
    var tempTop = 0
    var variableTop = 0
    var variables: [String: (type: ValueType, offset: Int)] = [:]
    /// The kernel types of variables assigned typed pointers (`$t = (struct task_struct *)curtask`).
    var variableShapes: [String: KernelTypes.Shape] = [:]
    /// Variables assigned `curtask` (typed only when a member is read, so BTF is read only then).
    var taskVariables: Set<String> = []
    /// The program's `return 0`, where `exit()` jumps after its event.
    var epilogue = Label(id: 0)

    init(probe: ResolvedProbe, fields: [TracepointField], state: CompilationState) {
        self.probe = probe
        self.state = state
        var byName: [String: TracepointField] = [:]
        for field in fields { byName[field.name] = field }
        self.fields = byName
    }

    // MARK: The program

    /// The program: `r6 = ctx`, the variables zeroed, the predicate, the body, `return 0`.
    mutating func generate(_ definition: ProbeDefinition) throws(TraceError) -> (instructions: [Instruction], references: [Int: ProgramReference], locations: [Int: SourceLocation]) {
        e.currentLocation = definition.location
        let end = e.newLabel()
        epilogue = end
        if let predicate = definition.predicate {
            try requireInteger(predicate, "the predicate")
            _ = try genInteger(predicate)
            e.jump(.jeq, .r0, 0, end)
        }
        try genBlock(definition.body)
        e.bind(end)
        e.currentLocation = definition.location
        e.mov(.r0, 0)
        e.exit()
        let body = e.finish()
        // The prologue, put in front: nothing jumps across it, so only indexes move.
        var prologue = Emitter()
        prologue.currentLocation = definition.location
        prologue.mov(.r6, .r1)
        for offset in stride(from: 0, to: variableTop, by: 8) { prologue.store(.doubleWord, .r10, -512 + offset, imm: 0) }
        let shift = prologue.instructions.count
        var references: [Int: ProgramReference] = [:]
        for (i, r) in e.references { references[i + shift] = r }
        var locations = prologue.locations
        for (i, l) in e.locations { locations[i + shift] = l }
        return (prologue.instructions + body, references, locations)
    }

    // MARK: Stack

    func fail(_ message: String, _ location: SourceLocation) -> TraceError { TraceError(message, at: location) }

    mutating func temp(_ size: Int) throws(TraceError) -> Int {
        tempTop += (size + 7) & ~7
        try checkStack()
        return -tempTop
    }

    func checkStack() throws(TraceError) {
        if tempTop + variableTop > 512 {
            throw fail("the probe needs more than the 512 bytes of stack eBPF allows (strings take \(ProbeCodeGen.stringSize) bytes; use fewer or shorter ones)", e.currentLocation)
        }
    }

    mutating func zero(_ offset: Int, _ size: Int) {
        for i in stride(from: 0, to: size, by: 8) { e.store(.doubleWord, .r10, offset + i, imm: 0) }
    }

    /// Copies `size` bytes (a multiple of 8) between stack buffers.
    mutating func copy(from source: Int, to destination: Int, _ size: Int) {
        for i in stride(from: 0, to: size, by: 8) {
            e.load(.doubleWord, .r1, .r10, source + i)
            e.store(.doubleWord, .r10, destination + i, .r1)
        }
    }

    // MARK: Types

    func typeOf(_ x: Expression) throws(TraceError) -> ValueType {
        switch x.kind {
        case .integer: return .integer(signed: true)
        case .string(let s): return .string(s.utf8.count + 1)
        case .builtin(let name): return try builtinType(name, x.location)
        case .variable(let name):
            guard let v = variables[name] else { throw fail("variable $\(name) is used before it is assigned", x.location) }
            return v.type
        case .map(let name, _):
            guard let layout = state.maps[name] else {
                if state.finalPass { throw fail("map \(mapName(name)) is read but never assigned", x.location) }
                return .integer(signed: true)
            }
            switch layout.kind {
            case .count: return .integer(signed: false)
            case .sum, .min, .max: return .integer(signed: true)
            case .value(let t): return t
            case .avg, .stats, .hist, .lhist:
                throw fail("map \(mapName(name)) holds \(layout.kind): it can be printed, not read as a value", x.location)
            }
        case .call(let name, let arguments):
            switch name {
            case "kstack", "ustack":
                guard arguments.count == 1, case .integer(let n) = arguments[0].kind, n > 0, n <= ProbeCodeGen.stackDepth else {
                    throw fail("\(name)(N) takes a constant number of frames from 1 to \(ProbeCodeGen.stackDepth)", x.location)
                }
                return .stack(user: name == "ustack", frames: Int(n))
            case "str":
                guard arguments.count == 1 || arguments.count == 2 else { throw fail("str() takes a value and an optional length", x.location) }
                let inner = try typeOf(arguments[0])
                if inner.isString { return inner }
                if arguments.count == 2 {
                    guard case .integer(let n) = arguments[1].kind, n > 0, n <= 200 else {
                        throw fail("str()'s length must be a constant from 1 to 200", arguments[1].location)
                    }
                    return .string(Int(n) + 1)
                }
                return .string(ProbeCodeGen.stringSize)
            case "printf", "exit", "print", "clear", "zero", "delete", "time":
                return .none
            case "count", "sum", "min", "max", "avg", "stats", "hist", "lhist":
                throw fail("\(name)() can only be assigned to a map (@x = \(name)(...))", x.location)
            default:
                throw fail("unknown function '\(name)'", x.location)
            }
        case .cast:
            _ = try shapeOf(x)
            return .integer(signed: false)
        case .field(let base, let name):
            if !isTracepointArgument(base) {
                let shape = isFunctionArgument(base) ? try functionParameter(name, x.location).shape : try memberOf(base, name, x.location).shape
                switch shape {
                case .integer(_, let signed): return .integer(signed: signed)
                case .pointer: return .integer(signed: false)
                case .characters(let n): return .string(n)
                case .record(let id):
                    let typeName = try state.types(x.location).name(of: id)
                    throw fail("\(typeName) is a struct: use one of its members", x.location)
                case .unsupported(let what): throw fail("\(name) is \(what): only integers, pointers and char arrays can be read", x.location)
                }
            }
            let field = try tracepointField(base, name, x.location)
            if let n = field.arrayLength, field.type.hasPrefix("char") || field.type.hasPrefix("unsigned char") { return .string(n) }
            if field.isDataLocation || field.arrayLength != nil || field.size > 8 {
                throw fail("args.\(name) (\(field.type)) is not supported: only integers, pointers and char arrays", x.location)
            }
            return .integer(signed: field.isSigned)
        case .unary(let op, let operand):
            let t = try typeOf(operand)
            guard case .integer(let signed) = t else { throw fail("'\(op)' needs an integer, not \(t)", x.location) }
            return .integer(signed: op == "!" ? false : (op == "-" ? true : signed))
        case .binary(let op, let a, let b):
            let ta = try typeOf(a), tb = try typeOf(b)
            if op == "==" || op == "!=" {
                guard ta.isString == tb.isString else { throw fail("'\(op)' compares \(ta) with \(tb)", x.location) }
                return .integer(signed: false)
            }
            guard case .integer(let sa) = ta, case .integer(let sb) = tb else {
                throw fail("'\(op)' needs integers, not \(ta) and \(tb)", x.location)
            }
            if ["<", "<=", ">", ">=", "&&", "||"].contains(op) { return .integer(signed: false) }
            return .integer(signed: sa && sb)
        case .ternary(let c, let a, let b):
            try requireInteger(c, "the condition")
            let ta = try typeOf(a), tb = try typeOf(b)
            guard let t = ta.widened(with: tb) else { throw fail("the branches of '?:' have different types: \(ta) and \(tb)", x.location) }
            return t
        }
    }

    func requireInteger(_ x: Expression, _ what: String) throws(TraceError) {
        let t = try typeOf(x)
        guard t.isInteger else { throw fail("\(what) must be an integer, not \(t)", x.location) }
    }

    func mapName(_ name: String) -> String { "@" + name }

    var functionName: String? {
        switch probe.kind {
        case .kprobe(let f), .kretprobe(let f), .fentry(let f), .fexit(let f): f
        case .uprobe(_, let s), .uretprobe(_, let s): s
        default: nil
        }
    }

    /// The context offset of `argN`: pt_regs (x86-64) for kprobes, uprobes and perf events, the
    /// u64 array of raw tracepoints.
    func argumentOffset(_ n: Int, _ location: SourceLocation) throws(TraceError) -> Int {
        switch probe.kind {
        case .kprobe, .uprobe, .profile, .kretprobe, .uretprobe, .software:
            let offsets = [112, 104, 96, 88, 72, 64]   // di, si, dx, cx, r8, r9
            guard n < offsets.count else { throw fail("arg\(n): only arg0 to arg5 are in registers", location) }
            return offsets[n]
        case .rawTracepoint, .app, .fentry, .fexit:
            guard n < 12 else { throw fail("arg\(n): a raw tracepoint or app probe has at most 12 arguments", location) }
            return 8 * n
        default:
            throw fail("arg\(n) is not available in \(probe.name) (kprobe, uprobe, rawtracepoint and app probes have it; tracepoints have args.NAME)", location)
        }
    }

    func builtinType(_ name: String, _ location: SourceLocation) throws(TraceError) -> ValueType {
        switch name {
        case "pid", "tid", "uid", "gid", "nsecs", "elapsed", "cpu", "curtask", "rand", "cgroup", "ctx": return .integer(signed: false)
        case "comm": return .string(16)
        case "kstack", "ustack": return .stack(user: name == "ustack", frames: ProbeCodeGen.stackDepth)
        case "probe": return .string(probe.name.utf8.count + 1)
        case "func":
            guard let f = functionName else { throw fail("func is only available in kprobe, kretprobe, uprobe and uretprobe probes", location) }
            return .string(f.utf8.count + 1)
        case "retval":
            switch probe.kind {
            case .kretprobe, .uretprobe: return .integer(signed: true)
            case .fexit:
                let shape = try state.types(location).shape(of: try functionPrototype(location).returnType)
                switch shape {
                case .integer(_, let signed): return .integer(signed: signed)
                case .pointer: return .integer(signed: false)
                default: throw fail("retval of \(probe.name) is \(shape): not an integer or a pointer", location)
                }
            default: throw fail("retval is only available in kretprobe, uretprobe and fexit probes", location)
            }
        case "args":
            switch probe.kind {
            case .tracepoint, .fentry, .fexit: break
            default: throw fail("args is only available in tracepoint, fentry and fexit probes", location)
            }
            throw fail("args needs a field: args.NAME", location)
        default:
            if name.hasPrefix("arg"), let n = Int(name.dropFirst(3)) {
                _ = try argumentOffset(n, location)
                return .integer(signed: false)
            }
            throw fail("unknown builtin '\(name)'", location)
        }
    }

    func tracepointField(_ base: Expression, _ name: String, _ location: SourceLocation) throws(TraceError) -> TracepointField {
        guard case .builtin("args") = base.kind else { throw fail("only args.NAME has tracepoint fields", location) }
        guard case .tracepoint(let category, let tp) = probe.kind else { throw fail("args is only available in tracepoint probes", base.location) }
        guard let field = fields[name] else {
            let names = fields.keys.filter { !$0.hasPrefix("common_") }.sorted().joined(separator: ", ")
            throw fail("tracepoint \(category):\(tp) has no field '\(name)' (fields: \(names))", location)
        }
        return field
    }

    // MARK: Kernel types

    /// Whether `base` is the `args` of an fentry/fexit probe (its fields are the function's parameters).
    func isFunctionArgument(_ base: Expression) -> Bool {
        guard case .builtin("args") = base.kind else { return false }
        switch probe.kind {
        case .fentry, .fexit: return true
        default: return false
        }
    }

    /// The BTF prototype of the fentry/fexit probe's function: its parameters and return type.
    func functionPrototype(_ location: SourceLocation) throws(TraceError) -> (parameters: [BTFParameter], returnType: Int) {
        let function: String
        switch probe.kind {
        case .fentry(let f), .fexit(let f): function = f
        default: throw fail("args.NAME and retval by BTF are only available in fentry and fexit probes", location)
        }
        let btf = try state.types(location).btf
        guard let id = btf.typeID(named: function, kind: .function), let f = btf[id], let proto = btf[f.referencedType],
              case .parameters(let parameters) = proto.detail else {
            throw fail("the kernel's BTF has no function '\(function)'", location)
        }
        return (parameters, proto.referencedType)
    }

    /// The parameter `name` of the fentry/fexit probe's function: its slot and kernel type.
    func functionParameter(_ name: String, _ location: SourceLocation) throws(TraceError) -> (index: Int, shape: KernelTypes.Shape) {
        let (parameters, _) = try functionPrototype(location)
        guard let index = parameters.firstIndex(where: { $0.name == name }) else {
            throw fail("\(probe.name) has no argument '\(name)' (arguments: \(parameters.map(\.name).joined(separator: ", ")))", location)
        }
        return (index, try state.types(location).shape(of: parameters[index].type))
    }

    /// Loads a function argument (or the return value) from the tracing context's u64 slot `index`,
    /// narrowed to its type.
    mutating func genFunctionSlot(_ index: Int, _ shape: KernelTypes.Shape, _ name: String, _ location: SourceLocation) throws(TraceError) -> Operand {
        e.load(.doubleWord, .r0, .r6, 8 * index)
        switch shape {
        case .integer(let size, let signed):
            if size < 8 {
                e.alu(.lsh, .r0, Int32(64 - size * 8))
                e.alu(signed ? .arsh : .rsh, .r0, Int32(64 - size * 8))
            }
            return .integer(signed: signed)
        case .pointer:
            return .integer(signed: false)
        default:
            throw fail("\(name) is not an integer or a pointer: it cannot be read", location)
        }
    }

    /// Whether `base` is a tracepoint's `args` (its fields come from tracefs).
    func isTracepointArgument(_ base: Expression) -> Bool {
        guard case .builtin("args") = base.kind, case .tracepoint = probe.kind else { return false }
        return true
    }

    /// The kernel type of a typed-pointer expression (a cast, `curtask`, a member, a variable
    /// assigned one), or nil for plain values.
    func shapeOf(_ x: Expression) throws(TraceError) -> KernelTypes.Shape? {
        switch x.kind {
        case .cast(let type, let inner):
            try requireInteger(inner, "the operand of (\(type) *)")
            let types = try state.types(x.location)
            guard let id = types.record(named: type) else { throw fail("the kernel's BTF has no \(type)", x.location) }
            return .pointer(pointee: id)
        case .builtin("curtask"):
            return try taskPointer(x.location)
        case .variable(let name):
            if taskVariables.contains(name) { return try taskPointer(x.location) }
            return variableShapes[name]
        case .field(let base, let name) where isFunctionArgument(base):
            return try functionParameter(name, x.location).shape
        case .builtin("retval"):
            guard case .fexit = probe.kind else { return nil }
            return try state.types(x.location).shape(of: try functionPrototype(x.location).returnType)
        case .field(let base, let name):
            if isTracepointArgument(base) {
                // A tracefs field typed `struct NAME *` points into the kernel's types.
                let field = try tracepointField(base, name, x.location)
                let type = field.type.replacingOccurrences(of: "const ", with: "")
                guard field.arrayLength == nil, type.hasPrefix("struct "), type.hasSuffix("*"), !type.dropLast().hasSuffix("*") else { return nil }
                let record = String(type.dropLast()).trimmingCharacters(in: .whitespaces)
                guard let id = try state.types(x.location).record(named: record) else { return nil }
                return .pointer(pointee: id)
            }
            return try memberOf(base, name, x.location).shape
        default:
            return nil
        }
    }

    func taskPointer(_ location: SourceLocation) throws(TraceError) -> KernelTypes.Shape {
        guard let id = try state.types(location).record(named: "struct task_struct") else {
            throw fail("the kernel's BTF has no struct task_struct", location)
        }
        return .pointer(pointee: id)
    }

    /// The member `name` of what `base` is (a struct pointer, or a struct reached through one).
    func memberOf(_ base: Expression, _ name: String, _ location: SourceLocation) throws(TraceError) -> (member: KernelTypes.Member, shape: KernelTypes.Shape, throughPointer: Bool) {
        guard let baseShape = try shapeOf(base) else {
            if case .builtin("args") = base.kind {
                throw fail("args is only available in tracepoint probes", base.location)
            }
            throw fail("only args, curtask, (struct NAME *) casts and their members have fields; this has no kernel type", location)
        }
        let types = try state.types(location)
        let record: Int, throughPointer: Bool
        switch baseShape {
        case .pointer(let pointee):
            guard case .record(let id) = types.shape(of: pointee) else {
                throw fail("\(types.name(of: pointee)) * is not a pointer to a struct: it has no member '\(name)'", location)
            }
            record = id
            throughPointer = true
        case .record(let id):
            record = id
            throughPointer = false
        default:
            throw fail("this value is not a struct or a pointer to one: it has no member '\(name)'", location)
        }
        guard let member = types.member(name, of: record) else {
            let names = types.memberNames(of: record)
            let list = names.count <= 24 ? " (members: \(names.joined(separator: ", ")))" : ""
            throw fail("\(types.name(of: record)) has no member '\(name)'\(list)", location)
        }
        if member.bitfieldSize > 0 { throw fail("\(types.name(of: record)).\(name) is a bitfield: not supported yet", location) }
        return (member, types.shape(of: member.type), throughPointer)
    }

    /// Leaves in r0 the kernel address of the member `x` (`base->name`) names.
    mutating func genMemberAddress(_ x: Expression) throws(TraceError) {
        guard case .field(let base, let name) = x.kind else { throw fail("expected a member", x.location) }
        let (member, _, throughPointer) = try memberOf(base, name, x.location)
        if throughPointer {
            try genInteger(base)
        } else {
            try genMemberAddress(base)
        }
        if member.offset != 0 { e.alu(.add, .r0, Int32(member.offset)) }
    }

    /// Reads a member through `bpf_probe_read_kernel`: an integer (sign-extended), a pointer, or a
    /// `char[N]` as a string.
    mutating func genMemberRead(_ x: Expression, _ base: Expression, _ name: String, _ type: ValueType) throws(TraceError) -> Operand {
        let shape = try memberOf(base, name, x.location).shape
        let size: Int
        switch shape {
        case .integer(let n, _): size = n
        case .pointer: size = 8
        case .characters(let n): size = n
        default: throw fail("\(name) cannot be read as a value", x.location)
        }
        let buffer = try temp(size)
        if case .characters = shape { zero(buffer, (size + 7) & ~7) }
        let mark = tempTop
        try genMemberAddress(x)
        tempTop = mark
        e.mov(.r3, .r0)
        e.stackAddress(.r1, buffer)
        e.mov(.r2, Int32(size))
        e.call(HelperID.probeReadKernel)
        if case .characters(let n) = shape {
            return .string(offset: buffer, size: n)
        }
        let width: MemorySize = switch size {
        case 1: .byte
        case 2: .half
        case 4: .word
        default: .doubleWord
        }
        e.load(width, .r0, .r10, buffer)
        if case .integer(let n, true) = shape, n < 8 {
            e.alu(.lsh, .r0, Int32(64 - n * 8))
            e.alu(.arsh, .r0, Int32(64 - n * 8))
        }
        return .integer(signed: type == .integer(signed: true))
    }

    // MARK: Expressions

    @discardableResult
    mutating func genInteger(_ x: Expression) throws(TraceError) -> Bool {
        guard case .integer(let signed) = try gen(x) else { throw fail("expected an integer", x.location) }
        return signed
    }

    mutating func gen(_ x: Expression) throws(TraceError) -> Operand {
        let saved = e.currentLocation
        e.currentLocation = x.location
        defer { e.currentLocation = saved }
        let type = try typeOf(x)
        switch x.kind {
        case .integer(let v):
            e.load64(.r0, UInt64(bitPattern: v))
            return .integer(signed: true)
        case .string(let s):
            return try genStringConstant(s)
        case .builtin(let name):
            return try genBuiltin(name, type, x.location)
        case .variable(let name):
            let v = variables[name]!
            if case .string(let n) = v.type { return .string(offset: v.offset, size: n) }
            e.load(.doubleWord, .r0, .r10, v.offset)
            return .integer(signed: type == .integer(signed: true))
        case .map(let name, let keys):
            guard let layout = state.maps[name] else {
                e.mov(.r0, 0)   // first pass, map not yet seen
                return .integer(signed: true)
            }
            let key = try buildKey(layout, keys, x.location)
            e.loadMap(.r1, layout.bpfName)
            e.stackAddress(.r2, key)
            e.call(HelperID.mapLookup)
            if case .string(let n) = type {
                let buffer = try temp(n)
                zero(buffer, (n + 7) & ~7)
                let done = e.newLabel()
                e.jump(.jeq, .r0, 0, done)
                for i in stride(from: 0, to: (n + 7) & ~7, by: 8) {
                    e.load(.doubleWord, .r1, .r0, i)
                    e.store(.doubleWord, .r10, buffer + i, .r1)
                }
                e.bind(done)
                return .string(offset: buffer, size: n)
            }
            let missing = e.newLabel(), done = e.newLabel()
            e.jump(.jeq, .r0, 0, missing)
            e.load(.doubleWord, .r0, .r0, 0)
            e.jump(done)
            e.bind(missing)
            e.mov(.r0, 0)
            e.bind(done)
            return .integer(signed: type == .integer(signed: true))
        case .call(let name, let arguments):
            if name == "kstack" || name == "ustack" { return try genBuiltin(name, type, x.location) }
            guard name == "str" else { throw fail("\(name)() has no value", x.location) }
            let inner = try typeOf(arguments[0])
            if inner.isString { return try gen(arguments[0]) }
            guard case .string(let n) = type else { throw fail("str()", x.location) }
            let buffer = try temp(n)
            zero(buffer, (n + 7) & ~7)
            let mark = tempTop
            try genInteger(arguments[0])
            tempTop = mark
            e.mov(.r3, .r0)
            e.stackAddress(.r1, buffer)
            e.mov(.r2, Int32(n))
            e.call(HelperID.probeReadString)
            return .string(offset: buffer, size: n)
        case .cast(_, let inner):
            try genInteger(inner)
            return .integer(signed: false)
        case .field(let base, let name) where isFunctionArgument(base):
            let (index, shape) = try functionParameter(name, x.location)
            return try genFunctionSlot(index, shape, name, x.location)
        case .field(let base, let name) where !isTracepointArgument(base):
            return try genMemberRead(x, base, name, type)
        case .field(let base, let name):
            let field = try tracepointField(base, name, x.location)
            if case .string(let n) = type {
                let buffer = try temp(n)
                zero(buffer, (n + 7) & ~7)
                var i = 0
                while i < n {
                    let address = field.offset + i
                    let size: MemorySize = address % 8 == 0 && n - i >= 8 ? .doubleWord : address % 4 == 0 && n - i >= 4 ? .word
                        : address % 2 == 0 && n - i >= 2 ? .half : .byte
                    e.load(size, .r1, .r6, address)
                    e.store(size, .r10, buffer + i, .r1)
                    i += size.bytes
                }
                return .string(offset: buffer, size: n)
            }
            let size: MemorySize = switch field.size {
            case 1: .byte
            case 2: .half
            case 4: .word
            default: .doubleWord
            }
            e.load(size, .r0, .r6, field.offset)
            if field.isSigned && field.size < 8 {
                e.alu(.lsh, .r0, Int32(64 - field.size * 8))
                e.alu(.arsh, .r0, Int32(64 - field.size * 8))
            }
            return .integer(signed: field.isSigned)
        case .unary(let op, let operand):
            let mark = tempTop
            let signed = try genInteger(operand)
            tempTop = mark
            switch op {
            case "!":
                let isZero = e.newLabel(), done = e.newLabel()
                e.jump(.jeq, .r0, 0, isZero)
                e.mov(.r0, 0)
                e.jump(done)
                e.bind(isZero)
                e.mov(.r0, 1)
                e.bind(done)
                return .integer(signed: false)
            case "-":
                e.neg(.r0)
                return .integer(signed: true)
            default:
                e.alu(.xor, .r0, -1)
                return .integer(signed: signed)
            }
        case .binary(let op, let a, let b):
            return try genBinary(op, a, b, x.location)
        case .ternary(let c, let a, let b):
            let mark = tempTop
            let otherwise = e.newLabel(), done = e.newLabel()
            if case .string(let n) = type {
                let result = try temp(n)
                let inner = tempTop
                zero(result, (n + 7) & ~7)
                try genInteger(c)
                tempTop = inner
                e.jump(.jeq, .r0, 0, otherwise)
                for (branch, label) in [(a, done), (b, nil)] {
                    guard case .string(let offset, let size) = try gen(branch) else { throw fail("expected a string", branch.location) }
                    copy(from: offset, to: result, min((size + 7) & ~7, (n + 7) & ~7))
                    tempTop = inner
                    if let label {
                        e.jump(label)
                        e.bind(otherwise)
                    }
                }
                e.bind(done)
                return .string(offset: result, size: n)
            }
            try genInteger(c)
            tempTop = mark
            e.jump(.jeq, .r0, 0, otherwise)
            try genInteger(a)
            tempTop = mark
            e.jump(done)
            e.bind(otherwise)
            try genInteger(b)
            tempTop = mark
            e.bind(done)
            return .integer(signed: type == .integer(signed: true))
        }
    }

    mutating func genStringConstant(_ s: String) throws(TraceError) -> Operand {
        let bytes = Array(s.utf8) + [0]
        let size = (bytes.count + 7) & ~7
        let buffer = try temp(size)
        for i in stride(from: 0, to: size, by: 8) {
            var chunk: UInt64 = 0
            for j in 0..<8 where i + j < bytes.count { chunk |= UInt64(bytes[i + j]) << (8 * UInt64(j)) }
            if chunk == 0 {
                e.store(.doubleWord, .r10, buffer + i, imm: 0)
            } else {
                e.load64(.r1, chunk)
                e.store(.doubleWord, .r10, buffer + i, .r1)
            }
        }
        return .string(offset: buffer, size: bytes.count)
    }

    mutating func genBuiltin(_ name: String, _ type: ValueType, _ location: SourceLocation) throws(TraceError) -> Operand {
        switch name {
        case "pid":
            e.call(HelperID.currentPidTgid)
            e.alu(.rsh, .r0, 32)
        case "tid":
            e.call(HelperID.currentPidTgid)
            e.zeroExtend32(.r0)
        case "uid":
            e.call(HelperID.currentUidGid)
            e.zeroExtend32(.r0)
        case "gid":
            e.call(HelperID.currentUidGid)
            e.alu(.rsh, .r0, 32)
        case "nsecs": e.call(HelperID.ktimeGetNs)
        case "elapsed":
            e.call(HelperID.ktimeGetNs)
            e.load64(.r1, state.startTime)
            e.alu(.sub, .r0, .r1)
        case "cpu": e.call(HelperID.smpProcessorID)
        case "curtask": e.call(HelperID.currentTask)
        case "ctx": e.mov(.r0, .r6)
        case "rand": e.call(HelperID.prandom)
        case "cgroup": e.call(HelperID.currentCgroupID)
        case "comm":
            let buffer = try temp(16)
            e.stackAddress(.r1, buffer)
            e.mov(.r2, 16)
            e.call(HelperID.currentComm)
            return .string(offset: buffer, size: 16)
        case "probe": return try genStringConstant(probe.name)
        case "func": return try genStringConstant(functionName ?? "")
        case "kstack", "ustack":
            // bpf_get_stackid(ctx, &stacks, flags); ustack keeps the process id above the id.
            state.usesStacks = true
            e.mov(.r1, .r6)
            e.loadMap(.r2, ProbeCodeGen.stacksMap)
            e.mov(.r3, name == "ustack" ? 1 << 8 : 0)   // BPF_F_USER_STACK
            e.call(HelperID.getStackID)
            if name == "ustack" {
                let id = try temp(8)
                e.store(.doubleWord, .r10, id, .r0)
                e.call(HelperID.currentPidTgid)
                e.alu(.rsh, .r0, 32)
                e.alu(.lsh, .r0, 32)
                e.load(.doubleWord, .r1, .r10, id)
                e.zeroExtend32(.r1)
                e.alu(.or, .r0, .r1)
            }
            return .integer(signed: false)
        case "retval":
            if case .fexit = probe.kind {
                let (parameters, returnType) = try functionPrototype(location)
                return try genFunctionSlot(parameters.count, try state.types(location).shape(of: returnType), "retval", location)
            }
            e.load(.doubleWord, .r0, .r6, 80)   // pt_regs->ax
        default:
            let n = Int(name.dropFirst(3))!
            e.load(.doubleWord, .r0, .r6, try argumentOffset(n, location))
        }
        guard case .integer(let signed) = type else { return .integer(signed: false) }
        return .integer(signed: signed)
    }

    static let comparisons: [String: (unsigned: JumpOperation, signed: JumpOperation)] = [
        "==": (.jeq, .jeq), "!=": (.jne, .jne), "<": (.jlt, .jslt), "<=": (.jle, .jsle), ">": (.jgt, .jsgt), ">=": (.jge, .jsge),
    ]

    mutating func genBinary(_ op: String, _ a: Expression, _ b: Expression, _ location: SourceLocation) throws(TraceError) -> Operand {
        let mark = tempTop
        defer { tempTop = mark }
        if op == "&&" || op == "||" {
            let short = e.newLabel(), done = e.newLabel()
            try genInteger(a)
            tempTop = mark
            e.jump(op == "&&" ? .jeq : .jne, .r0, 0, short)
            try genInteger(b)
            tempTop = mark
            e.jump(op == "&&" ? .jeq : .jne, .r0, 0, short)
            e.mov(.r0, op == "&&" ? 1 : 0)
            e.jump(done)
            e.bind(short)
            e.mov(.r0, op == "&&" ? 0 : 1)
            e.bind(done)
            return .integer(signed: false)
        }
        if try typeOf(a).isString {
            guard case .string(let ao, let an) = try gen(a), case .string(let bo, let bn) = try gen(b) else {
                throw fail("'\(op)' compares strings with strings only", location)
            }
            genStringEquality(ao, an, bo, bn)
            if op == "!=" { e.alu(.xor, .r0, 1) }
            return .integer(signed: false)
        }
        let signedA = try genInteger(a)
        let slot = try temp(8)
        e.store(.doubleWord, .r10, slot, .r0)
        let signedB = try genInteger(b)
        e.mov(.r1, .r0)
        e.load(.doubleWord, .r0, .r10, slot)
        let signed = signedA && signedB
        if let jump = ProbeCodeGen.comparisons[op] {
            let yes = e.newLabel(), done = e.newLabel()
            e.jump(signed ? jump.signed : jump.unsigned, .r0, .r1, yes)
            e.mov(.r0, 0)
            e.jump(done)
            e.bind(yes)
            e.mov(.r0, 1)
            e.bind(done)
            return .integer(signed: false)
        }
        try apply(op, signed: signed, location)
        return .integer(signed: signed)
    }

    /// `r0 = r0 OP r1`.
    mutating func apply(_ op: String, signed: Bool, _ location: SourceLocation) throws(TraceError) {
        let alu: ALUOperation
        switch op {
        case "+": alu = .add
        case "-": alu = .sub
        case "*": alu = .mul
        case "/": alu = .div
        case "%": alu = .mod
        case "&": alu = .and
        case "|": alu = .or
        case "^": alu = .xor
        case "<<": alu = .lsh
        case ">>": alu = signed ? .arsh : .rsh
        default: throw fail("unknown operator '\(op)'", location)
        }
        e.alu(alu, .r0, .r1, signed: signed)
    }

    /// `r0 = 1` when the strings are equal up to their first NUL (or their sizes), else 0.
    mutating func genStringEquality(_ a: Int, _ an: Int, _ b: Int, _ bn: Int) {
        let equal = e.newLabel(), different = e.newLabel(), done = e.newLabel()
        let n = min(an, bn)
        for i in 0..<n {
            e.load(.byte, .r1, .r10, a + i)
            e.load(.byte, .r2, .r10, b + i)
            e.jump(.jne, .r1, .r2, different)
            e.jump(.jeq, .r1, 0, equal)
        }
        if an != bn {
            // The longer one must end where the shorter one does.
            e.load(.byte, .r1, .r10, an > bn ? a + n : b + n)
            e.jump(.jne, .r1, 0, different)
        }
        e.bind(equal)
        e.mov(.r0, 1)
        e.jump(done)
        e.bind(different)
        e.mov(.r0, 0)
        e.bind(done)
    }

    // MARK: Maps

    /// Records (first pass) or checks a map's use: kind and key types.
    mutating func register(_ name: String, _ kind: MapKind, _ keys: [Expression], _ location: SourceLocation) throws(TraceError) -> MapLayout {
        var keyTypes: [ValueType] = []
        for key in keys {
            let t = try typeOf(key)
            guard t != .none else { throw fail("a map key must be an integer or a string", key.location) }
            keyTypes.append(t)
        }
        let display = mapName(name)
        guard var layout = state.maps[name] else {
            let layout = MapLayout(name: display, bpfName: "m\(state.maps.count)", kind: kind, keys: keyTypes, location: location)
            state.maps[name] = layout
            return layout
        }
        let first = layout.location
        guard layout.kind.sameKind(kind) else {
            throw fail("map \(display) holds \(layout.kind) (assigned at \(first)); here it is assigned \(kind)", location)
        }
        if case .value(let a) = layout.kind, case .value(let b) = kind { layout.kind = .value(a.widened(with: b)!) }
        try checkKeys(&layout, keyTypes, keys, location)
        state.maps[name] = layout
        return layout
    }

    func checkKeys(_ layout: inout MapLayout, _ keyTypes: [ValueType], _ keys: [Expression], _ location: SourceLocation) throws(TraceError) {
        guard layout.keys.count == keyTypes.count else {
            throw fail("map \(layout.name) is used with \(layout.keys.count) key\(layout.keys.count == 1 ? "" : "s") at \(layout.location); here with \(keyTypes.count)", location)
        }
        for (i, t) in keyTypes.enumerated() {
            guard let widened = layout.keys[i].widened(with: t) else {
                throw fail("map \(layout.name)'s key\(keyTypes.count > 1 ? " \(i + 1)" : "") is \(layout.keys[i]) at \(layout.location); here it is \(t)", keys[i].location)
            }
            layout.keys[i] = widened
        }
    }

    /// The key on the stack, its parts laid out as the map's (strings zero-padded).
    mutating func buildKey(_ layout: MapLayout, _ keys: [Expression], _ location: SourceLocation) throws(TraceError) -> Int {
        var checked = layout
        try checkKeys(&checked, try keys.map { (k) throws(TraceError) in try typeOf(k) }, keys, location)
        if !state.finalPass { state.maps[String(layout.name.dropFirst())] = checked }
        let buffer = try temp(layout.keySize)
        zero(buffer, layout.keySize)
        let offsets = layout.keyOffsets
        for (i, key) in keys.enumerated() {
            let mark = tempTop
            switch try gen(key) {
            case .integer:
                e.store(.doubleWord, .r10, buffer + offsets[i], .r0)
            case .string(let offset, let size):
                copy(from: offset, to: buffer + offsets[i], min((size + 7) & ~7, layout.keys[i].storageSize))
            }
            tempTop = mark
        }
        return buffer
    }

    /// `r7` = the value under the key, created zeroed when absent; jumps to `skip` if it cannot be.
    mutating func lookupOrCreate(_ layout: MapLayout, key: Int, skip: Label) throws(TraceError) {
        let found = e.newLabel()
        e.loadMap(.r1, layout.bpfName)
        e.stackAddress(.r2, key)
        e.call(HelperID.mapLookup)
        e.jump(.jne, .r0, 0, found)
        let zeroValue = try temp(layout.kind.valueSize)
        zero(zeroValue, layout.kind.valueSize)
        e.loadMap(.r1, layout.bpfName)
        e.stackAddress(.r2, key)
        e.stackAddress(.r3, zeroValue)
        e.mov(.r4, 1)   // BPF_NOEXIST
        e.call(HelperID.mapUpdate)
        e.loadMap(.r1, layout.bpfName)
        e.stackAddress(.r2, key)
        e.call(HelperID.mapLookup)
        e.jump(.jeq, .r0, 0, skip)
        e.bind(found)
        e.mov(.r7, .r0)
    }

    // MARK: Statements

    /// Generates the statements; true when the block ends in `exit()` (what follows is never run).
    @discardableResult
    mutating func genBlock(_ statements: [Statement]) throws(TraceError) -> Bool {
        for statement in statements {
            let mark = tempTop
            let terminates = try genStatement(statement)
            tempTop = mark
            if terminates { return true }
        }
        return false
    }

    mutating func genStatement(_ statement: Statement) throws(TraceError) -> Bool {
        switch statement {
        case .expression(let x):
            e.currentLocation = x.location
            if case .call(let name, let arguments) = x.kind, name != "str" {
                try genCall(name, arguments, x.location)
                return name == "exit"
            } else {
                _ = try gen(x)
            }
            return false
        case .ifElse(let condition, let then, let otherwise):
            e.currentLocation = condition.location
            try requireInteger(condition, "the condition")
            let elseLabel = e.newLabel(), done = e.newLabel()
            try genInteger(condition)
            e.jump(.jeq, .r0, 0, elseLabel)
            let thenEnds = try genBlock(then)
            if !thenEnds { e.jump(done) }
            e.bind(elseLabel)
            let elseEnds = try genBlock(otherwise)
            e.bind(done)
            return thenEnds && elseEnds
        case .unroll(let count, let body, _):
            for _ in 0..<count where try genBlock(body) { return true }
        case .assignment(let target, let op, let value, let location):
            e.currentLocation = location
            switch target.kind {
            case .variable(let name): try genVariableAssignment(name, op, value, location)
            case .map(let name, let keys): try genMapAssignment(name, keys, op, value, location)
            default: throw fail("only a $variable or an @map can be assigned", location)
            }
        }
        return false
    }

    mutating func genVariableAssignment(_ name: String, _ op: String?, _ value: Expression, _ location: SourceLocation) throws(TraceError) {
        let t = try typeOf(value)
        if t == .none { throw fail("the value assigned to $\(name) has no type (it is a statement)", value.location) }
        if let op {
            guard let v = variables[name] else { throw fail("variable $\(name) is used before it is assigned", location) }
            guard case .integer(let signed) = v.type, t.isInteger else { throw fail("'\(op)=' needs integers", location) }
            try genInteger(value)
            e.mov(.r1, .r0)
            e.load(.doubleWord, .r0, .r10, v.offset)
            try apply(op, signed: signed, location)
            e.store(.doubleWord, .r10, v.offset, .r0)
            return
        }
        if variables[name] == nil {
            let offset = -512 + variableTop
            variableTop += t.storageSize
            try checkStack()
            variables[name] = (t, offset)
        }
        variableShapes[name] = nil
        taskVariables.remove(name)
        switch value.kind {
        case .builtin("curtask"): taskVariables.insert(name)
        case .variable(let source) where taskVariables.contains(source): taskVariables.insert(name)
        case .cast, .field, .variable: variableShapes[name] = try shapeOf(value)
        default: break
        }
        let v = variables[name]!
        guard v.type.isString == t.isString else { throw fail("$\(name) is \(v.type) (first assigned as such); here it is assigned \(t)", location) }
        switch try gen(value) {
        case .integer:
            e.store(.doubleWord, .r10, v.offset, .r0)
        case .string(let offset, let size):
            let room = v.type.storageSize
            zero(v.offset, room)
            copy(from: offset, to: v.offset, min((size + 7) & ~7, room))
        }
    }

    static let aggregations: Set<String> = ["count", "sum", "min", "max", "avg", "stats", "hist", "lhist"]

    mutating func genMapAssignment(_ name: String, _ keys: [Expression], _ op: String?, _ value: Expression, _ location: SourceLocation) throws(TraceError) {
        if case .call(let function, let arguments) = value.kind, ProbeCodeGen.aggregations.contains(function) {
            guard op == nil else { throw fail("\(function)() cannot be combined with '\(op!)='", location) }
            return try genAggregation(name, keys, function, arguments, value.location)
        }
        let t = try typeOf(value)
        if t == .none { throw fail("the value assigned to \(mapName(name)) has no type (it is a statement)", value.location) }
        if op != nil && !t.isInteger { throw fail("'\(op!)=' needs integers", location) }
        let layout = try register(name, .value(op != nil ? .integer(signed: true) : t), keys, location)
        guard case .value(let stored) = layout.kind else { return }
        let size = layout.kind.valueSize
        let valueSlot = try temp(size)
        let mark = tempTop
        switch try gen(value) {
        case .integer:
            e.store(.doubleWord, .r10, valueSlot, .r0)
        case .string(let offset, let n):
            zero(valueSlot, size)
            copy(from: offset, to: valueSlot, min((n + 7) & ~7, stored.storageSize))
        }
        tempTop = mark
        let key = try buildKey(layout, keys, location)
        if let op {
            let missing = e.newLabel(), combine = e.newLabel()
            e.loadMap(.r1, layout.bpfName)
            e.stackAddress(.r2, key)
            e.call(HelperID.mapLookup)
            e.jump(.jeq, .r0, 0, missing)
            e.load(.doubleWord, .r0, .r0, 0)
            e.jump(combine)
            e.bind(missing)
            e.mov(.r0, 0)
            e.bind(combine)
            e.load(.doubleWord, .r1, .r10, valueSlot)
            try apply(op, signed: true, location)
            e.store(.doubleWord, .r10, valueSlot, .r0)
        }
        e.loadMap(.r1, layout.bpfName)
        e.stackAddress(.r2, key)
        e.stackAddress(.r3, valueSlot)
        e.mov(.r4, 0)
        e.call(HelperID.mapUpdate)
    }

    func constant(_ x: Expression, _ what: String) throws(TraceError) -> Int64 {
        if case .integer(let v) = x.kind { return v }
        throw fail("\(what) must be a constant integer", x.location)
    }

    mutating func genAggregation(_ name: String, _ keys: [Expression], _ function: String, _ arguments: [Expression], _ location: SourceLocation) throws(TraceError) {
        let kind: MapKind
        let expected: Int
        switch function {
        case "count": kind = .count; expected = 0
        case "sum": kind = .sum; expected = 1
        case "min": kind = .min; expected = 1
        case "max": kind = .max; expected = 1
        case "avg": kind = .avg; expected = 1
        case "stats": kind = .stats; expected = 1
        case "hist": kind = .hist; expected = 1
        default:
            guard arguments.count == 4 else { throw fail("lhist() takes 4 arguments: value, min, max, step", location) }
            let low = try constant(arguments[1], "lhist()'s min"), high = try constant(arguments[2], "lhist()'s max")
            let step = try constant(arguments[3], "lhist()'s step")
            guard low >= 0, high > low, step > 0, (high - low) / step <= 1000 else {
                throw fail("lhist(): expected 0 <= min < max and step > 0, with at most 1000 buckets", location)
            }
            kind = .lhist(min: low, max: high, step: step)
            expected = 4
        }
        guard arguments.count == expected else {
            throw fail("\(function)() takes \(expected == 0 ? "no arguments" : expected == 1 ? "1 argument" : "\(expected) arguments")", location)
        }
        if expected > 0 { try requireInteger(arguments[0], "\(function)()'s argument") }
        let layout = try register(name, kind, keys, location)
        var argument = 0
        if expected > 0 {
            argument = try temp(8)
            let mark = tempTop
            try genInteger(arguments[0])
            tempTop = mark
            e.store(.doubleWord, .r10, argument, .r0)
        }
        let key = try buildKey(layout, keys, location)
        let bucket = key + layout.keySize - 8
        switch kind {
        case .hist:
            // 0: negative, 1: zero, 2 + floor(log2(v)) otherwise.
            let done = e.newLabel(), positive = e.newLabel()
            e.load(.doubleWord, .r1, .r10, argument)
            e.mov(.r2, 0)
            e.jump(.jslt, .r1, 0, done)
            e.mov(.r2, 1)
            e.jump(.jeq, .r1, 0, done)
            e.jump(positive)
            e.bind(positive)
            e.mov(.r2, 2)
            for shift: Int32 in [32, 16, 8, 4, 2, 1] {
                let next = e.newLabel()
                e.mov(.r3, .r1)
                e.alu(.rsh, .r3, shift)
                e.jump(.jeq, .r3, 0, next)
                e.mov(.r1, .r3)
                e.alu(.add, .r2, shift)
                e.bind(next)
            }
            e.bind(done)
            e.store(.doubleWord, .r10, bucket, .r2)
        case .lhist(let low, let high, let step):
            // 0: below min, 1 + (v - min) / step, at most buckets + 1 (at or above max).
            let buckets = (high - low) / step
            let done = e.newLabel()
            e.load(.doubleWord, .r1, .r10, argument)
            e.mov(.r2, 0)
            e.load64(.r3, UInt64(bitPattern: low))
            e.jump(.jslt, .r1, .r3, done)
            e.load64(.r2, UInt64(buckets + 1))
            e.load64(.r3, UInt64(bitPattern: high))
            e.jump(.jsgt, .r1, .r3, done)
            e.load64(.r3, UInt64(bitPattern: low))
            e.alu(.sub, .r1, .r3)
            e.load64(.r3, UInt64(step))
            e.alu(.div, .r1, .r3)
            e.alu(.add, .r1, 1)
            e.jump(.jgt, .r1, .r2, done)
            e.mov(.r2, .r1)
            e.bind(done)
            e.store(.doubleWord, .r10, bucket, .r2)
        default: break
        }
        let skip = e.newLabel()
        try lookupOrCreate(layout, key: key, skip: skip)
        switch kind {
        case .count, .hist, .lhist:
            e.load(.doubleWord, .r1, .r7, 0)
            e.alu(.add, .r1, 1)
            e.store(.doubleWord, .r7, 0, .r1)
        case .sum:
            e.load(.doubleWord, .r1, .r7, 0)
            e.load(.doubleWord, .r2, .r10, argument)
            e.alu(.add, .r1, .r2)
            e.store(.doubleWord, .r7, 0, .r1)
        case .min, .max:
            let set = e.newLabel()
            e.load(.doubleWord, .r2, .r10, argument)
            e.load(.doubleWord, .r1, .r7, 8)
            e.jump(.jeq, .r1, 0, set)
            e.load(.doubleWord, .r1, .r7, 0)
            e.jump(kind == .min ? .jsge : .jsle, .r2, .r1, skip)
            e.bind(set)
            e.store(.doubleWord, .r7, 0, .r2)
            e.store(.doubleWord, .r7, 8, imm: 1)
        case .avg, .stats:
            e.load(.doubleWord, .r1, .r7, 0)
            e.load(.doubleWord, .r2, .r10, argument)
            e.alu(.add, .r1, .r2)
            e.store(.doubleWord, .r7, 0, .r1)
            e.load(.doubleWord, .r1, .r7, 8)
            e.alu(.add, .r1, 1)
            e.store(.doubleWord, .r7, 8, .r1)
        case .value: break
        }
        e.bind(skip)
    }

    // MARK: Calls with effects

    mutating func genCall(_ name: String, _ arguments: [Expression], _ location: SourceLocation) throws(TraceError) {
        switch name {
        case "printf":
            guard let first = arguments.first, case .string(let format) = first.kind else {
                throw fail("printf() needs a format string first", location)
            }
            let conversions = try PrintfFormat.conversions(in: format).get()
            guard conversions.count == arguments.count - 1 else {
                throw fail("printf(): the format has \(conversions.count) conversion\(conversions.count == 1 ? "" : "s") but \(arguments.count - 1) argument\(arguments.count == 2 ? " follows" : "s follow")", location)
            }
            var slots: [EventArgument] = []
            var size = 8
            for (i, argument) in arguments.dropFirst().enumerated() {
                let t = try typeOf(argument)
                let wantsString = conversions[i] == "s"
                if t == .none { throw fail("printf(): argument \(i + 1) has no value", argument.location) }
                if wantsString != !t.isInteger {
                    throw fail("printf(): %\(conversions[i]) needs \(wantsString ? "a string" : "an integer"); argument \(i + 1) is \(t)", argument.location)
                }
                slots.append(EventArgument(type: t, offset: size))
                size += t.storageSize
            }
            try genEvent(.printf(format: format, arguments: slots), size: size, arguments: Array(arguments.dropFirst()))
        case "print":
            guard arguments.count == 1 else { throw fail("print() takes one argument", location) }
            if case .map(let map, let keys) = arguments[0].kind, keys.isEmpty {
                if state.finalPass && state.maps[map] == nil { throw fail("map \(mapName(map)) is printed but never assigned", arguments[0].location) }
                try genEvent(.printMap(map), size: 8, arguments: [])
                return
            }
            let t = try typeOf(arguments[0])
            guard t != .none else { throw fail("print(): the argument has no value", arguments[0].location) }
            try genEvent(.printValue(EventArgument(type: t, offset: 8)), size: 8 + t.storageSize, arguments: arguments)
        case "clear", "zero":
            guard arguments.count == 1, case .map(let map, let keys) = arguments[0].kind, keys.isEmpty else {
                throw fail("\(name)() takes a map: \(name)(@name)", location)
            }
            if state.finalPass && state.maps[map] == nil { throw fail("map \(mapName(map)) is never assigned", arguments[0].location) }
            try genEvent(name == "clear" ? .clearMap(map) : .zeroMap(map), size: 8, arguments: [])
        case "delete":
            guard arguments.count == 1, case .map(let map, let keys) = arguments[0].kind else {
                throw fail("delete() takes a map element: delete(@name[key])", location)
            }
            guard let layout = state.maps[map] else {
                if state.finalPass { throw fail("map \(mapName(map)) is never assigned", arguments[0].location) }
                return
            }
            let key = try buildKey(layout, keys, location)
            if layout.kind.isHistogram { throw fail("delete() of a histogram's key is not supported; use clear(\(mapName(map)))", location) }
            e.loadMap(.r1, layout.bpfName)
            e.stackAddress(.r2, key)
            e.call(HelperID.mapDelete)
        case "exit":
            guard arguments.isEmpty else { throw fail("exit() takes no arguments", location) }
            try genEvent(.exit, size: 8, arguments: [])
            e.jump(epilogue)
        case "time":
            var format = "%H:%M:%S\n"
            if let first = arguments.first {
                guard arguments.count == 1, case .string(let f) = first.kind else { throw fail("time() takes an optional format string", location) }
                format = f
            }
            try genEvent(.time(format: format), size: 8, arguments: [])
        case "str":
            _ = try gen(Expression(kind: .call(name, arguments: arguments), location: location))
        case "count", "sum", "min", "max", "avg", "stats", "hist", "lhist":
            throw fail("\(name)() can only be assigned to a map (@x = \(name)(...))", location)
        default:
            throw fail("unknown function '\(name)'", location)
        }
    }

    /// Writes a record `[id][arguments...]` to the event ring buffer; a full buffer counts a lost event.
    mutating func genEvent(_ kind: EventKind, size: Int, arguments: [Expression]) throws(TraceError) {
        let id = state.event(kind)
        let record = try temp(size)
        e.store(.doubleWord, .r10, record, imm: id)
        var offset = 8
        for argument in arguments {
            let mark = tempTop
            let t = try typeOf(argument)
            switch try gen(argument) {
            case .integer:
                e.store(.doubleWord, .r10, record + offset, .r0)
            case .string(let source, let n):
                let room = t.storageSize
                copy(from: source, to: record + offset, min((n + 7) & ~7, room))
            }
            offset += t.storageSize
            tempTop = mark
        }
        e.loadMap(.r1, ProbeCodeGen.eventsMap)
        e.stackAddress(.r2, record)
        e.mov(.r3, Int32(size))
        e.mov(.r4, 0)
        e.call(HelperID.ringbufOutput)
        let written = e.newLabel()
        e.jump(.jsge, .r0, 0, written)
        let key = try temp(8)
        e.store(.doubleWord, .r10, key, imm: 0)
        e.loadMap(.r1, ProbeCodeGen.lostMap)
        e.stackAddress(.r2, key)
        e.call(HelperID.mapLookup)
        e.jump(.jeq, .r0, 0, written)
        e.mov(.r1, 1)
        e.atomicAdd(.r0, 0, .r1)
        e.bind(written)
    }
}
