import BPFLinux
import BPFObject
import BPFRuntime
import Foundation

/// Runs scripts in the Swift runtime, without root: BEGIN, END and interval probes (kernel probes
/// need ``KernelTraceBackend``).
public final class RuntimeTraceBackend: TraceBackend {
    public private(set) var loaded: LoadedObject?
    private var compiled: CompiledScript?

    public init() {}

    public func load(_ compiled: CompiledScript) throws(TraceError) {
        self.compiled = compiled
        do {
            loaded = try LoadedObject(compiled.object)
        } catch {
            if let refusal = error.verifierError, let program = compiled.object.programs.first(where: { error.place.contains("'\($0.name)'") }) {
                throw compiled.error("the verifier refuses this code: \(refusal.summary)", program: program.name, instruction: refusal.instruction)
            }
            throw TraceError("cannot load the script into the Swift runtime: \(error)", sourceName: compiled.sourceName)
        }
    }

    private var appLinks: [(probe: AppProbe, handle: Int)] = []

    public func attach(_ probe: CompiledProbe) throws -> String {
        guard case .app(let name) = probe.probe.kind else {
            throw TraceError("\(probe.probe.name) fires in the kernel; the Swift runtime runs BEGIN, END, interval and app probes (use the kernel backend)")
        }
        guard let appProbe = AppProbe.named(name) else {
            throw TraceError("no app probe '\(name)' is registered in this process (probes: \(AppProbe.names.joined(separator: ", ")))")
        }
        guard let program = loaded?.program(named: probe.programName) else { throw TraceError("\(probe.probe.name): its program was not loaded") }
        appLinks.append((appProbe, appProbe.attach(program)))
        return probe.probe.name
    }

    public func run(_ probe: CompiledProbe) throws {
        guard let program = loaded?.program(named: probe.programName) else { return }
        let result = try program.testRun(context: nil)
        _ = result
    }

    public func waitForEvents(milliseconds: Int) {
        Thread.sleep(forTimeInterval: Double(milliseconds) / 1000)
    }

    public func drainEvents() throws -> [[UInt8]] {
        try loaded?.map(named: ProbeCodeGen.eventsMap)?.drainRingBuffer() ?? []
    }

    public func entries(of map: MapLayout) throws -> [(key: [UInt8], values: [[UInt8]])] {
        guard let runtimeMap = loaded?.map(named: map.bpfName) else { return [] }
        return runtimeMap.entries().map { ($0.key, RuntimeTraceBackend.split($0.value, valueSize: map.kind.valueSize, perCPU: map.kind.isPerCPU)) }
    }

    public func clear(_ map: MapLayout) throws {
        guard let runtimeMap = loaded?.map(named: map.bpfName) else { return }
        for key in runtimeMap.keys { try? runtimeMap.delete(key: key) }
    }

    public func lostEvents() throws -> UInt64 {
        guard let value = try loaded?.map(named: ProbeCodeGen.lostMap)?.lookup(key: [0, 0, 0, 0]) else { return 0 }
        return TraceSession.u64(value, 0)
    }

    public func detach() {
        for link in appLinks { link.probe.detach(link.handle) }
        appLinks.removeAll()
    }

    /// A per-CPU value as one slot per CPU (slots rounded up to 8 bytes).
    static func split(_ value: [UInt8], valueSize: Int, perCPU: Bool) -> [[UInt8]] {
        guard perCPU else { return [value] }
        let slot = (valueSize + 7) & ~7
        return stride(from: 0, to: value.count, by: slot).map { Array(value[$0..<min(value.count, $0 + slot)]) }
    }
}

/// Runs scripts in the kernel: our verifier first, then `bpf()` loads and attaches every probe;
/// BEGIN, END and interval programs run through `BPF_PROG_TEST_RUN`.
public final class KernelTraceBackend: TraceBackend {
    public private(set) var object: KernelObject?
    private var links: [KernelLink] = []
    private var ring: RingBuffer?
    private var compiled: CompiledScript?

    public init() {}

    public func load(_ compiled: CompiledScript) throws(TraceError) {
        self.compiled = compiled
        try TraceCompiler.verify(compiled)
        do {
            // A probe whose program the kernel refuses (fentry where trampolines are not allowed) is
            // reported when it is attached or run; the others still run.
            var options = KernelLoadOptions()
            options.continueAfterRefusal = true
            let loaded = try KernelObject(compiled.object, options: options)
            object = loaded
            if let events = loaded.map(named: ProbeCodeGen.eventsMap) { ring = try RingBuffer(map: events) }
        } catch {
            throw TraceError("the kernel refuses the script: \(error)", sourceName: compiled.sourceName)
        }
    }

    /// The loaded program of a probe, or the kernel's refusal of it (with a hint for fentry/fexit).
    func program(_ probe: CompiledProbe) throws -> KernelProgram {
        if let program = object?.program(named: probe.programName) { return program }
        guard var refusal = object?.refusedPrograms[probe.programName] else {
            throw TraceError("\(probe.probe.name): its program was not loaded")
        }
        if compiled?.object.programs.first(where: { $0.name == probe.programName })?.type == .tracing, refusal.errno == .EPERM, getuid() == 0 {
            refusal.message += " (fentry/fexit: this kernel refuses BTF-trampoline programs even to root, as under lockdown or without ftrace direct calls; use tracepoint: or kprobe: probes)"
        }
        throw refusal
    }

    public func attach(_ probe: CompiledProbe) throws -> String {
        let program = try program(probe)
        var new: [KernelLink]
        switch probe.probe.kind {
        case .tracepoint(let category, let name): new = [try program.attachTracepoint(category: category, name: name)]
        case .rawTracepoint(let name): new = [try program.attachRawTracepoint(name)]
        case .kprobe(let f): new = [try program.attachKprobe(function: f)]
        case .kretprobe(let f): new = [try program.attachKprobe(function: f, returnProbe: true)]
        case .uprobe(let binary, let symbol): new = [try program.attachUprobe(binary: binary, symbol: symbol)]
        case .uretprobe(let binary, let symbol): new = [try program.attachUprobe(binary: binary, symbol: symbol, returnProbe: true)]
        case .profile(let hertz): new = try program.attachPerfEvent(frequency: hertz)
        case .software(let event, let period):
            let config = ProbeCatalog.softwareEvents.first { $0.name == event }?.config ?? 0
            new = try program.attachPerfEvent(period: period, event: (PerfEvent.typeSoftware, config))
        case .fentry(let f), .fexit(let f):
            do { new = [try program.attachTracing(description: "\(probe.probe.name) (\(f))")] } catch {
                var failure = error
                failure.message += " (the kernel cannot attach BTF trampolines here: fentry/fexit need CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS and no lockdown)"
                throw failure
            }
        case .begin, .end, .interval: new = []
        case .app(let name): throw TraceError("app:\(name) is fired by a Swift app in the Swift runtime; the kernel cannot attach it")
        }
        links += new
        return new.map(\.target).joined(separator: ", ")
    }

    public func run(_ probe: CompiledProbe) throws {
        _ = try program(probe).testRun(context: nil)
    }

    public func waitForEvents(milliseconds: Int) {
        _ = try? ring?.waitForRecords(timeoutMilliseconds: Int32(milliseconds))
    }

    public func drainEvents() throws -> [[UInt8]] {
        var records: [[UInt8]] = []
        // Bounded, so a flood of events cannot keep the session from seeing a stop request.
        _ = ring?.consume(limit: 65_536) { records.append([UInt8]($0)) }
        return records
    }

    public func entries(of map: MapLayout) throws -> [(key: [UInt8], values: [[UInt8]])] {
        guard let kernelMap = object?.map(named: map.bpfName) else { return [] }
        var result: [(key: [UInt8], values: [[UInt8]])] = []
        for key in try kernelMap.keys() {
            guard let value = try kernelMap.lookup(key: key) else { continue }
            result.append((key, RuntimeTraceBackend.split(value, valueSize: map.kind.valueSize, perCPU: map.kind.isPerCPU)))
        }
        return result
    }

    public func clear(_ map: MapLayout) throws {
        guard let kernelMap = object?.map(named: map.bpfName) else { return }
        for key in try kernelMap.keys() { try? kernelMap.delete(key: key) }
    }

    public func stack(_ id: UInt32) throws -> [UInt64] {
        guard let map = object?.map(named: ProbeCodeGen.stacksMap), let value = try map.lookup(key: withUnsafeBytes(of: id.littleEndian, Array.init)) else {
            return []
        }
        var addresses: [UInt64] = []
        for offset in stride(from: 0, to: value.count - 7, by: 8) {
            let address = TraceSession.u64(value, offset)
            if address == 0 { break }
            addresses.append(address)
        }
        return addresses
    }

    public func lostEvents() throws -> UInt64 {
        guard let value = try object?.map(named: ProbeCodeGen.lostMap)?.lookup(key: [0, 0, 0, 0]) else { return 0 }
        return TraceSession.u64(value, 0)
    }

    public func detach() {
        // Each close waits for an RCU grace period: overlap them.
        let closing = links
        links.removeAll()
        DispatchQueue.concurrentPerform(iterations: closing.count) { closing[$0].close() }
    }
}
