import BPFLinux
import BPFObject
import BPFRuntime
import Synchronization

/// An object loaded into one backend: its maps, programs and global variables with one API
/// whichever it is, and — on the kernel — the links of the programs it attached, which it owns:
/// they detach when the collection is released (pin one to outlive the process).
///
/// ```swift
/// var object = try ObjectFile(contentsOf: "counter.bpf.o")
/// try object.setGlobal("target_pid", to: UInt32(42))            // before loading
/// let bpf = try BPFCollection(object, backend: .kernel)           // or .runtime (the default)
/// let counts = try bpf.map("counts", key: UInt32.self, value: UInt64.self)
/// try bpf.attachAll()
/// print(try counts[42] ?? 0)
/// ```
public final class BPFCollection: Sendable {
    public let object: ObjectFile
    public let backend: Backend
    /// The maps, in the object's order.
    public let maps: [AnyBPFMap]
    /// The programs by name.
    public let programs: [String: BPFProgram]
    /// The runtime's loaded object, when the backend is the runtime.
    public let runtimeObject: LoadedObject?
    /// The kernel's loaded object, when the backend is the kernel.
    public let kernelObject: KernelObject?
    private let attached = Mutex<[BPFLink]>([])
    /// Kernel global-data maps mapped into memory (created `BPF_F_MMAPABLE`), by section.
    private let globalMemory: [String: KernelMapMemory]

    /// Loads `object` into `backend`. `programs` limits loading to these programs (and those their
    /// program arrays name); `kconfig` sets `.kconfig` externs by name (little-endian bytes; the
    /// kernel backend reads the rest from the running kernel); `engine` picks the runtime's JIT or interpreter.
    public init(_ object: ObjectFile, backend: Backend = .runtime, programs only: Set<String>? = nil,
                kconfig: [String: [UInt8]] = [:], kernelOptions: KernelLoadOptions = KernelLoadOptions(),
                engine: ExecutionEngine = .default, verification: VerificationPolicy = .strict) throws(SwiftBPFError) {
        self.object = object
        self.backend = backend
        switch backend {
        case .runtime:
            let loaded = try bridged { try LoadedObject(object, kconfig: kconfig, programs: only, verification: verification, engine: engine) }
            runtimeObject = loaded
            kernelObject = nil
            globalMemory = [:]
            maps = loaded.maps.map { AnyBPFMap(.runtime($0), spec: $0.spec, btf: object.btf) }
            programs = loaded.programs.mapValues { BPFProgram(.runtime($0), spec: $0.spec) }
        case .kernel:
            var options = kernelOptions
            if let only { options.programs = only }
            options.kconfig.merge(kconfig) { _, new in new }
            let loaded = try bridged { try KernelObject(object, options: options) }
            kernelObject = loaded
            runtimeObject = nil
            maps = loaded.maps.map { AnyBPFMap(.kernel($0.map), spec: $0.spec, btf: object.btf) }
            // .data/.bss (and .rodata, read-only) in place, as libbpf skeletons reach them.
            var memory: [String: KernelMapMemory] = [:]
            for (spec, map) in loaded.maps where spec.isGlobalData && map.flags & KernelMap.Flag.mmapable != 0 {
                memory[spec.name] = try? map.mapMemory(writable: !spec.readOnly)
            }
            globalMemory = memory
            programs = Dictionary(uniqueKeysWithValues: loaded.programs.compactMap { name, program in
                object.program(named: name).map { (name, BPFProgram(.kernel(program), spec: $0)) }
            })
        }
    }

    deinit { detachAll() }

    /// The map with this name, untyped.
    public func map(named name: String) -> AnyBPFMap? { maps.first { $0.spec.name == name } }

    /// The program with this name.
    public func program(named name: String) -> BPFProgram? { programs[name] }

    /// The map `name` typed by its key and value, their sizes checked now.
    ///
    /// ```swift
    /// let counts = try bpf.map("counts", key: UInt32.self, value: UInt64.self)
    /// ```
    public func map<K: BitwiseCopyable, V: BitwiseCopyable>(_ name: String, key: K.Type, value: V.Type) throws(SwiftBPFError) -> BPFMap<K, V> {
        guard let map = map(named: name) else {
            throw SwiftBPFError(.notFound, place: "map '\(name)'", "no such map (maps: \(maps.map(\.name).joined(separator: ", ")))")
        }
        return try BPFMap(map, key: key, value: value)
    }

    // MARK: Global variables

    private func globalPlace(_ name: String) throws(SwiftBPFError) -> (GlobalVariable, AnyBPFMap) {
        guard let variable = object.global(named: name) else {
            let names = object.globals.map(\.name)
            throw SwiftBPFError(.notFound, place: "global '\(name)'",
                                "no such global variable\(names.isEmpty ? " (the object has none)" : " (globals: \(names.joined(separator: ", ")))")")
        }
        guard let map = map(named: variable.section) else {
            throw SwiftBPFError(.notFound, place: "global '\(name)'", "its section \(variable.section) was not loaded")
        }
        return (variable, map)
    }

    private func checkSize<T>(_ variable: GlobalVariable, _ type: T.Type) throws(SwiftBPFError) {
        guard MemoryLayout<T>.size == variable.size else {
            throw SwiftBPFError(.invalidArgument, place: "global '\(variable.name)'",
                                "is \(variable.typeName.map { "'\($0)'" } ?? "a variable") of \(variable.size) bytes; \(T.self) is \(MemoryLayout<T>.size) bytes")
        }
    }

    /// The current value of a global variable, read from its section's map (what the programs see
    /// now): in place on the kernel, where its data is mapped into memory (`BPF_F_MMAPABLE`), else
    /// by a map lookup.
    ///
    /// ```swift
    /// let seen = try bpf.global("events_seen", as: UInt64.self)
    /// ```
    public func global<T: BitwiseCopyable>(_ name: String, as type: T.Type = T.self) throws(SwiftBPFError) -> T {
        let (variable, map) = try globalPlace(name)
        try checkSize(variable, T.self)
        if let memory = globalMemory[variable.section], variable.offset + variable.size <= memory.bytes.count {
            return UnsafeRawBufferPointer(memory.bytes).loadUnaligned(fromByteOffset: variable.offset, as: T.self)
        }
        guard let bytes = try map.value(forKey: [0, 0, 0, 0]), variable.offset + variable.size <= bytes.count else {
            throw SwiftBPFError(.failed, place: "global '\(name)'", "its section \(variable.section) could not be read")
        }
        return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: variable.offset, as: T.self) }
    }

    /// Writes a global variable of `.data` or `.bss` while the programs run. Constants (`.rodata`) are
    /// frozen once loaded: set them on the `ObjectFile` before loading (``ObjectFile/setGlobal(_:to:)``).
    ///
    /// ```swift
    /// try bpf.setGlobal("sampling", to: UInt32(10))
    /// ```
    public func setGlobal<T: BitwiseCopyable>(_ name: String, to value: T) throws(SwiftBPFError) {
        let (variable, map) = try globalPlace(name)
        try checkSize(variable, T.self)
        guard !variable.isConstant else {
            throw SwiftBPFError(.permissionDenied, place: "global '\(name)'",
                                "is a constant (\(variable.section)), frozen once loaded: set it with ObjectFile.setGlobal before loading")
        }
        if let memory = globalMemory[variable.section], memory.writable, variable.offset + variable.size <= memory.bytes.count {
            memory.bytes.storeBytes(of: value, toByteOffset: variable.offset, as: T.self)
            return
        }
        guard var bytes = try map.value(forKey: [0, 0, 0, 0]), variable.offset + variable.size <= bytes.count else {
            throw SwiftBPFError(.failed, place: "global '\(name)'", "its section \(variable.section) could not be read")
        }
        withUnsafeBytes(of: value) { bytes.replaceSubrange(variable.offset..<(variable.offset + variable.size), with: $0) }
        try map.updateValue(bytes, forKey: [0, 0, 0, 0])
    }

    // MARK: Attaching

    /// The links of the programs this collection attached, in order.
    public var links: [BPFLink] { attached.withLock { $0 } }

    private func kernelProgram(_ name: String) throws(SwiftBPFError) -> (KernelProgram, ProgramSpec) {
        guard let kernelObject else {
            throw SwiftBPFError(.unsupported, place: "program '\(name)'",
                                "the Swift runtime has no kernel hooks to attach to: run the program with testRun, or load the object with backend: .kernel")
        }
        guard let program = kernelObject.program(named: name), let spec = object.program(named: name) else {
            throw SwiftBPFError(.notFound, place: "program '\(name)'", "no such loaded program (programs: \(programs.keys.sorted().joined(separator: ", ")))")
        }
        return (program, spec)
    }

    /// Attaches the program `name` to `point` (by default, where its section name says) and keeps
    /// the link until the collection is released or ``detachAll()``.
    ///
    /// ```swift
    /// try bpf.attach("handle_exec")                                    // tp/sched/sched_process_exec
    /// try bpf.attach("xdp_filter", to: .xdp(interface: "eth0"))
    /// ```
    @discardableResult
    public func attach(_ name: String, to point: AttachPoint = .section) throws(SwiftBPFError) -> BPFLink {
        let (program, spec) = try kernelProgram(name)
        let (plan, options) = point.plan(section: spec.section)
        let place = "program '\(name)' (section '\(spec.section)')"
        if case .manual(let reason) = plan {
            throw SwiftBPFError(.invalidArgument, place: place, "cannot be attached from its section name: \(reason); give an AttachPoint")
        }
        let link = try bridged(place) { BPFLink(program: name, try program.attach(plan, options: try options.resolved())) }
        attached.withLock { $0.append(link) }
        return link
    }

    /// Attaches every loaded program whose section name says where, as a libbpf skeleton's attach
    /// does; XDP and TC programs attach to `interface` and cgroup programs to `cgroup` when given,
    /// and are skipped otherwise, as are programs no name can attach (perf_event, socket, ...).
    /// If one fails, the ones attached by this call are detached and the error is thrown.
    ///
    /// ```swift
    /// let links = try bpf.attachAll()
    /// ```
    @discardableResult
    public func attachAll(interface: String? = nil, cgroup: String? = nil) throws(SwiftBPFError) -> [BPFLink] {
        guard let kernelObject else {
            throw SwiftBPFError(.unsupported, "the Swift runtime has no kernel hooks to attach to: run programs with testRun, or load the object with backend: .kernel")
        }
        var options = AutoAttachOptions(cgroup: cgroup)
        if let interface { options.interface = try bridged("interface '\(interface)'") { try NetworkInterface(named: interface) } }
        var made: [BPFLink] = []
        for result in kernelObject.attachAll(options) {
            switch result.outcome {
            case .attached(let link): made.append(BPFLink(program: result.program, link))
            case .skipped: continue
            case .failed(let error):
                for link in made { link.close() }
                throw SwiftBPFError(error, place: "program '\(result.program)' (section '\(result.section)')")
            }
        }
        // struct_ops maps are registered too, as a skeleton's attach registers them.
        for spec in object.structOpsMaps {
            do { made.append(try registerStructOps(spec.name, keeping: false)) } catch {
                for link in made { link.close() }
                throw error
            }
        }
        attached.withLock { $0 += made }
        return made
    }

    /// Registers the struct_ops map `name` (a TCP congestion control, a scheduler, ...) with the
    /// kernel and keeps the registration until the collection is released or ``detachAll()``; the
    /// link's `program` is the map's name. ``attachAll(interface:cgroup:)`` registers every
    /// struct_ops map.
    ///
    /// ```swift
    /// let bpf = try BPFCollection(try ObjectFile(contentsOf: "tcp_cc.o"), backend: .kernel)
    /// let registration = try bpf.registerStructOps("swiftbpf_cc")   // now in tcp_available_congestion_control
    /// registration.close()                                         // unregistered
    /// ```
    @discardableResult
    public func registerStructOps(_ name: String) throws(SwiftBPFError) -> BPFLink {
        try registerStructOps(name, keeping: true)
    }

    private func registerStructOps(_ name: String, keeping: Bool) throws(SwiftBPFError) -> BPFLink {
        guard let kernelObject else {
            throw SwiftBPFError(.unsupported, place: "struct_ops map '\(name)'", "the Swift runtime has no kernel structs to register: load the object with backend: .kernel")
        }
        let link = try bridged("struct_ops map '\(name)'") { BPFLink(program: name, try kernelObject.registerStructOps(name)) }
        if keeping { attached.withLock { $0.append(link) } }
        return link
    }

    /// Detaches every program this collection attached (pinned links stay attached).
    public func detachAll() {
        let links = attached.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for link in links { link.close() }
    }

    // MARK: Events

    /// The ring buffer map `name` as an `AsyncSequence` of `Record`s (see ``BPFRingBuffer``).
    ///
    /// ```swift
    /// for try await event in try bpf.ringBuffer("events", of: Event.self) { print(event.pid) }
    /// ```
    public func ringBuffer<Record: BitwiseCopyable>(_ name: String, of type: Record.Type = Record.self) throws(SwiftBPFError) -> BPFRingBuffer<Record> {
        guard let map = map(named: name) else {
            throw SwiftBPFError(.notFound, place: "map '\(name)'", "no such map (maps: \(maps.map(\.name).joined(separator: ", ")))")
        }
        return try BPFRingBuffer(map)
    }

    /// The perf event array map `name` as an `AsyncSequence` of `Record`s, with lost samples
    /// counted (see ``BPFPerfBuffer``); on the kernel, `pagesPerCPU` data pages per CPU.
    ///
    /// ```swift
    /// for try await event in try bpf.perfBuffer("events", of: Event.self) { print(event.pid) }
    /// ```
    public func perfBuffer<Record: BitwiseCopyable>(_ name: String, of type: Record.Type = Record.self,
                                                    pagesPerCPU: Int = 8) throws(SwiftBPFError) -> BPFPerfBuffer<Record> {
        guard let map = map(named: name) else {
            throw SwiftBPFError(.notFound, place: "map '\(name)'", "no such map (maps: \(maps.map(\.name).joined(separator: ", ")))")
        }
        return try BPFPerfBuffer(map, pagesPerCPU: pagesPerCPU)
    }
}
