// `swift run -c release swiftbpf-bench verify`: verification time per program and per 1,000
// processed instructions, on the repository's clang-built objects and on large generated
// programs, beside the Linux verifier's own time for the same programs (its log at
// BPF_LOG_STATS prints "verification time N usec") when bpf() is usable.
import BPFCore
import BPFLinux
import BPFObject
import BPFVerifier
import Foundation

struct VerifierWorkload {
    var name: String
    var program: VerifierProgram
    /// The object the program is loaded from into the kernel (with `KernelObject`) and its name there.
    var kernel: (object: ObjectFile, program: String)
}

/// Generated programs: thousands of instructions, loops, many branches.
func generatedWorkloads() throws -> [VerifierWorkload] {
    var straight = "mov %r0, 0\nldxw %r2, [%r1+12]\n"
    for i in 0..<4000 { straight += i % 2 == 0 ? "add %r0, %r2\n" : "xor %r0, \(i)\n" }
    straight += "exit"

    var branches = "mov %r0, 0\nldxw %r2, [%r1+12]\nldxw %r3, [%r1+16]\n"
    for i in 0..<1500 {
        branches += "jeq %r2, \(i % 7), a\(i)\nadd %r0, 1\na\(i):\njgt %r3, \(i % 5), b\(i)\nadd %r0, 2\nb\(i):\n"
    }
    branches += "exit"

    let loop = """
        mov %r0, 0
        mov %r1, 0
        stdw [%r10-8], 0
        loop:
        ldxdw %r2, [%r10-8]
        add %r2, %r1
        stxdw [%r10-8], %r2
        and %r2, 255
        add %r0, %r2
        add %r1, 1
        jlt %r1, 5000, loop
        exit
        """

    var packet = "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r0, 0\n"
    for i in 0..<400 {
        packet += "mov %r4, %r2\nadd %r4, \(i + 1)\njgt %r4, %r3, out\nldxb %r5, [%r2+\(i)]\nadd %r0, %r5\n"
    }
    packet += "exit\nout:\nmov %r0, 1\nexit"

    return try [("straight-4000", straight), ("branches-1500", branches), ("loop-5000", loop), ("packet-400", packet)].map { name, source in
        let instructions = try Assembler().assemble(source)
        let spec = ProgramSpec(name: name, section: "xdp", type: .xdp, attachType: .xdp, instructions: instructions)
        return VerifierWorkload(name: name, program: VerifierProgram(name: name, instructions: instructions, type: .xdp),
                                kernel: (ObjectFile(programs: [spec], maps: []), spec.name))
    }
}

/// The programs of the repository's objects; each is loaded into the kernel, with its object, when measured.
func objectWorkloads() -> [VerifierWorkload] {
    let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    var paths = ["Examples/xdp-counter/xdp_counter.o", "Benchmarks/bpf/runtime_bench.o", "Tests/BPFVerifierTests/Fixtures/verifier_rules.o"]
    let fixtures = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Tests/Fixtures/bpf/obj").path)) ?? []
    paths += fixtures.filter { $0.hasSuffix(".o") }.sorted().map { "Tests/Fixtures/bpf/obj/\($0)" }
    var result: [VerifierWorkload] = []
    for path in paths {
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(path).path),
              let object = try? ObjectFile(bytes: [UInt8](data)) else { continue }
        for spec in object.programs {
            let input = VerifierProgram(spec: spec, maps: object.maps)
            result.append(VerifierWorkload(name: "\(URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent)/\(spec.name)",
                                           program: input, kernel: (object, spec.name)))
        }
    }
    return result
}

/// The kernel's verification time in microseconds (best of `runs`), or why there is none: the
/// workload's object is loaded with `KernelObject` (maps created, global data filled, BTF passed)
/// at `BPF_LOG_STATS`, whose log ends with "verification time N usec".
func kernelVerification(_ workload: VerifierWorkload, runs: Int) -> Result<(usec: Double, processed: Int), BPFError> {
    var options = KernelLoadOptions()
    options.programs = [workload.kernel.program]
    // Statistics only: with a level-1 log the reported time includes formatting the log.
    options.logLevel = 4
    options.logSize = 1 << 20
    var best = Double.infinity
    var processed = 0
    for _ in 0..<runs {
        let log: String
        do {
            let loaded = try KernelObject(workload.kernel.object, options: options)
            log = loaded.program(named: workload.kernel.program)?.verifierLog ?? ""
        } catch {
            return .failure(error)
        }
        for line in log.split(separator: "\n") {
            if line.hasPrefix("verification time "), let n = Double(line.split(separator: " ")[2]) { best = min(best, n) }
            if line.hasPrefix("processed "), let n = Int(line.split(separator: " ")[1]) { processed = n }
        }
    }
    return best.isFinite ? .success((best, processed)) : .failure(.unsupported("no verification time in the log"))
}

/// `only`: workload names to run (all when empty), e.g. `swiftbpf-bench verify branches-1500`.
@MainActor func verifierBenchmark(only: Set<String> = []) throws {
    #if DEBUG
    print("warning: built in debug mode; run `swift run -c release swiftbpf-bench verify` for meaningful numbers")
    #endif
    let kernelAvailable = BPFSyscall.probe() == nil
    print("Verifier: time per program (best of 5) and per 1,000 processed instructions; kernel: its own \"verification time\"")
    print(pad("program", 40) + pad("verdict", 8) + pad("insns", 8) + pad("processed", 11) + pad("us", 10) + pad("us/1k", 9)
          + pad("kernel us", 11) + pad("kernel/ours", 12) + "kernel processed")
    var oursTotal = 0.0, kernelTotal = 0.0, oursProcessed = 0
    for workload in try generatedWorkloads() + objectWorkloads() where only.isEmpty || only.contains(workload.name) {
        let verifier = Verifier()
        var result = verifier.verify(workload.program)
        var best = Double.infinity
        for _ in 0..<5 {
            result = verifier.verify(workload.program)
            best = min(best, result.timeMicroseconds)
        }
        var kernelText = "n/a", ratio = "", kernelProcessed = ""
        if kernelAvailable && result.accepted {
            switch kernelVerification(workload, runs: 5) {
            case .success(let k):
                kernelText = fmt(k.usec, 0)
                ratio = fmt(k.usec / max(best, 0.001), 1) + "x"
                kernelProcessed = "\(k.processed)"
                oursTotal += best
                kernelTotal += k.usec
                oursProcessed += result.instructionsProcessed
            case .failure(let error):
                kernelText = "-"
                kernelProcessed = "(\(error.errno.map { "\($0)" } ?? "not loaded"))"
            }
        }
        let perK = best / Double(max(result.instructionsProcessed, 1)) * 1000
        print(pad(workload.name, 40) + pad(result.accepted ? "accept" : "reject", 8) + pad("\(workload.program.instructions.count)", 8)
              + pad("\(result.instructionsProcessed)", 11) + pad(fmt(best, 1), 10) + pad(fmt(perK, 2), 9)
              + pad(kernelText, 11) + pad(ratio, 12) + kernelProcessed)
    }
    if kernelTotal > 0 {
        print("programs the kernel also verified: ours \(fmt(oursTotal, 0)) us in total, the kernel's \(fmt(kernelTotal, 0)) us (kernel/ours \(fmt(kernelTotal / oursTotal, 2))x)")
    } else if !kernelAvailable {
        print("(kernel comparison skipped: bpf() is not usable here)")
    }
}
