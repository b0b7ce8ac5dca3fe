import BPFCore
import BPFLinux
import BPFObject
import BPFRuntime
import BPFVerifier
import Foundation

/// `swiftbpf-bench jit`: every program of Benchmarks/bpf/jit_bench.o on our JIT, our interpreter and,
/// when bpf() works, the kernel's JIT through BPF_PROG_TEST_RUN with repeat — the same object and
/// packet for all three, in one process. Prints ns per run, ours/kernel and the geometric mean.
/// The engines take turns: `rounds` rounds of each (every one best of 5 batches), keeping each
/// engine's best, so a moment of load on the shared machine does not fall on one engine alone.
@MainActor func jitBenchmark(only names: Set<String> = [], rounds: Int = 3) throws {
    #if DEBUG
    print("warning: built in debug mode; run `swift run -c release swiftbpf-bench jit` for meaningful numbers")
    #endif
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Benchmarks/bpf/jit_bench.o").path
    guard let data = FileManager.default.contents(atPath: path) else {
        print("cannot read \(path) (rebuild it with Benchmarks/bpf/build.sh)")
        return
    }
    let object = try ObjectFile(bytes: [UInt8](data))
    // Each program is verified and compiled with the verifier's proofs; one our verifier refuses
    // runs compiled without them (every access checked) and is marked.
    var unverified: [String: String] = [:]
    func load(_ name: String, engine: ExecutionEngine, tier: JITTier = .baseline) throws -> LoadedProgram {
        do {
            return try LoadedObject(object, programs: [name], engine: engine, jitTier: tier).program(named: name)!
        } catch {
            unverified[name] = "\(error)"
            return try LoadedObject(object, programs: [name], verification: .off, engine: engine, jitTier: tier).program(named: name)!
        }
    }
    // An Ethernet + IPv4 + TCP packet with options, padded to 512 bytes with a pattern.
    var packet = [UInt8](repeating: 0, count: 512)
    let header: [UInt8] = [0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
                           0x45, 0, 0x01, 0xf2, 0, 0, 0x40, 0, 0x40, 0x06, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
                           0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02, 0xff, 0xff, 0, 0, 0, 0,
                           0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07, 0x04, 0x02, 0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    for (i, b) in header.enumerated() { packet[i] = b }
    for i in header.count..<packet.count { packet[i] = UInt8(truncatingIfNeeded: i &* 7 &+ 3) }

    let kernel = KernelBench(object: object)
    if let reason = kernel.unavailable { print("kernel JIT: not measured (\(reason))") }
    let benchDirectory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    let native = NativeBench(source: benchDirectory + "/jit_bench.c", shimDirectory: benchDirectory + "/native")
    if let reason = native.unavailable { print("native: not measured (\(reason))") }
    for (name, reason) in kernel.refused.sorted(by: { $0.key < $1.key }) { print("kernel JIT: \(name) not measured (\(reason))") }
    let repeatCount = 20_000
    func best(_ body: () throws -> Double) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<5 { best = min(best, try body()) }
        return best
    }
    print("ns per run (best of \(rounds) rounds × 5 × \(repeatCount) runs, engines alternating, 512-byte packet); native = the same C by clang -O2 for the host, called in-process")
    print("opt = the optimizing tier; JIT = the single-pass first tier; compile = µs per 1,000 instructions, first tier / optimizing")
    print(pad("program", 14) + pad("opt", 9) + pad("JIT", 9) + pad("interp", 10) + pad("kernel", 9) + pad("native", 9) + pad("opt/kern", 10)
          + pad("opt/nat", 9) + pad("JIT/kern", 10) + pad("JIT/nat", 9) + "compile")
    var ratios: [Double] = [], nativeRatios: [Double] = [], kernelNativeRatios: [Double] = []
    var optKernel: [Double] = [], optNative: [Double] = [], optJIT: [Double] = []
    var compileBaseline: [Double] = [], compileOptimizing: [Double] = []
    for spec in object.programs.sorted(by: { $0.name < $1.name }) where names.isEmpty || names.contains(spec.name) {
        let a = try load(spec.name, engine: .jit), b = try load(spec.name, engine: .interpreter)
        let o = try load(spec.name, engine: .jit, tier: .optimizing)
        let optimizedText = o.jit?.tier == .optimizing ? "" : "(declined: \(o.jit?.declineReason ?? "?")) "
        let r0Optimized = try o.testRun(packet: packet).returnValue
        // Compile times: each tier compiling the verified program afresh (best of 5).
        let instructions = Double(spec.instructions.count)
        func compileTime(_ tier: JITTier) throws -> Double {
            try best {
                let interpreter = try Interpreter(program: b.interpreter.program, helpers: b.interpreter.helpers)
                let clock = ContinuousClock()
                let start = clock.now
                _ = try JITProgram(interpreter: interpreter, provenAccesses: b.verification?.provenAccesses, tier: tier)
                return nanoseconds(clock.now - start) / 1000 / instructions * 1000
            }
        }
        let compiled = (try compileTime(.baseline), try compileTime(.optimizing))
        compileBaseline.append(compiled.0)
        compileOptimizing.append(compiled.1)
        // r0 of each engine's first run, on fresh maps (a program with map state returns what the
        // runs before it left).
        let r0 = try a.testRun(packet: packet).returnValue
        let r0Interpreter = try b.testRun(packet: packet).returnValue
        let r0Kernel = kernel.firstReturnValue(spec.name, packet: packet)
        let interpreted = try best { try b.testRun(packet: packet, repeat: max(repeatCount / 20, 1)).nanosecondsPerRun }
        var optimizedNs = Double.infinity, ours = Double.infinity
        var kernelResult: (ns: Double, r0: UInt32)?, nativeResult: (r0: UInt32, ns: Double)?
        for _ in 0..<rounds {
            optimizedNs = min(optimizedNs, try best { try o.testRun(packet: packet, repeat: repeatCount).nanosecondsPerRun })
            ours = min(ours, try best { try a.testRun(packet: packet, repeat: repeatCount).nanosecondsPerRun })
            if let k = kernel.run(spec.name, packet: packet, repeat: repeatCount), k.ns < kernelResult?.ns ?? .infinity { kernelResult = k }
            if let n = native.run(spec.name, packet: packet, repeat: repeatCount), n.ns < nativeResult?.ns ?? .infinity { nativeResult = n }
        }
        var kernelText = "-", ratioText = "-"
        if let result = kernelResult {
            kernelText = fmt(result.ns, 1)
            if let r0Kernel, UInt64(r0Kernel) != r0 { kernelText += " (r0 \(r0Kernel) ≠ \(r0))" }
            let ratio = ours / result.ns
            ratios.append(ratio)
            ratioText = fmt(ratio, 2) + "x"
        }
        var nativeText = "-", nativeRatioText = "-", optNativeText = "-", optKernelText = "-"
        if let result = nativeResult {
            nativeText = fmt(result.ns, 1)
            if UInt64(result.r0) != r0 { nativeText += " (r0 \(result.r0) ≠ \(r0))" }
            nativeRatios.append(ours / result.ns)
            nativeRatioText = fmt(ours / result.ns, 2) + "x"
            optNative.append(optimizedNs / result.ns)
            optNativeText = fmt(optimizedNs / result.ns, 2) + "x"
            if let k = kernelResult { kernelNativeRatios.append(k.ns / result.ns) }
        }
        if let k = kernelResult {
            optKernel.append(optimizedNs / k.ns)
            optKernelText = fmt(optimizedNs / k.ns, 2) + "x"
        }
        optJIT.append(optimizedNs / ours)
        if r0 != r0Interpreter { print("  note: \(spec.name): JIT r0 \(r0), interpreter r0 \(r0Interpreter)") }
        if r0Optimized != r0Interpreter { print("  note: \(spec.name): optimizing tier r0 \(r0Optimized), interpreter r0 \(r0Interpreter)") }
        print(pad(spec.name + (unverified[spec.name] == nil ? "" : "*"), 14) + pad(fmt(optimizedNs, 1), 9) + pad(fmt(ours, 1), 9)
              + pad(fmt(interpreted, 0), 10) + pad(kernelText, 9) + pad(nativeText, 9) + pad(optKernelText, 10) + pad(optNativeText, 9)
              + pad(ratioText, 10) + pad(nativeRatioText, 9) + fmt(compiled.0, 0) + " / " + fmt(compiled.1, 0) + " " + optimizedText)
    }
    for (name, reason) in unverified.sorted(by: { $0.key < $1.key }) {
        print("* \(name): run without the verifier's proofs (every access checked): \(reason.prefix(160))")
    }
    func geomean(_ values: [Double]) -> Double { exp(values.map { log($0) }.reduce(0, +) / Double(values.count)) }
    print("geometric means over \(optJIT.count) programs:")
    if !optKernel.isEmpty { print("  optimizing tier / kernel JIT: \(fmt(geomean(optKernel), 2))x") }
    if !optNative.isEmpty { print("  optimizing tier / native: \(fmt(geomean(optNative), 2))x") }
    if !optJIT.isEmpty { print("  optimizing tier / first tier: \(fmt(geomean(optJIT), 2))x") }
    if !compileBaseline.isEmpty {
        print("  compile time, µs per 1,000 instructions: first tier \(fmt(geomean(compileBaseline), 0)), optimizing \(fmt(geomean(compileOptimizing), 0))")
    }
    if !ratios.isEmpty { print("  first tier / kernel JIT over \(ratios.count) programs: \(fmt(geomean(ratios), 2))x") }
    if !nativeRatios.isEmpty { print("  first tier / native over \(nativeRatios.count) programs: \(fmt(geomean(nativeRatios), 2))x") }
    if !kernelNativeRatios.isEmpty {
        print("  kernel JIT / native over \(kernelNativeRatios.count) programs: \(fmt(geomean(kernelNativeRatios), 2))x")
    }
}

/// The kernel side: the object loaded with `KernelObject` (maps created, global data filled, map
/// references patched, BTF passed), each program test-run with repeat. A program the kernel refuses
/// is listed in `refused` and the others are still measured.
struct KernelBench {
    var unavailable: String?
    var refused: [String: String] = [:]
    private var loaded: KernelObject?

    init(object: ObjectFile) {
        if let error = BPFSyscall.probe() {
            unavailable = "bpf() is not usable here: \(error)"
            return
        }
        var options = KernelLoadOptions()
        options.continueAfterRefusal = true
        do {
            let loaded = try KernelObject(object, options: options)
            for (name, error) in loaded.refusedPrograms {
                let reason = error.verifierLog.flatMap(KernelProgram.verifierSummary) ?? error.message
                refused[name] = "the kernel refused it: " + reason.prefix(120)
            }
            self.loaded = loaded
        } catch {
            unavailable = "loading into the kernel failed: \(error)"
        }
    }

    /// r0 of one run.
    func firstReturnValue(_ name: String, packet: [UInt8]) -> UInt32? {
        (try? loaded?.program(named: name)?.testRun(data: packet, repeat: 1).returnValue).flatMap { UInt32(truncatingIfNeeded: $0) }
    }

    /// Mean ns per run as the kernel reports it (best of 5), and r0.
    func run(_ name: String, packet: [UInt8], repeat count: Int) -> (ns: Double, r0: UInt32)? {
        guard let program = loaded?.program(named: name) else { return nil }
        var best = Double.infinity
        var r0: UInt32 = 0
        for _ in 0..<5 {
            guard let result = try? program.testRun(data: packet, repeat: UInt32(count)) else { return nil }
            best = min(best, result.nanosecondsPerRun)
            r0 = UInt32(truncatingIfNeeded: result.returnValue)
        }
        return (best, r0)
    }
}

/// `swiftbpf-bench jit-entry`: the cost of entering and leaving JIT code for an empty program (`exit`),
/// without a test run's packet and context handling, beside the interpreter's.
@MainActor func jitEntryBenchmark() throws {
    let program = try Assembler().assembleProgram("mov %r0, 2\nexit")
    let interpreter = try Interpreter(program: program)
    // Verified (as a socket filter) like every program the runtime loads, so the JIT uses the proofs.
    let verification = Verifier().verify(VerifierProgram(instructions: program.instructions, type: .socketFilter))
    precondition(verification.accepted, "the empty program must verify")
    let jit = try JITProgram(interpreter: interpreter, provenAccesses: verification.provenAccesses)
    let count = 1_000_000
    func perRun(_ body: () throws -> UInt64) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<5 {
            var sink: UInt64 = 0
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<count { sink &+= try body() }
            best = min(best, nanoseconds(clock.now - start) / Double(count))
            if sink == 1 { print("") }
        }
        return best
    }
    var memory = [UInt8](repeating: 0, count: 64)
    let ours = try perRun { try jit.run(memory: &memory).returnValue }
    let interpreted = try perRun { try interpreter.run(memory: &memory).returnValue }
    let prepared = try memory.withUnsafeMutableBytes { buffer in
        try jit.withPreparedRun(memory: buffer) { run in
            var best = Double.infinity
            for _ in 0..<5 {
                var sink: UInt64 = 0
                let clock = ContinuousClock()
                let start = clock.now
                for _ in 0..<count { sink &+= try run.run().returnValue }
                best = min(best, nanoseconds(clock.now - start) / Double(count))
                if sink == 1 { print("") }
            }
            return best
        }
    }
    print("empty program, ns per run (best of 5 × \(count)): JIT \(fmt(ours, 1)), JIT prepared run \(fmt(prepared, 2)), interpreter \(fmt(interpreted, 1))")
}
