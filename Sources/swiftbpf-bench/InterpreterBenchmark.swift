import BPFCore
import BPFObject
import BPFRuntime
import Foundation

// `swiftbpf-bench interpreter [--ubpf RUNNER] [--rounds N] [PROGRAM...]`: the interpreter's cost per eBPF
// instruction on four loops against the same loops in native Swift, then every program (the four
// loops and Benchmarks/bpf/interp_bench.o) in our interpreter and — with `--ubpf` — in uBPF's
// interpreter through the runner Benchmarks/ubpf/build-runner.sh builds, in the same run.

struct Workload {
    var name: String
    var source: String
    var native: @Sendable (UInt64) -> UInt64
}


/// The callee of the native "calls" loop, kept out of line like an eBPF bpf-to-bpf call.
@inline(never) func nativeCallee(_ x: UInt64) -> UInt64 { x &+ 1 }

/// The four loops, each running `iterations` times.
func workloads(iterations: UInt64) -> [Workload] { [
    Workload(name: "arithmetic", source: """
        mov %r0, 1
        lddw %r1, \(iterations)
        loop:
        mul %r0, 3
        add %r0, 7
        xor %r0, %r1
        rsh32 %r0, 1
        sub %r1, 1
        jne %r1, 0, loop
        exit
        """, native: { n in
            var r0: UInt64 = 1
            var r1 = n
            repeat {
                r0 = r0 &* 3 &+ 7
                r0 ^= r1
                r0 = UInt64(UInt32(truncatingIfNeeded: r0) >> 1)
                r1 -= 1
            } while r1 != 0
            return r0
        }),
    Workload(name: "memory", source: """
        mov %r0, 0
        lddw %r1, \(iterations)
        stdw [%r10-8], 0
        loop:
        ldxdw %r2, [%r10-8]
        add %r2, %r1
        stxdw [%r10-8], %r2
        ldxw %r3, [%r10-8]
        add %r0, %r3
        sub %r1, 1
        jne %r1, 0, loop
        exit
        """, native: { n in
            var slot: UInt64 = 0
            var r0: UInt64 = 0
            var r1 = n
            repeat {
                slot = slot &+ r1
                r0 = r0 &+ UInt64(UInt32(truncatingIfNeeded: slot))
                r1 -= 1
            } while r1 != 0
            return r0
        }),
    Workload(name: "branches", source: """
        mov %r0, 0
        lddw %r1, \(iterations)
        loop:
        mov %r2, %r1
        and %r2, 3
        jeq %r2, 0, a
        jeq %r2, 1, b
        jsgt %r2, 2, c
        add %r0, 1
        ja next
        a:
        add %r0, 2
        ja next
        b:
        add %r0, 3
        ja next
        c:
        add %r0, 5
        next:
        sub %r1, 1
        jne %r1, 0, loop
        exit
        """, native: { n in
            var r0: UInt64 = 0
            var r1 = n
            repeat {
                switch r1 & 3 {
                case 0: r0 &+= 2
                case 1: r0 &+= 3
                case 3: r0 &+= 5
                default: r0 &+= 1
                }
                r1 -= 1
            } while r1 != 0
            return r0
        }),
    Workload(name: "calls", source: """
        mov %r0, 0
        lddw %r6, \(iterations)
        loop:
        mov %r1, %r0
        xor %r1, %r6
        call local f
        sub %r6, 1
        jne %r6, 0, loop
        exit
        f:
        mov %r0, %r1
        add %r0, 1
        exit
        """, native: { n in
            var r0: UInt64 = 0
            var r6 = n
            repeat { r0 = nativeCallee(r0 ^ r6); r6 -= 1 } while r6 != 0
            return r0
        }),
] }

/// The loops run 200,000 times for the per-instruction table.
let loopIterations: UInt64 = 200_000

/// The per-instruction table: each loop once, 200,000 iterations, against native Swift.
@MainActor func interpreterLoopTable() throws {
    print("Interpreter: ns per executed eBPF instruction (best of 5 runs, \(loopIterations) loop iterations)")
    print(pad("workload", 12) + pad("instructions", 14) + pad("ns/insn", 10) + pad("native ns/iter", 16) + "interp/native")
    for workload in workloads(iterations: loopIterations) {
        let program = try Assembler().assembleProgram(workload.source)
        let interpreter = try Interpreter(program: program, options: ExecutionOptions(instructionLimit: .max))
        var executed: UInt64 = 0
        var value: UInt64 = 0
        let time = try measure {
            let result = try interpreter.run()
            executed = result.instructionsExecuted
            value = result.returnValue
        }
        var nativeValue: UInt64 = 0
        let nativeTime = measure { nativeValue = workload.native(loopIterations) }
        if nativeValue != value {
            print("  (note: \(workload.name) native result \(nativeValue) differs from eBPF result \(value))")
        }
        let perInsn = nanoseconds(time) / Double(executed)
        let perIterInterp = nanoseconds(time) / Double(loopIterations)
        let perIterNative = nanoseconds(nativeTime) / Double(loopIterations)
        print(pad(workload.name, 12) + pad(String(executed), 14) + pad(fmt(perInsn), 10)
              + pad(fmt(perIterNative, 3), 16) + fmt(perIterInterp / max(perIterNative, 0.001), 1) + "x")
    }
}

/// One program of the comparison: bytecode run with r1 = the 512-byte buffer, r2 = its length.
struct ComparedProgram {
    var name: String
    var instructions: [Instruction]
}

/// The buffer every compared program reads: an Ethernet + IPv4 + TCP header, then a pattern.
func comparisonBuffer() -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: 512)
    let header: [UInt8] = [0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,
                           0x45, 0, 0x01, 0xf2, 0, 0, 0x40, 0, 0x40, 0x06, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
                           0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0xa0, 0x02, 0xff, 0xff, 0, 0, 0, 0]
    for (i, b) in header.enumerated() { buffer[i] = b }
    for i in header.count..<buffer.count { buffer[i] = UInt8(truncatingIfNeeded: i &* 37 &+ (i >> 3) &* 11 &+ 5) }
    return buffer
}

/// The compared programs: the four loops (1,000 iterations a run) and every program of interp_bench.o.
func comparedPrograms() throws -> [ComparedProgram] {
    var programs = try workloads(iterations: 1_000).map {
        ComparedProgram(name: "loop_" + $0.name, instructions: try Assembler().assembleProgram($0.source).instructions)
    }
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Benchmarks/bpf/interp_bench.o").path
    guard let data = FileManager.default.contents(atPath: path) else {
        print("cannot read \(path) (rebuild it with Benchmarks/bpf/build.sh); comparing the loops only")
        return programs
    }
    let object = try ObjectFile(bytes: [UInt8](data))
    for spec in object.programs.sorted(by: { $0.name < $1.name }) {
        programs.append(ComparedProgram(name: spec.name, instructions: spec.instructions))
    }
    return programs
}

/// uBPF's interpreter, through the runner: `RUNNER PROGRAM.bin MEMORY.bin RUNS` prints `r0=N ns=T`.
struct UBPFRunner {
    var path: String
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-bench-ubpf-\(getpid())")

    func run(_ program: ComparedProgram, memory: [UInt8], runs: Int) throws -> (r0: UInt64, ns: Double) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let code = directory.appendingPathComponent(program.name + ".bin"), input = directory.appendingPathComponent("memory.bin")
        try Data(program.instructions.flatMap { $0.bytes }).write(to: code)
        try Data(memory).write(to: input)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = [code.path, input.path, String(runs)]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError("uBPF runner failed on \(program.name) (status \(process.terminationStatus))") }
        var r0: UInt64?, ns: Double?
        for field in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if field.hasPrefix("r0=") { r0 = UInt64(field.dropFirst(3)) }
            if field.hasPrefix("ns=") { ns = Double(field.dropFirst(3)) }
        }
        guard let r0, let ns else { throw BenchError("uBPF runner printed \(text.debugDescription) for \(program.name)") }
        return (r0, ns)
    }

    func cleanUp() { try? FileManager.default.removeItem(at: directory) }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The comparison table: ns per run of every program in our interpreter (no verifier: every access
/// checked, as uBPF checks every access) and in uBPF's, same run, same bytes, same buffer.
@MainActor func interpreterComparison(ubpf: UBPFRunner?, rounds: Int, only names: Set<String>) throws {
    let buffer = comparisonBuffer()
    print("")
    print("Programs: ns per run (r1 = a 512-byte buffer, r2 = 512; best of \(rounds) rounds of 5 batches, the engines alternating; unverified, every access checked)"
          + (ubpf == nil ? "" : "; ratio = ours / uBPF's interpreter"))
    print(pad("program", 18) + pad("insns run", 11) + pad("ours ns", 12) + pad("uBPF ns", 12) + "ours/uBPF")
    var ratios: [Double] = []
    for program in try comparedPrograms() where names.isEmpty || names.contains(program.name) {
        let interpreter = try Interpreter(program: try Program(validating: program.instructions))
        var memory = buffer
        let first = try interpreter.run(memory: &memory)
        // Enough runs for about 20 ms a batch.
        let clock = ContinuousClock()
        let start = clock.now
        _ = try interpreter.run(memory: &memory)
        let once = max(nanoseconds(clock.now - start), 20)
        let runs = max(1, min(1_000_000, Int(20_000_000 / once)))
        // Rounds alternate our batches and uBPF's process, so both see the same machine; each
        // engine's best round counts.
        var ours = Double.infinity, theirs = Double.infinity, theirR0: UInt64?
        for _ in 0..<rounds {
            let time = try measure { for _ in 0..<runs { _ = try interpreter.run(memory: &memory) } }
            ours = min(ours, nanoseconds(time) / Double(runs))
            if let ubpf {
                let result = try ubpf.run(program, memory: buffer, runs: runs)
                theirs = min(theirs, result.ns)
                theirR0 = result.r0
            }
        }
        var ubpfText = "-", ratioText = "-"
        if let theirR0 {
            ubpfText = fmt(theirs, 1)
            if theirR0 != first.returnValue {
                ubpfText += " (r0 \(theirR0) ≠ ours \(first.returnValue))"
            } else {
                ratios.append(ours / theirs)
                ratioText = fmt(ours / theirs, 2) + "x"
            }
        }
        print(pad(program.name, 18) + pad(String(first.instructionsExecuted), 11) + pad(fmt(ours, 1), 12) + pad(ubpfText, 12) + ratioText)
    }
    ubpf?.cleanUp()
    if !ratios.isEmpty {
        let geomean = exp(ratios.map { log($0) }.reduce(0, +) / Double(ratios.count))
        print("geometric mean of ours/uBPF over \(ratios.count) programs: \(fmt(geomean, 2))x")
    }
}

@MainActor func interpreterBenchmark(arguments: [String]) throws {
    #if DEBUG
    print("warning: built in debug mode; run `swift run -c release swiftbpf-bench` for meaningful numbers")
    #endif
    var ubpf: UBPFRunner?
    var names = Set<String>()
    var rounds = 3
    var rest = arguments[...]
    while let argument = rest.popFirst() {
        if argument == "--ubpf", let path = rest.popFirst() {
            ubpf = UBPFRunner(path: path)
        } else if argument == "--rounds", let count = rest.popFirst().flatMap({ Int($0) }), count > 0 {
            rounds = count
        } else {
            names.insert(argument)
        }
    }
    if names.isEmpty { try interpreterLoopTable() }
    if ubpf == nil { print("\n(no uBPF column: pass --ubpf RUNNER, built by Benchmarks/ubpf/build-runner.sh UBPF_SOURCE_DIR)") }
    try interpreterComparison(ubpf: ubpf, rounds: rounds, only: names)
}
