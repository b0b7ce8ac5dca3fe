import BPFCore
import BPFLinux
import BPFObject
import BPFVerifier
import Foundation

/// One program of a compiled script and where it attaches.
public struct CompiledProbe: Sendable {
    public var probe: ResolvedProbe
    /// The program's name in ``CompiledScript/object``.
    public var programName: String
    /// The script location of every instruction (for the verifier's errors).
    public var locations: [Int: SourceLocation]
}

/// A script compiled to eBPF: an object with one program per probe, the maps, and what the
/// records of the event ring buffer mean.
///
/// ```swift
/// let script = try TraceScript(parsing: #"BEGIN { printf("hello\n"); exit(); }"#)
/// let compiled = try TraceCompiler().compile(script)
/// print(compiled.object.programs.count)   // 1
/// ```
public struct CompiledScript: Sendable {
    public var object: ObjectFile
    public var probes: [CompiledProbe]
    /// The script's maps, by their names as written (`@`, `@bytes`).
    public var maps: [MapLayout]
    /// Event ids (the first 8 bytes of a record) to their meaning.
    public var events: [EventKind]
    /// The script's text and name, for errors found after compiling (the verifier's).
    public var source: String
    public var sourceName: String
    /// The kernel types the script was compiled against, when it used them (struct members,
    /// fentry/fexit arguments).
    public var kernelBTF: BTF?

    /// The error for instruction `index` of `program`, at the script place that generated it.
    public func error(_ message: String, program: String, instruction: Int?) -> TraceError {
        let probe = probes.first { $0.programName == program }
        var location: SourceLocation?
        if let probe, var i = instruction {
            while i >= 0 && location == nil {
                location = probe.locations[i]
                i -= 1
            }
        }
        return TraceError(message, at: location).attaching(source: source, name: sourceName)
    }
}

/// Compiles scripts to eBPF: attach points resolved against the machine, code generated in two
/// passes (the first collects every map's key and value types), no LLVM.
public struct TraceCompiler: Sendable {
    public var catalog: ProbeCatalog
    /// Ring buffer size for printf and the other events.
    public var eventBufferSize = 1 << 20
    /// The kernel types struct member access uses (nil: `/sys/kernel/btf/vmlinux`, read when a
    /// script first needs it).
    public var btf: BTF?

    public init(catalog: ProbeCatalog = ProbeCatalog()) { self.catalog = catalog }

    public func compile(_ script: TraceScript, source: String = "", name: String = "stdin") throws(TraceError) -> CompiledScript {
        do {
            return try compileUnattributed(script, source: source, name: name)
        } catch {
            throw error.attaching(source: source, name: name)
        }
    }

    func compileUnattributed(_ script: TraceScript, source: String, name: String) throws(TraceError) -> CompiledScript {
        var expansions: [(definition: ProbeDefinition, probe: ResolvedProbe, fields: [TracepointField])] = []
        for definition in script.probes {
            for point in definition.attachPoints {
                for probe in try catalog.resolve(point) {
                    var fields: [TracepointField] = []
                    if case .tracepoint(let category, let tp) = probe.kind {
                        guard let format = catalog.format(category: category, name: tp) else {
                            throw TraceError("cannot read the format of tracepoint \(category):\(tp)", at: point.location)
                        }
                        fields = format
                    }
                    expansions.append((definition, probe, fields))
                }
            }
        }
        let state = CompilationState(startTime: TraceCompiler.monotonicNanoseconds(), btf: btf)
        // First pass: types and map layouts; second: the code, with every layout final.
        for expansion in expansions {
            var generator = ProbeCodeGen(probe: expansion.probe, fields: expansion.fields, state: state)
            _ = try generator.generate(expansion.definition)
        }
        state.finalPass = true
        state.events = []
        var programs: [ProgramSpec] = []
        var probes: [CompiledProbe] = []
        for (index, expansion) in expansions.enumerated() {
            var generator = ProbeCodeGen(probe: expansion.probe, fields: expansion.fields, state: state)
            let code = try generator.generate(expansion.definition)
            let programName = "bt\(index)"
            let (type, section) = TraceCompiler.programType(expansion.probe.kind)
            var spec = ProgramSpec(name: programName, section: section, type: type, instructions: code.instructions, references: code.references)
            switch expansion.probe.kind {
            case .fentry(let f): spec.attachType = .traceFentry; spec.attachTarget = f
            case .fexit(let f): spec.attachType = .traceFexit; spec.attachTarget = f
            default: break
            }
            programs.append(spec)
            probes.append(CompiledProbe(probe: expansion.probe, programName: programName, locations: code.locations))
        }
        let layouts = state.maps.values.sorted { $0.name < $1.name }
        var specs = layouts.map(\.spec)
        specs.append(MapSpec(name: ProbeCodeGen.eventsMap, type: .ringBuffer, keySize: 0, valueSize: 0, maxEntries: eventBufferSize, origin: .legacy))
        specs.append(MapSpec(name: ProbeCodeGen.lostMap, type: .array, keySize: 4, valueSize: 8, maxEntries: 1, origin: .legacy))
        if state.usesStacks {
            specs.append(MapSpec(name: ProbeCodeGen.stacksMap, type: .stackTrace, keySize: 4, valueSize: 8 * ProbeCodeGen.stackDepth,
                                 maxEntries: 4096, origin: .legacy))
        }
        var compiled = CompiledScript(object: ObjectFile(programs: programs, maps: specs), probes: probes, maps: layouts, events: state.events,
                                      source: source, sourceName: name)
        compiled.kernelBTF = state.kernelTypes?.btf
        return compiled
    }

    /// The program type a probe is loaded as, and a section name in libbpf's convention.
    static func programType(_ kind: ProbeKind) -> (ProgramType, String) {
        switch kind {
        case .begin, .end, .interval: (.rawTracepoint, "raw_tracepoint")
        case .tracepoint(let c, let n): (.tracepoint, "tracepoint/\(c)/\(n)")
        case .rawTracepoint(let n): (.rawTracepoint, "raw_tracepoint/\(n)")
        case .kprobe(let f): (.kprobe, "kprobe/\(f)")
        case .kretprobe(let f): (.kprobe, "kretprobe/\(f)")
        case .uprobe: (.kprobe, "uprobe")
        case .uretprobe: (.kprobe, "uretprobe")
        case .profile: (.perfEvent, "perf_event")
        case .app(let n): (.rawTracepoint, "raw_tracepoint/app_\(n)")
        case .fentry(let f): (.tracing, "fentry/\(f)")
        case .fexit(let f): (.tracing, "fexit/\(f)")
        case .software: (.perfEvent, "perf_event")
        }
    }

    /// Runs our verifier on every program, as the kernel's would; a refusal is an error at the
    /// script place whose code it refused.
    public static func verify(_ compiled: CompiledScript, target: VerificationTarget = .kernel) throws(TraceError) {
        let verifier = Verifier(options: VerifierOptions(target: target))
        for program in compiled.object.programs {
            var input = VerifierProgram(spec: program, maps: compiled.object.maps)
            if program.type == .tracing { input.kernelBTF = compiled.kernelBTF ?? (try? KernelBTF.vmlinux()) }
            let result = verifier.verify(input)
            if let error = result.error {
                throw compiled.error("the verifier refuses this code: \(error.summary)", program: program.name, instruction: error.instruction)
            }
        }
    }

    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
