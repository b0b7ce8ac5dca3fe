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
    /// The object's file, for the first-program measurement in a child process.
    var path: String?
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

/// The programs of the repository's objects, or of the objects at `paths` (files, or directories
/// searched for `.o` files); each is loaded into the kernel, with its object, when measured.
func objectWorkloads(paths given: [String] = []) -> [VerifierWorkload] {
    let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    var paths: [String]
    if given.isEmpty {
        paths = ["Examples/xdp-counter/xdp_counter.o", "Benchmarks/bpf/runtime_bench.o", "Tests/BPFVerifierTests/Fixtures/verifier_rules.o"]
        let fixtures = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("Tests/Fixtures/bpf/obj").path)) ?? []
        paths += fixtures.filter { $0.hasSuffix(".o") }.sorted().map { "Tests/Fixtures/bpf/obj/\($0)" }
    } else {
        paths = []
        for path in given {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                print("warning: no such file: \(path)")
                continue
            }
            if isDirectory.boolValue {
                let found = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
                paths += found.filter { $0.hasSuffix(".o") }.sorted().map { URL(fileURLWithPath: path).appendingPathComponent($0).path }
            } else {
                paths.append(path)
            }
        }
    }
    var result: [VerifierWorkload] = []
    for path in paths {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : root.appendingPathComponent(path)
        guard let data = FileManager.default.contents(atPath: url.path),
              let object = try? ObjectFile(bytes: [UInt8](data)) else { continue }
        for spec in object.programs {
            var input = VerifierProgram(spec: spec, maps: object.maps, license: object.license)
            input.programBTF = object.btf   // as `swiftbpf verify` gives it
            var workload = VerifierWorkload(name: "\(url.deletingPathExtension().lastPathComponent)/\(spec.name)",
                                            program: input, kernel: (object, spec.name))
            workload.path = url.path
            result.append(workload)
        }
    }
    return result
}

/// `swiftbpf-bench verify-first OBJ PROGRAM` (the child process `verify` spawns per program): in a
/// fresh process, reads the object as `swiftbpf verify` does and verifies the program once — the
/// first verification of the process, with every one-time set-up it triggers — then five more
/// times. Prints `first_us best_warm_us minor_faults_of_the_first`.
func verifyFirstChild(path: String, program: String) {
    guard let data = FileManager.default.contents(atPath: path), let object = try? ObjectFile(bytes: [UInt8](data)),
          let spec = object.programs.first(where: { $0.name == program }) else {
        print("error: cannot read program \(program) of \(path)")
        return
    }
    var input = VerifierProgram(spec: spec, maps: object.maps, license: object.license)
    input.programBTF = object.btf
    let verifier = Verifier()
    // For analysis: SWIFTBPF_BENCH_PREWARM=1 first verifies a two-instruction program of no type
    // (the core's metadata and code warm, not this program's paths).
    if ProcessInfo.processInfo.environment["SWIFTBPF_BENCH_PREWARM"] != nil {
        let tiny = [Instruction(opcode: 0xb7), Instruction(opcode: Opcode.exit)]
        _ = verifier.verify(VerifierProgram(name: "tiny", instructions: tiny))
    }
    // For analysis: SWIFTBPF_BENCH_PREFAULT=1 first touches every page of the executable's code,
    // so that the first verification takes no page faults on it (its caches stay cold).
    if ProcessInfo.processInfo.environment["SWIFTBPF_BENCH_PREFAULT"] != nil,
       let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var sum: UInt8 = 0
        for line in maps.split(separator: "\n") where line.contains("r-xp") && line.hasSuffix(exe) {
            let bounds = line.split(separator: " ")[0].split(separator: "-").compactMap { UInt(String($0), radix: 16) }
            guard bounds.count == 2 else { continue }
            var address = bounds[0]
            while address < bounds[1] {
                sum &+= UnsafePointer<UInt8>(bitPattern: address)!.pointee
                address += 4096
            }
        }
        if sum == 1 { print("", terminator: "") }
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let faults = usage.ru_minflt
    let first = verifier.verify(input).timeMicroseconds
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let firstFaults = usage.ru_minflt - faults
    var best = Double.infinity
    for _ in 0..<5 { best = min(best, verifier.verify(input).timeMicroseconds) }
    print("\(first) \(best) \(firstFaults)")
}

/// The first-program time of `workload` in a fresh process (best of `runs` children), and its minor page faults.
func firstProgramTime(_ workload: VerifierWorkload, runs: Int) -> (usec: Double, faults: Int)? {
    guard let path = workload.path else { return nil }
    var best: (usec: Double, faults: Int)?
    for _ in 0..<runs {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["verify-first", path, workload.kernel.program]
        let pipe = Pipe()
        child.standardOutput = pipe
        do { try child.run() } catch { return nil }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        let fields = output.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 3, let usec = Double(fields[0]), let faults = Int(fields[2]) else { return nil }
        if best == nil || usec < best!.usec { best = (usec, faults) }
    }
    return best
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

/// `arguments`: workload names to run (all when empty), e.g. `swiftbpf-bench verify branches-1500`,
/// or objects and directories of objects to measure instead of the repository's, e.g.
/// `swiftbpf-bench verify /work/corpus-obj/katran`. `--no-first` skips the fresh-process runs.
@MainActor func verifierBenchmark(arguments: [String] = []) throws {
    #if DEBUG
    print("warning: built in debug mode; run `swift run -c release swiftbpf-bench verify` for meaningful numbers")
    #endif
    let measureFirst = !arguments.contains("--no-first")
    let rest = arguments.filter { $0 != "--no-first" }
    let paths = rest.filter { $0.contains("/") || $0.hasSuffix(".o") }
    let only = Set(rest.filter { !paths.contains($0) })
    let kernelAvailable = BPFSyscall.probe() == nil
    print("Verifier: time per program — first: the first verification of a fresh process (best of 3 processes), "
          + "warm: best of 5 in one process — and per 1,000 processed instructions; kernel: its own \"verification time\" (best of 5)")
    print(pad("program", 40) + pad("verdict", 8) + pad("insns", 7) + pad("processed", 10) + pad("first us", 10) + pad("warm us", 10)
          + pad("us/1k", 8) + pad("kernel us", 10) + pad("first/kern", 11) + pad("warm/kern", 10) + "kernel processed")
    var oursTotal = 0.0, kernelTotal = 0.0
    var logFirst: [Double] = [], logWarm: [Double] = [], setUps: [Double] = []
    let workloads = paths.isEmpty ? try generatedWorkloads() + objectWorkloads() : objectWorkloads(paths: paths)
    for workload in workloads where only.isEmpty || only.contains(workload.name) {
        let verifier = Verifier()
        var result = verifier.verify(workload.program)
        var best = Double.infinity
        for _ in 0..<5 {
            result = verifier.verify(workload.program)
            best = min(best, result.timeMicroseconds)
        }
        let first = measureFirst ? firstProgramTime(workload, runs: 3) : nil
        if let first { setUps.append(first.usec - best) }
        var kernelText = "n/a", firstRatio = "", warmRatio = "", kernelProcessed = ""
        if kernelAvailable && result.accepted {
            switch kernelVerification(workload, runs: 5) {
            case .success(let k):
                kernelText = fmt(k.usec, 0)
                warmRatio = fmt(best / max(k.usec, 1), 2)
                logWarm.append(log(best / max(k.usec, 1)))
                if let first {
                    firstRatio = fmt(first.usec / max(k.usec, 1), 2)
                    logFirst.append(log(first.usec / max(k.usec, 1)))
                }
                kernelProcessed = "\(k.processed)"
                oursTotal += best
                kernelTotal += k.usec
            case .failure(let error):
                kernelText = "-"
                kernelProcessed = "(\(error.errno.map { "\($0)" } ?? "not loaded"))"
            }
        }
        let perK = best / Double(max(result.instructionsProcessed, 1)) * 1000
        print(pad(workload.name, 40) + pad(result.accepted ? "accept" : "reject", 8) + pad("\(workload.program.instructions.count)", 7)
              + pad("\(result.instructionsProcessed)", 10) + pad(first.map { fmt($0.usec, 1) } ?? "-", 10) + pad(fmt(best, 1), 10)
              + pad(fmt(perK, 0), 8) + pad(kernelText, 10) + pad(firstRatio, 11) + pad(warmRatio, 10) + kernelProcessed)
    }
    if kernelTotal > 0 {
        print("programs the kernel also verified (\(logWarm.count)): ours \(fmt(oursTotal, 0)) us in total warm, the kernel's \(fmt(kernelTotal, 0)) us; "
              + "geometric mean of ours/kernel: warm \(fmt(exp(logWarm.reduce(0, +) / Double(logWarm.count)), 2))"
              + (logFirst.isEmpty ? "" : ", first of a process \(fmt(exp(logFirst.reduce(0, +) / Double(logFirst.count)), 2))"))
    } else if !kernelAvailable {
        print("(kernel comparison skipped: bpf() is not usable here)")
    }
    if !setUps.isEmpty {
        let sorted = setUps.sorted()
        print("one-time set-up (first minus warm), us: median \(fmt(sorted[sorted.count / 2], 1)), max \(fmt(sorted.last!, 1)) over \(sorted.count) programs")
    }
}
