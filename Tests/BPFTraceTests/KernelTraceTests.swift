import BPFLinux
import BPFTestSupport
import Foundation
import Testing
@testable import BPFTrace

/// What the kernel tests need, probed once.
enum TraceKernel {
    static let probeError: BPFError? = BPFSyscall.probe()
    static let bpf = Availability(probeError == nil, else: "bpf() is not usable here (needs Linux and root or CAP_BPF): \(probeError.map { "\($0)" } ?? "")")
    static let openatTracepoint = bpf.and(Availability(ProbeCatalog().format(category: "syscalls", name: "sys_enter_openat") != nil,
                                                       else: "tracefs has no syscalls:sys_enter_openat tracepoint (CONFIG_FTRACE_SYSCALLS)"))
}

/// Scripts compiled, verified, loaded and attached in the running kernel.
@Suite(.serialized) struct KernelTraceTests {
    static func run(_ source: String, json: Bool = false, whileAttached trigger: @escaping @Sendable () -> Void) throws -> String {
        let compiled = try TraceCompiler().compile(try TraceScript(parsing: source), source: source)
        let captured = CapturedOutput()
        let session = TraceSession(compiled, backend: KernelTraceBackend(), sink: captured.sink)
        session.options.json = json
        // The trigger runs once the probes are attached (BEGIN has printed), then the run stops.
        let stop = session.stopSignal
        let thread = Thread {
            while !captured.output.contains("Attaching") && !captured.output.contains("attached_probes") { usleep(1000) }
            trigger()
            usleep(20_000)
            stop.request()
        }
        thread.start()
        try session.run()
        return captured.output
    }

    @Test(.requires(TraceKernel.openatTracepoint))
    func countsOpenatCallsOfThisProcess() throws {
        let pid = getpid()
        let output = try KernelTraceTests.run("""
            tracepoint:syscalls:sys_enter_openat /pid == \(pid) && str(args.filename) == "/swiftbpf-trace-test-missing"/ {
                @opens[comm, args.flags] = count(); @last = str(args.filename);
                printf("open %s\\n", str(args.filename));
            }
            """) {
            for _ in 0..<5 { _ = open("/swiftbpf-trace-test-missing", O_RDONLY) }
        }
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "Attaching 1 probe...")
        #expect(lines.filter { $0 == "open /swiftbpf-trace-test-missing" }.count == 5)
        #expect(output.contains("@last: /swiftbpf-trace-test-missing\n"))
        #expect(output.range(of: #"@opens\[[^,\]]+, 0\]: 5\n"#, options: .regularExpression) != nil, "\(output)")
    }

    @Test(.requires(TraceKernel.openatTracepoint))
    func histogramOfReturnValuesInJSON() throws {
        let pid = getpid()
        let output = try KernelTraceTests.run("""
            tracepoint:syscalls:sys_exit_openat /pid == \(pid)/ { @ret = hist(args.ret); @n = count(); }
            """, json: true) {
            for _ in 0..<3 { _ = open("/swiftbpf-trace-test-missing", O_RDONLY) }
        }
        #expect(output.contains(#"{"type": "attached_probes", "data": {"probes": 1}}"#))
        // open() of a missing file returns -ENOENT: the negative bucket. (Other tests of this
        // process may open files meanwhile, so at least 3.)
        func count(_ pattern: String) -> Int? {
            guard let r = output.range(of: pattern, options: .regularExpression) else { return nil }
            return Int(output[r].split(separator: " ").last!.filter(\.isNumber))
        }
        #expect((count(#"\{"type": "hist", "data": \{"@ret": \[\{"max": -1, "count": [0-9]+"#) ?? 0) >= 3, "\(output)")
        #expect((count(#"\{"type": "map", "data": \{"@n": [0-9]+"#) ?? 0) >= 3, "\(output)")
    }

    @Test(.requires(TraceKernel.bpf))
    func beginAndEndRunThroughTestRuns() throws {
        let output = try KernelTraceTests.run(#"BEGIN { printf("hello %s\n", "kernel"); @b = count(); } END { @e = sum(4); }"#) {}
        #expect(output == "Attaching 2 probes...\nhello kernel\n\n\n@b: 1\n@e: 4\n")
    }

    @Test(.requires(TraceKernel.bpf))
    func aRefusedProgramIsAnErrorAtItsPlace() throws {
        // A raw tracepoint's arguments are read from its context; BEGIN has none.
        let source = "BEGIN { print(arg0); }"
        #expect(throws: TraceError.self) { try TraceCompiler().compile(try TraceScript(parsing: source), source: source) }
    }
}
