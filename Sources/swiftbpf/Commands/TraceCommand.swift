import ArgumentParser
import BPFLinux
import BPFObject
import BPFTrace
import Dispatch
import Foundation
import Synchronization

/// `swiftbpf trace OBJ [--duration SECONDS] [--program NAME ...] [--interface IF] [--cgroup DIR] [--json]`:
/// loads an object into the kernel, attaches every program by its section name, streams
/// `trace_pipe` lines and ring buffer records as they come, and on Ctrl-C or after `--duration`
/// detaches and dumps the maps.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Load an object into the kernel, attach its programs by section name, and stream their output.",
        discussion: """
            Programs are attached as a libbpf skeleton's attach does: tracepoint/CAT/NAME, tp/CAT/NAME, \
            raw_tracepoint/NAME, raw_tp/NAME, tp_btf/NAME, fentry/F, fexit/F, fmod_ret/F, lsm/HOOK, \
            kprobe/F[+OFF], kretprobe/F, ksyscall/NAME, uprobe/PATH:SYMBOL[+OFF], uretprobe/PATH:SYMBOL; \
            xdp and tc/tcx ingress/egress programs with --interface; cgroup programs with --cgroup. \
            Others (perf_event, socket, syscall, ...) are reported as skipped. Then bpf_trace_printk \
            output (trace_pipe) and every ring buffer map's records are printed as they come, until \
            Ctrl-C or --duration; the programs are then detached and every map dumped. \
            --json prints one JSON object a line: {"event": "attached", "program", "section", "target"}, \
            {"event": "skipped", "program", "section", "reason"}, {"event": "attach_failed", "program", \
            "section", "error"}, {"event": "trace", "line", "task", "pid", "cpu", "timestamp", "message"}, \
            {"event": "ringbuf", "map", "size", "data"}, {"event": "detached", "reason", "ringbuf_records", \
            "trace_lines"}, {"event": "map", "name", "map": {...}, "entries": [...]}.
            """
    )

    @Argument(help: "An ELF object built by clang -target bpf, or a bpftrace script (.bt); with -l, a probe pattern.") var file: String?
    @Option(name: .customShort("e"), help: "A bpftrace program to compile and run, e.g. 'tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }'.")
    var program_: String?
    @Option(name: .customShort("f"), help: "Output format of a script, text or json (as bpftrace's -f); any other value is a script file.")
    var format: String?
    @Flag(name: .customShort("l"), help: "List the probes matching the pattern given as the argument (tracepoints, kprobes).") var list = false
    @Option(help: "Where a script runs: kernel, runtime (the Swift runtime, rootless: BEGIN, END, interval), or auto (kernel when root).")
    var backend: String = "auto"
    @Option(help: "Stop after this many seconds (default: at Ctrl-C).") var duration: Double?
    @Option(parsing: .upToNextOption, help: "Load and attach only these programs (by function name).") var program: [String] = []
    @Option(help: "Attach XDP and TC programs to this network interface.") var interface: String?
    @Option(help: "XDP mode: auto, skb (generic), drv (native) or hw.") var mode: String = "auto"
    @Option(help: "Attach cgroup programs to this cgroup2 directory.") var cgroup: String?
    @Flag(help: "Print JSON lines.") var json = false

    func validate() throws {
        if !["auto", "kernel", "runtime"].contains(backend) { throw ValidationError("unknown backend '\(backend)' (auto, kernel, runtime)") }
        if !list && program_ == nil && file == nil && !(format.map { $0 != "json" && $0 != "text" } ?? false) {
            throw ValidationError("give an object file, a script file, -e PROGRAM or -l PATTERN")
        }
        // DispatchTime counts nanoseconds in 64 bits: beyond ~292 years the deadline would not fit.
        if let duration, !(duration >= 0 && duration <= 9_000_000_000) {
            throw ValidationError("--duration \(duration): expected a number of seconds from 0 to 9000000000")
        }
        if XDPMode(rawValue: mode) == nil { throw ValidationError("unknown XDP mode '\(mode)' (auto, skb, drv, hw)") }
    }

    func run() throws {
        if list {
            for name in ProbeCatalog().list(matching: file ?? "*") { print(name) }
            return
        }
        var scriptFile: String?
        if let format, format != "json", format != "text" { scriptFile = format }
        if let program_ {
            return try runScript(program_, name: "stdin")
        }
        if scriptFile == nil, let file, let head = FileHandle(forReadingAtPath: file)?.readData(ofLength: 4), head != Data([0x7f, 0x45, 0x4c, 0x46]) {
            scriptFile = file
        }
        if let scriptFile {
            guard let data = FileManager.default.contents(atPath: scriptFile) else { throw CLIError("cannot read '\(scriptFile)'") }
            return try runScript(String(decoding: data, as: UTF8.self), name: scriptFile)
        }
        guard let file else { throw CLIError("give an object file, a script file, -e PROGRAM or -l PATTERN") }
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read '\(file)'") }
        let object: ObjectFile
        do { object = try ObjectFile(bytes: [UInt8](data)) } catch { throw CLIError("\(file): \(error)") }
        var loadOptions = KernelLoadOptions()
        var attachOptions = AutoAttachOptions(cgroup: cgroup)
        attachOptions.xdpMode = XDPMode(rawValue: mode) ?? .automatic
        if !program.isEmpty {
            for name in program where object.program(named: name) == nil {
                throw CLIError("\(file): no program '\(name)' (programs: \(object.programs.map(\.name).joined(separator: ", ")))")
            }
            loadOptions.programs = Set(program)
            attachOptions.programs = Set(program)
        }
        if let interface {
            do { attachOptions.interface = try NetworkInterface(named: interface) } catch { throw CLIError("--interface \(interface): \(error)") }
        }
        let loaded: KernelObject
        do { loaded = try KernelObject(object, options: loadOptions) } catch { throw CLIError("\(file): \(error)") }
        let out = TraceOutput()
        for warning in loaded.warnings { out.note("warning: \(warning)") }

        // Attach.
        var results = loaded.attachAll(attachOptions)
        // The program's type as the kernel spells it, in every attach event.
        func type(_ program: String) -> JSONOutput { object.program(named: program).map { .string($0.type.kernelName) } ?? .null }
        for result in results {
            switch result.outcome {
            case .attached(let link):
                out.emit(json, .object([("event", .string("attached")), ("program", .string(result.program)),
                                        ("section", .string(result.section)), ("target", .string(link.target)), ("type", type(result.program))]),
                         "attached \(result.program) (\(result.section)) to \(link.target)")
            case .skipped(let reason):
                var hint = reason
                if reason.contains("network interface") { hint += "; give --interface IFNAME" }
                if reason.contains("a cgroup") { hint += "; give --cgroup DIR" }
                out.emit(json, .object([("event", .string("skipped")), ("program", .string(result.program)),
                                        ("section", .string(result.section)), ("reason", .string(hint)), ("type", type(result.program))]),
                         "skipped \(result.program) (\(result.section)): \(hint)")
            case .failed(let error):
                out.emit(json, .object([("event", .string("attach_failed")), ("program", .string(result.program)),
                                        ("section", .string(result.section)), ("error", .string("\(error)")), ("type", type(result.program))]),
                         "could not attach \(result.program) (\(result.section)): \(error)")
            }
        }
        guard results.contains(where: { $0.link != nil }) else {
            throw CLIError("\(file): no program was attached (see above)")
        }

        // Stream: one thread per ring buffer, the trace_pipe reader, until Ctrl-C or --duration.
        let stop = StopSignal()
        let readers = DispatchGroup()
        let ringRecords = Atomic<Int>(0)
        let traceLines = Atomic<Int>(0)
        var rings: [(name: String, ring: RingBuffer)] = []
        for (spec, map) in loaded.maps where spec.type == .ringBuffer {
            do { rings.append((spec.name, try RingBuffer(map: map))) } catch { out.note("ring buffer \(spec.name): \(error)") }
        }
        let json = self.json
        for (name, ring) in rings {
            readers.enter()
            let thread = Thread { [out] in
                defer { readers.leave() }
                while !stop.isStopped {
                    do {
                        _ = try ring.poll(timeoutMilliseconds: 100) { bytes in
                            out.ringRecord(json, map: name, bytes: [UInt8](bytes))
                            ringRecords.add(1, ordering: .relaxed)
                        }
                    } catch {
                        out.note("ring buffer \(name): \(error)")
                        return
                    }
                }
            }
            thread.name = "swiftbpf-trace-ringbuf"
            thread.start()
        }
        var pipeTask: Task<Void, Never>?
        do {
            let lines = try TraceFS.tracePipeLines()
            pipeTask = Task { [out] in
                do {
                    for try await line in lines {
                        out.traceLine(json, line)
                        traceLines.add(1, ordering: .relaxed)
                    }
                } catch {
                    out.note("trace_pipe: \(error)")
                }
            }
        } catch {
            out.note("not reading trace_pipe: \(error)")
        }

        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let wake = DispatchSemaphore(value: 0)
        let interrupted = Atomic<Bool>(false)
        let sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                interrupted.store(true, ordering: .relaxed)
                wake.signal()
            }
            source.resume()
            return source
        }
        if !json {
            out.note(duration.map { "tracing for \($0) s (Ctrl-C to stop sooner)" } ?? "tracing; press Ctrl-C to stop")
        }
        if let duration {
            _ = wake.wait(timeout: .now() + duration)
        } else {
            wake.wait()
        }
        for source in sources { source.cancel() }

        // Detach, let the readers catch up with what was already written, then stop them.
        for result in results { result.link?.close() }
        results.removeAll()
        Thread.sleep(forTimeInterval: 0.3)
        stop.stop()
        readers.wait()
        for (name, ring) in rings {
            _ = ring.consume { bytes in
                out.ringRecord(json, map: name, bytes: [UInt8](bytes))
                ringRecords.add(1, ordering: .relaxed)
            }
            ring.close()
        }
        pipeTask?.cancel()
        let reason = interrupted.load(ordering: .relaxed) ? "interrupt" : "duration"
        let records = ringRecords.load(ordering: .relaxed), lines = traceLines.load(ordering: .relaxed)
        out.emit(json, .object([("event", .string("detached")), ("reason", .string(reason)),
                                ("ringbuf_records", .number(UInt64(records))), ("trace_lines", .number(UInt64(lines)))]),
                 "detached (\(reason == "interrupt" ? "interrupted" : "after \(duration ?? 0) s")): \(records) ring buffer records, \(lines) trace lines")

        // Dump the maps.
        for (spec, map) in loaded.maps {
            do {
                let dump = try KernelMapDump.dump(map, label: "map \(spec.name)")
                guard case .object(let fields) = dump.json else { continue }
                out.emit(json, .object([("event", .string("map")), ("name", .string(spec.name))] + fields),
                         dump.text.hasPrefix("map \(try map.info().id) \(spec.name) ") ? dump.text : "\(spec.name): " + dump.text)
            } catch {
                out.note("\(error)")
            }
        }
    }
}

extension TraceCommand {
    /// Compiles and runs a bpftrace script until exit(), --duration or Ctrl-C.
    func runScript(_ source: String, name: String) throws {
        let json = self.json || format == "json"
        let script: TraceScript
        let compiled: CompiledScript
        do {
            script = try TraceScript(parsing: source, name: name)
            compiled = try TraceCompiler().compile(script, source: source, name: name)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode.failure
        }
        let useKernel = backend == "kernel" || (backend == "auto" && geteuid() == 0)
        let session = TraceSession(compiled, backend: useKernel ? KernelTraceBackend() : RuntimeTraceBackend(), sink: .standard)
        session.options.json = json
        if let duration { session.options.duration = .nanoseconds(Int64(duration * 1e9)) }
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let stop = session.stopSignal
        let sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.request() }
            source.resume()
            return source
        }
        defer { for source in sources { source.cancel() } }
        do {
            try session.run()
        } catch let error as TraceError {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// Set once when the readers should stop.
final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    var isStopped: Bool { flag.load(ordering: .acquiring) }
    func stop() { flag.store(true, ordering: .releasing) }
}

/// Whole lines to stdout (flushed, one writer at a time) and notes to stderr, for `swiftbpf trace`.
final class TraceOutput: Sendable {
    private let lock = Mutex<Void>(())

    func write(_ line: String, to handle: FileHandle = .standardOutput) {
        lock.withLock { _ in handle.write(Data((line + "\n").utf8)) }
    }

    func emit(_ json: Bool, _ object: JSONOutput, _ text: String) {
        write(json ? object.description : text)
    }

    func note(_ text: String) { write("swiftbpf trace: " + text, to: .standardError) }

    func ringRecord(_ json: Bool, map: String, bytes: [UInt8]) {
        emit(json, .object([("event", .string("ringbuf")), ("map", .string(map)), ("size", .number(UInt64(bytes.count))),
                            ("data", .string(hexString(bytes)))]),
             "ringbuf \(map): \(bytes.count) bytes: \(hexString(bytes))")
    }

    func traceLine(_ json: Bool, _ line: String) {
        guard json else { return write("trace: " + line.trimmingCharacters(in: .whitespaces)) }
        var fields: [(String, JSONOutput)] = [("event", .string("trace")), ("line", .string(line))]
        if let parsed = TracePipeLine(line) {
            fields += [("task", .string(parsed.task)), ("pid", .number(parsed.pid)), ("cpu", .number(parsed.cpu)),
                       ("timestamp", .double(parsed.timestamp)), ("message", .string(parsed.message))]
        }
        emit(true, .object(fields), line)
    }
}

/// One `trace_pipe` line, `TASK-PID [CPU] FLAGS TIMESTAMP: bpf_trace_printk: MESSAGE`, in parts.
struct TracePipeLine {
    var task: String
    var pid: UInt64
    var cpu: UInt64
    var timestamp: Double
    var message: String

    init?(_ line: String) {
        // The task name may contain spaces and dashes: the pid follows the last '-' before " [CPU]".
        guard let open = line.range(of: " ["), let close = line[open.upperBound...].firstIndex(of: "]"),
              let cpu = UInt64(line[open.upperBound..<close].trimmingCharacters(in: .whitespaces)) else { return nil }
        let head = line[..<open.lowerBound].trimmingCharacters(in: .whitespaces)
        guard let dash = head.lastIndex(of: "-"), let pid = UInt64(head[head.index(after: dash)...]) else { return nil }
        let rest = line[line.index(after: close)...]
        guard let colon = rest.range(of: ": ") else { return nil }
        guard let stamp = rest[..<colon.lowerBound].split(separator: " ").last, let timestamp = Double(stamp) else { return nil }
        var message = String(rest[colon.upperBound...])
        if message.hasPrefix("bpf_trace_printk: ") { message.removeFirst("bpf_trace_printk: ".count) }
        self.task = String(head[..<dash])
        self.pid = pid
        self.cpu = cpu
        self.timestamp = timestamp
        self.message = message
    }
}
