// Release benchmarks: `swift run -c release swiftbpf-bench [interpreter | maps | verify | jit | ringbuf | trace | app-probe]`.
//
// The interpreter benchmark runs loops that stress one kind of instruction each and reports the
// cost per executed eBPF instruction, beside the same loop written in Swift and compiled natively
// (measured in the same run) so the ratio is machine-independent.
import BPFCore
import BPFLinux
import BPFObject
import BPFRuntime
import Foundation

func measure(_ body: () throws -> Void) rethrows -> Duration {
    var best = Duration.seconds(1_000)
    for _ in 0..<5 {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        best = min(best, clock.now - start)
    }
    return best
}

func nanoseconds(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
}

func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
func fmt(_ v: Double, _ digits: Int = 2) -> String {
    let scale = (0..<digits).reduce(1.0) { r, _ in r * 10 }
    return String((v * scale).rounded() / scale)
}

/// Map operations from inside a running program and the per-run cost of an empty XDP test run, in
/// the Swift runtime and — measured in the same run where bpf() is usable — in the Linux kernel
/// (its JIT, through BPF_PROG_TEST_RUN with repeat); then map operations from user space: a Swift
/// call into the runtime's map against a bpf(2) syscall on the kernel's.
@MainActor func mapsBenchmark() throws {
    #if DEBUG
    print("warning: built in debug mode; run `swift run -c release swiftbpf-bench maps` for meaningful numbers")
    #endif
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Benchmarks/bpf/runtime_bench.o").path
    guard let data = FileManager.default.contents(atPath: path) else {
        print("cannot read \(path) (rebuild it with Benchmarks/bpf/build.sh)")
        return
    }
    let object = try ObjectFile(bytes: [UInt8](data))
    /// Verified as every load is; an object our verifier refuses runs without proofs, and says so.
    func load(_ engine: ExecutionEngine) throws -> LoadedObject {
        do { return try LoadedObject(object, engine: engine) } catch {
            print("(\(engine): the verifier refused the object, so it runs unverified: \("\(error)".prefix(160)))")
            return try LoadedObject(object, verification: .off, engine: engine)
        }
    }
    let loaded = try load(.interpreter)
    let compiled = JITProgram.isSupported ? try load(.jit) : nil
    for key: UInt32 in 0..<16 {
        try loaded.map(named: "bench_hash")!.update(key: key, value: UInt64(key))
        try compiled?.map(named: "bench_hash")!.update(key: key, value: UInt64(key))
    }
    var kernel: KernelObject?
    if let error = BPFSyscall.probe() {
        print("(no kernel column: bpf() is not usable here: \(error))")
    } else {
        do {
            kernel = try KernelObject(object)
            for key: UInt32 in 0..<16 { try kernel!.map(named: "bench_hash")!.update(key: key, value: UInt64(key)) }
        } catch {
            print("(no kernel column: loading into the kernel failed: \(error))")
        }
    }
    let packet = [UInt8](repeating: 0, count: 64)
    let operations = 256.0
    func perRun(_ name: String, repeat count: Int, in object: LoadedObject? = nil) throws -> Double {
        let program = (object ?? loaded).program(named: name)!
        var best = Double.infinity
        for _ in 0..<5 { best = min(best, try program.testRun(packet: packet, repeat: count).nanosecondsPerRun) }
        return best
    }
    func kernelPerRun(_ name: String, repeat count: Int) throws -> Double? {
        guard let program = kernel?.program(named: name) else { return nil }
        var best = Double.infinity
        for _ in 0..<5 { best = min(best, Double(try program.testRun(data: packet, repeat: UInt32(count)).nanosecondsPerRun)) }
        return best
    }
    /// One table row; the ratio is runtime/kernel, or kernel/runtime with `kernelOverRuntime`.
    func row(_ label: String, _ ours: Double, _ theirs: Double?, kernelOverRuntime: Bool = false) {
        let kernelText = theirs.map { fmt(max($0, 0), 1) } ?? "-"
        let ratio = theirs.map { k -> String in
            if kernelOverRuntime { return ours > 0.05 ? fmt(k / ours, 1) + "x" : "-" }
            return k > 0.05 ? fmt(ours / k, 1) + "x" : "-"
        } ?? "-"
        print(pad(label, 30) + pad(fmt(ours, 1), 12) + pad(kernelText, 12) + ratio)
    }
    let baseline = try perRun("loop_baseline", repeat: 2_000)
    let jitBaseline = try compiled.map { try perRun("loop_baseline", repeat: 20_000, in: $0) }
    let kernelBaseline = try kernelPerRun("loop_baseline", repeat: 20_000)
    print("In a program: ns per operation (best of 5; the loop's own cost subtracted), release")
    print(pad("operation", 30) + pad("interp ns", 12) + pad("JIT ns", 12) + pad("kernel ns", 12) + "JIT/kernel")
    let rows: [(String, String)] = [
        ("hash lookup", "hash_lookup"), ("hash update", "hash_update"),
        ("array lookup", "array_lookup"), ("array update", "array_update"),
    ]
    func columns(_ label: String, _ interpreted: Double, _ jit: Double?, _ kernel: Double?) {
        let ratio = (jit != nil && kernel != nil && kernel! > 0.05) ? fmt(jit! / kernel!, 2) + "x" : "-"
        print(pad(label, 30) + pad(fmt(interpreted, 1), 12) + pad(jit.map { fmt(max($0, 0), 1) } ?? "-", 12)
              + pad(kernel.map { fmt(max($0, 0), 1) } ?? "-", 12) + ratio)
    }
    for (label, program) in rows {
        let ns = (try perRun(program, repeat: 2_000) - baseline) / operations
        let j = try compiled.map { (try perRun(program, repeat: 20_000, in: $0) - jitBaseline!) / operations }
        let k = try kernelPerRun(program, repeat: 20_000).map { ($0 - kernelBaseline!) / operations }
        columns(label, ns, j, k)
    }
    columns("empty XDP test run (per run)", try perRun("empty_xdp", repeat: 200_000),
            try compiled.map { try perRun("empty_xdp", repeat: 2_000_000, in: $0) }, try kernelPerRun("empty_xdp", repeat: 2_000_000))
    print("(the loop itself costs \(fmt(baseline / operations, 1)) ns per iteration in the interpreter"
          + (jitBaseline.map { ", \(fmt($0 / operations, 2)) in the JIT" } ?? "")
          + (kernelBaseline.map { ", \(fmt($0 / operations, 2)) in the kernel" } ?? "") + ")")

    // From user space: the runtime's map is a Swift call; the kernel's a bpf(2) syscall.
    print("")
    print("From user space: ns per operation (best of 5 × 100,000), release")
    print(pad("operation", 30) + pad("runtime ns", 12) + pad("syscall ns", 12) + "kernel/runtime")
    let count = 100_000
    func timed(_ body: () throws -> Void) rethrows -> Double {
        nanoseconds(try measure { for _ in 0..<count { try body() } }) / Double(count)
    }
    let hash = loaded.map(named: "bench_hash")!, array = loaded.map(named: "bench_array")!
    let kernelHash = kernel?.map(named: "bench_hash"), kernelArray = kernel?.map(named: "bench_array")
    let key: [UInt8] = [3, 0, 0, 0], value: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
    row("hash lookup", try timed { _ = try hash.lookup(key: key) }, try kernelHash.map { m in try timed { _ = try m.lookup(key: key) } },
        kernelOverRuntime: true)
    row("hash update", try timed { try hash.update(key: key, value: value) },
        try kernelHash.map { m in try timed { try m.update(key: key, value: value) } }, kernelOverRuntime: true)
    row("array lookup", try timed { _ = try array.lookup(key: [0, 0, 0, 0]) },
        try kernelArray.map { m in try timed { _ = try m.lookup(key: [0, 0, 0, 0]) } }, kernelOverRuntime: true)
    row("array update", try timed { try array.update(key: [0, 0, 0, 0], value: value) },
        try kernelArray.map { m in try timed { try m.update(key: [0, 0, 0, 0], value: value) } }, kernelOverRuntime: true)
}

let arguments = CommandLine.arguments.dropFirst()
switch arguments.first ?? "interpreter" {
case "interpreter":
    try interpreterBenchmark(arguments: Array(arguments.dropFirst()))
case "maps":
    try mapsBenchmark()
case "jit-entry":
    try jitEntryBenchmark()
case "verify":
    try verifierBenchmark(arguments: Array(arguments.dropFirst()))
case "verify-first" where arguments.count == 3:
    verifyFirstChild(path: arguments.dropFirst().first!, program: arguments.last!)
case "jit":
    var names = Array(arguments.dropFirst()), rounds = 3
    if let i = names.firstIndex(of: "--rounds"), i + 1 < names.count, let n = Int(names[i + 1]), n > 0 {
        rounds = n
        names.removeSubrange(i...(i + 1))
    }
    try jitBenchmark(only: Set(names), rounds: rounds)
case "trace":
    runTraceBenchmark(only: Set(arguments.dropFirst()))
case "app-probe":
    appProbeBenchmark()
case "ringbuf":
    try await ringBufferBenchmark()
default:
    print("usage: swiftbpf-bench [interpreter [--ubpf RUNNER] [--rounds N] [PROGRAM...] | maps | verify [PROGRAM... | OBJECT-OR-DIR...] [--no-first] | jit [--rounds N] [PROGRAM...] | jit-entry | ringbuf | trace [ONE-LINER...] | app-probe]")
}
