import Foundation
import BPFRuntime
import Synchronization
import Testing
@testable import BPFTrace

/// Captures a run's output.
final class CapturedOutput: Sendable {
    let text = Mutex("")
    let notes = Mutex("")
    var sink: TraceSink {
        TraceSink(write: { s in self.text.withLock { $0 += s } }, note: { s in self.notes.withLock { $0 += s } })
    }
    var output: String { text.withLock { $0 } }
}

/// Runs a script in the Swift runtime (no root) and returns its output.
func runInRuntime(_ source: String, json: Bool = false, duration: Duration? = nil) throws -> String {
    let script = try TraceScript(parsing: source)
    let compiled = try TraceCompiler(catalog: ProbeCatalog(tracefs: "/nonexistent")).compile(script, source: source)
    let captured = CapturedOutput()
    let session = TraceSession(compiled, backend: RuntimeTraceBackend(), sink: captured.sink)
    session.options.json = json
    session.options.duration = duration
    try session.run()
    return captured.output
}

/// Generated programs run in the runtime's interpreter: the code generator's arithmetic, maps,
/// strings, control flow and events, checked against bpftrace's output.
@Suite struct RuntimeTraceTests {
    @Test func helloWorld() throws {
        #expect(try runInRuntime(#"BEGIN { printf("hello world\n"); exit(); }"#) == "Attaching 1 probe...\nhello world\n\n\n")
    }

    /// The aggregations and their printing at exit, as bpftrace 0.17 prints the same script.
    @Test func everyAggregation() throws {
        let output = try runInRuntime("""
            BEGIN { printf("hello %d %s %5d|%-5s|%x\\n", 42, "w", 7, "ab", 255); @c = count(); @s = sum(5); @a = avg(7);
              @mn = min(3); @mx = max(9); @st = stats(10); @st = stats(20); @h = hist(0); @h = hist(1); @h = hist(5);
              @h = hist(5000); @h = hist(-1); @l = lhist(15, 0, 100, 10); @l = lhist(35, 0, 100, 10); @l = lhist(200, 0, 100, 10);
              @m["bash", 1] = count(); @m["zsh", 2] = count(); @m["zsh", 2] = count(); @x = 5; @str = "hi"; @k[5] = 3; @k[1] = 10;
              exit(); }
            """)
        let bar = String(repeating: "@", count: 52), none = String(repeating: " ", count: 52)
        #expect(output == """
            Attaching 1 probe...
            hello 42 w     7|ab   |ff


            @a: 7

            @c: 1
            @h: 
            (..., 0)               1 |\(bar)|
            [0]                    1 |\(bar)|
            [1]                    1 |\(bar)|
            [2, 4)                 0 |\(none)|
            [4, 8)                 1 |\(bar)|
            [8, 16)                0 |\(none)|
            [16, 32)               0 |\(none)|
            [32, 64)               0 |\(none)|
            [64, 128)              0 |\(none)|
            [128, 256)             0 |\(none)|
            [256, 512)             0 |\(none)|
            [512, 1K)              0 |\(none)|
            [1K, 2K)               0 |\(none)|
            [2K, 4K)               0 |\(none)|
            [4K, 8K)               1 |\(bar)|

            @k[5]: 3
            @k[1]: 10
            @l: 
            [10, 20)               1 |\(bar)|
            [20, 30)               0 |\(none)|
            [30, 40)               1 |\(bar)|
            [40, 50)               0 |\(none)|
            [50, 60)               0 |\(none)|
            [60, 70)               0 |\(none)|
            [70, 80)               0 |\(none)|
            [80, 90)               0 |\(none)|
            [90, 100)              0 |\(none)|
            [100, ...)             1 |\(bar)|

            @m[bash, 1]: 1
            @m[zsh, 2]: 2
            @mn: 3
            @mx: 9
            @s: 5
            @st: count 2, average 15, total 30

            @str: hi
            @x: 5

            """)
    }

    @Test func variablesArithmeticAndControlFlow() throws {
        let output = try runInRuntime("""
            BEGIN {
                $a = 7; $b = -3; $s = "abc";
                printf("%d %d %d %d %d %d\\n", $a + $b, $a * $b, $a / 2, $a % 4, $b >> 1, (1 << 4) | 3);
                printf("%d %d %d %d\\n", $a > $b, $b < 0, !$a, $a == 7 && $b != 0);
                if ($s == "abc") { printf("eq\\n"); } else { printf("ne\\n"); }
                if ($s == "ab") { printf("eq\\n"); } else if ($s != "abcd") { printf("ne\\n"); }
                printf("%s %s\\n", $a > 5 ? "big" : "small", str($s));
                $i = 0;
                unroll (4) { $i += 2; }
                $a++;
                printf("%d %d %d\\n", $i, $a, -$a);
                @total += 5; @total += 6;
                @name["k"] = $s;
                printf("%d %s %d\\n", @total, @name["k"], @missing[1]);
                @missing[2] = 1;
                exit();
                printf("never\\n");
            }
            END { printf("end %s\\n", probe); }
            """)
        #expect(output == """
            Attaching 2 probes...
            4 -21 3 3 -2 19
            1 1 0 1
            eq
            ne
            big abc
            8 8 -8
            11 abc 0
            end END


            @missing[2]: 1
            @name[k]: abc
            @total: 11

            """)
    }

    @Test func predicatesFilterProbes() throws {
        let output = try runInRuntime(#"BEGIN /1 == 2/ { printf("no\n"); } BEGIN /comm != ""/ { @ran = count(); exit(); }"#)
        #expect(output.hasSuffix("@ran: 1\n"))
        #expect(!output.contains("no\n"))
    }

    @Test func intervalProbesPrintAndClear() throws {
        let output = try runInRuntime("""
            interval:ms:10 { @ticks = count(); @n++; if (@n == 3) { print(@ticks); clear(@ticks); } if (@n == 5) { exit(); } }
            """)
        #expect(output == "Attaching 1 probe...\n@ticks: 3\n\n\n@n: 5\n@ticks: 2\n")
    }

    @Test func durationEndsARun() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let output = try runInRuntime("interval:ms:5 { @ticks = count(); }", duration: .milliseconds(60))
        #expect(clock.now - start < .seconds(5))
        #expect(output.hasPrefix("Attaching 1 probe...\n\n\n@ticks: "))
    }

    @Test func jsonLines() throws {
        let output = try runInRuntime(#"BEGIN { printf("hi %d\n", 3); @c = count(); @h = hist(5); print(@c); exit(); }"#, json: true)
        #expect(output == """
            {"type": "attached_probes", "data": {"probes": 1}}
            {"type": "printf", "data": "hi 3\\n"}
            {"type": "map", "data": {"@c": 1}}


            {"type": "map", "data": {"@c": 1}}
            {"type": "hist", "data": {"@h": [{"min": 4, "max": 7, "count": 1}]}}

            """)
    }

    @Test func kernelProbesNeedTheKernelBackend() throws {
        let source = "rawtracepoint:sched_switch { @ = count(); }"
        let compiled = try TraceCompiler().compile(try TraceScript(parsing: source), source: source)
        let captured = CapturedOutput()
        let session = TraceSession(compiled, backend: RuntimeTraceBackend(), sink: captured.sink)
        #expect(throws: TraceError.self) { try session.run() }
        #expect(captured.notes.withLock { $0 }.contains("rawtracepoint:sched_switch fires in the kernel"))
    }
}

/// Probes a Swift app defines: scripts attach with `app:NAME`, the app fires them, rootless.
@Suite struct AppProbeTests {
    @Test func scriptsCountAnAppProbesFirings() throws {
        let probe = AppProbe(named: "swiftbpf_test_request")
        probe.fire(1, 2)   // nothing attached: nothing runs
        #expect(!probe.isAttached)
        let source = #"app:swiftbpf_test_request /arg0 == 200/ { @bytes[arg0] = sum(arg1); @n = count(); } app:swiftbpf_test_request /arg0 == 500/ { printf("error %d\n", arg1); }"#
        let compiled = try TraceCompiler(catalog: ProbeCatalog(tracefs: "/nonexistent")).compile(try TraceScript(parsing: source), source: source)
        let captured = CapturedOutput()
        let session = TraceSession(compiled, backend: RuntimeTraceBackend(), sink: captured.sink)
        let stop = session.stopSignal
        let firer = Thread {
            while !probe.isAttached { usleep(1000) }
            usleep(10_000)
            for bytes in [100, 200, 300] as [UInt64] { probe.fire(200, bytes) }
            probe.fire(500, 7)
            usleep(150_000)
            stop.request()
        }
        firer.start()
        try session.run()
        #expect(!probe.isAttached)
        #expect(captured.output == "Attaching 2 probes...\nerror 7\n\n\n@bytes[200]: 600\n@n: 3\n")
    }

    @Test func anUnknownAppProbeIsNamed() throws {
        let source = "app:swiftbpf_test_missing { @ = count(); }"
        let compiled = try TraceCompiler(catalog: ProbeCatalog(tracefs: "/nonexistent")).compile(try TraceScript(parsing: source), source: source)
        let captured = CapturedOutput()
        #expect(throws: TraceError.self) { try TraceSession(compiled, backend: RuntimeTraceBackend(), sink: captured.sink).run() }
        #expect(captured.notes.withLock { $0 }.contains("no app probe 'swiftbpf_test_missing' is registered"))
    }
}

/// The direct entry of app probes: a run context prepared at attach, reused by every firing,
/// shared safely between threads, on the JIT and on the interpreter.
@Suite struct AppProbeEntryTests {
    /// Counts and sums a probe's firings with each engine; 4 threads fire at once, so some firings
    /// find the prepared context taken and run on their own.
    @Test(arguments: ExecutionEngine.allCases.filter { $0 != .jit || JITProgram.isSupported })
    func everyFiringRunsOnce(engine: ExecutionEngine) throws {
        let name = "swiftbpf_test_entry_\(engine.rawValue)"
        let probe = AppProbe(named: name)
        let source = "app:\(name) { @n[arg0] = count(); @s = sum(arg1 + arg11); }"
        let compiled = try TraceCompiler(catalog: ProbeCatalog(tracefs: "/nonexistent")).compile(try TraceScript(parsing: source), source: source)
        let loaded = try LoadedObject(compiled.object, engine: engine)
        let handle = probe.attach(try #require(loaded.program(named: compiled.probes[0].programName)))
        let threads = 4, perThread = 2_000
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                if i % 2 == 0 {
                    probe.fire(UInt64(t), 3)
                } else {
                    probe.fire(arguments: [UInt64(t), 1] + [UInt64](repeating: 0, count: 9) + [2])
                }
            }
        }
        probe.detach(handle)
        probe.fire(0, 1000)   // detached: not counted
        func read(_ mapName: String) throws -> PrintedMap {
            let layout = try #require(compiled.maps.first { $0.name == mapName })
            let map = try #require(loaded.map(named: layout.bpfName))
            let raw = map.entries().map { ($0.key, RuntimeTraceBackend.split($0.value, valueSize: layout.kind.valueSize, perCPU: true)) }
            return TraceSession.combine(layout, raw)
        }
        let counts = try read("@n").entries.map { entry -> UInt64 in
            guard case .unsigned(let n) = entry.value else { return 0 }
            return n
        }
        #expect(counts == [UInt64](repeating: UInt64(perThread), count: threads))
        let sums = try read("@s").entries.map(\.value)
        guard case .signed(let total)? = sums.first else { Issue.record("no sum: \(sums)"); return }
        #expect(total == Int64(threads * perThread * 3))
    }
}
