import BPFCore
import BPFTestSupport
import Foundation
import Testing

/// Runs the built `swiftbpf` executable.
enum SwiftBPFTool {
    static let repository = TestPaths.repository

    static let executable: URL? = {
        var candidates: [URL] = []
        // SWIFTBPF_TOOL runs the tests against another build (e.g. an older one, to see a test fail before a fix).
        if let tool = ProcessInfo.processInfo.environment["SWIFTBPF_TOOL"] { candidates.append(URL(fileURLWithPath: tool)) }
        if let first = ProcessInfo.processInfo.arguments.first {
            candidates.append(URL(fileURLWithPath: first).deletingLastPathComponent().appendingPathComponent("swiftbpf"))
        }
        candidates.append(repository.appendingPathComponent(".build/debug/swiftbpf"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `swiftbpf arguments` in `directory` (the repository by default).
    static func run(_ arguments: [String], stdin: String? = nil, in directory: URL? = nil) throws -> Output {
        let process = Process()
        process.executableURL = try #require(executable, "the swiftbpf executable was not built next to the tests")
        process.arguments = arguments
        process.currentDirectoryURL = directory ?? repository
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: stdoutData, as: UTF8.self),
                      stderr: String(decoding: stderrData, as: UTF8.self))
    }
}

@Suite("swiftbpf command")
struct CommandTests {
    @Test("run prints r0, and --json prints the documented fields")
    func runExample() throws {
        let text = try SwiftBPFTool.run(["run", "Examples/asm/checksum.s", "--mem-file", "Examples/asm/ipv4-header.bin"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("r0 = 0xb861"))
        let json = try SwiftBPFTool.run(["run", "Examples/asm/checksum.s", "--mem-file", "Examples/asm/ipv4-header.bin", "--json",
                                         "--engine", "interpreter"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["r0"] as? Int == 0xb861)
        #expect(object["engine"] as? String == "interpreter")
        #expect((object["instructions"] as? Int ?? 0) > 20)
        let jit = try SwiftBPFTool.run(["run", "Examples/asm/checksum.s", "--mem-file", "Examples/asm/ipv4-header.bin", "--json", "--engine", "jit"])
        let jitObject = try #require(try JSONSerialization.jsonObject(with: Data(jit.stdout.utf8)) as? [String: Any])
        #expect(jitObject["r0"] as? Int == 0xb861)
        #expect(jitObject["engine"] as? String == "jit")
    }

    @Test("run reports an out-of-bounds access with the instruction and exits non-zero")
    func runError() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-oob-\(UUID()).s")
        try "ldxdw %r0, [%r1+4]\nexit\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try SwiftBPFTool.run(["run", file.path, "--mem", "01 02 03", "--json"])
        #expect(result.status != 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["pc"] as? Int == 0)
        #expect((object["error"] as? String)?.contains("out-of-bounds read of 8 bytes") == true)
    }

    @Test("asm -o writes bytecode that disasm turns back into the same program")
    func assembleDisassemble() throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-\(UUID()).bin")
        defer { try? FileManager.default.removeItem(at: output) }
        let assembled = try SwiftBPFTool.run(["asm", "Examples/asm/checksum.s", "-o", output.path])
        #expect(assembled.status == 0, "\(assembled.stderr)")
        let bytes = try [UInt8](Data(contentsOf: output))
        let expected = try Assembler().assembleProgram(String(contentsOf: SwiftBPFTool.repository.appendingPathComponent("Examples/asm/checksum.s"), encoding: .utf8))
        #expect(bytes == expected.bytes)
        let text = try SwiftBPFTool.run(["disasm", output.path])
        #expect(try Assembler().assemble(text.stdout) == expected.instructions)
        let llvm = try SwiftBPFTool.run(["disasm", output.path, "--syntax", "llvm"])
        #expect(llvm.stdout.contains("r5 = be16 r5"))
    }
}

@Suite("swiftbpf conformance-plugin", .enabled(if: ConformanceFiles.available, "bpf_conformance vectors not found at ../shared/conformance (set SWIFTBPF_CONFORMANCE_DIR)"))
struct ConformancePluginTests {
    /// Runs one test the way the bpf_conformance runner does: memory as argv[1], options as argv[2],
    /// the program as one line of hex on stdin.
    func runPlugin(_ slots: [Instruction], memory: [UInt8], options: String = "") throws -> SwiftBPFTool.Output {
        try SwiftBPFTool.run(["conformance-plugin", Hex.string(memory), options],
                             stdin: Hex.string(Instruction.bytes(of: slots)) + "\n")
    }

    @Test("all programs pass through the plugin protocol")
    func allPass() throws {
        let files = ConformanceFiles.list("tests")
        #expect(files.count >= 313)
        var passed = 0
        for file in files {
            let test = try ConformanceTest(parsing: String(contentsOf: file, encoding: .utf8))
            let output = try runPlugin(try test.program(), memory: test.memory)
            let value = UInt64(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
            #expect(output.status == 0 && value == test.expectedResult, "\(file.lastPathComponent): exit \(output.status), stdout '\(output.stdout)'")
            if output.status == 0 && value == test.expectedResult { passed += 1 }
        }
        #expect(passed == files.count)
    }

    @Test("invalid encodings are refused with a non-zero exit and a message")
    func rawEncodingsRefused() throws {
        var refused = 0
        for file in ConformanceFiles.list("negative") {
            guard let test = try? ConformanceTest(parsing: String(contentsOf: file, encoding: .utf8)), let raw = test.raw else { continue }
            let output = try runPlugin(raw, memory: [])
            #expect(output.status != 0, "\(file.lastPathComponent)")
            #expect(output.stdout.contains("instruction 0"), "\(file.lastPathComponent): \(output.stdout)")
            refused += 1
        }
        #expect(refused == 45)
    }

    @Test("the runner-failure cases are not reproduced")
    func failureDetection() throws {
        let dir = ConformanceFiles.list("negative")
        // error.data claims an error; the program is valid and runs.
        let error = try #require(dir.first { $0.lastPathComponent == "error.data" })
        let errorTest = try ConformanceTest(parsing: String(contentsOf: error, encoding: .utf8))
        let errorRun = try runPlugin(try errorTest.program(), memory: errorTest.memory)
        #expect(errorRun.status == 0)
        #expect(!errorRun.stdout.contains(errorTest.expectedError ?? "Invalid"))
        // incorrect_return_value_high_bits.data states a wrong 64-bit result.
        let high = try #require(dir.first { $0.lastPathComponent == "incorrect_return_value_high_bits.data" })
        let highTest = try ConformanceTest(parsing: String(contentsOf: high, encoding: .utf8))
        let highRun = try runPlugin(try highTest.program(), memory: highTest.memory)
        #expect(highRun.status == 0)
        #expect(UInt64(highRun.stdout.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16) != highTest.expectedResult)
        // empty_instructions.data has no program: refused, not 0.
        let empty = try runPlugin([], memory: [])
        #expect(empty.status != 0)
    }

    @Test("disasm --jited interleaves the eBPF instructions with the x86-64 code, for bytecode and objects")
    func jitedDisassembly() throws {
        let text = try SwiftBPFTool.run(["disasm", "Examples/asm/checksum.s", "--jited"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("    0: r0 = 0"))
        #expect(text.stdout.contains("xor eax, eax"))
        #expect(text.stdout.contains("ret"))
        let object = try SwiftBPFTool.run(["disasm", "Examples/xdp-counter/xdp_counter.o", "--jited", "--program", "xdp_counter"])
        #expect(object.status == 0, "\(object.stdout) \(object.stderr)")
        #expect(object.stdout.contains("xdp_counter (xdp, xdp):"))
        #expect(object.stdout.contains("call r11"))
        // A program the verifier refuses is still shown, compiled without proofs, with a note why.
        let refused = try SwiftBPFTool.run(["disasm", "Tests/BPFVerifierTests/Fixtures/verifier_rules.o", "--jited", "--program", "unchecked_lookup"])
        #expect(refused.status == 0, "\(refused.stderr)")
        #expect(refused.stderr.contains("may be NULL") && refused.stderr.contains("without the verifier's proofs"), "\(refused.stderr)")
        #expect(refused.stdout.contains("unchecked_lookup ("))
    }

    @Test("--jit runs the program through the JIT")
    func jitOption() throws {
        let program = try Assembler().assembleProgram("ldxb %r0, [%r1+2]\nadd %r0, 1\nexit").instructions
        let output = try runPlugin(program, memory: [0xaa, 0xbb, 0x11], options: "--jit")
        #expect(output.status == 0)
        #expect(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "12")
        let outside = try Assembler().assembleProgram("ldxb %r0, [%r1+3]\nexit").instructions
        let refused = try runPlugin(outside, memory: [0xaa, 0xbb, 0x11], options: "--jit")
        #expect(refused.status != 0)
        #expect(refused.stdout.contains("out-of-bounds"))
    }
}

enum ConformanceFiles {
    static let available = TestPaths.conformance != nil
    static func list(_ folder: String) -> [URL] { TestPaths.conformanceFiles(folder) }
}

@Suite("swiftbpf run on objects")
struct ObjectRunCommandTests {
    @Test("the README main job: the XDP counter over the example capture")
    func mainJob() throws {
        let text = try SwiftBPFTool.run(["run", "Examples/xdp-counter/xdp_counter.o", "--pcap", "Examples/xdp-counter/sample.pcap"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("XDP_DROP       4"))
        #expect(text.stdout.contains("XDP_PASS       16"))
        #expect(text.stdout.contains("{key: 6, value: {packets: 5, bytes: 1776}}"))
    }

    @Test("--json with --pcap, and --write-verdicts writes readable captures per verdict")
    func pcapJSONAndVerdicts() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-verdicts-\(UUID())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let result = try SwiftBPFTool.run(["run", "Examples/xdp-counter/xdp_counter.o", "--pcap", "Examples/xdp-counter/sample.pcapng",
                                           "--json", "--write-verdicts", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["packets"] as? Int == 20)
        let verdicts = try #require(object["verdicts"] as? [String: Int])
        #expect(verdicts == ["XDP_DROP": 4, "XDP_PASS": 16])
        let drops = try Data(contentsOf: dir.appendingPathComponent("XDP_DROP.pcap"))
        #expect(drops.count > 24 + 4 * (16 + 14), "four dropped frames, each with a record header and at least an Ethernet header")
        #expect(Array(drops.prefix(4)) == [0xd4, 0xc3, 0xb2, 0xa1])
    }

    @Test("a single packet with --json prints the documented fields")
    func singlePacketJSON() throws {
        let frame = "ffffffffffff0200000000010800" + "4500001c0000000040010000c0a80001c0a80002" + "0800f7ff00000000"
        let result = try SwiftBPFTool.run(["run", "Examples/xdp-counter/xdp_counter.o", "--packet-hex", frame, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["program"] as? String == "xdp_counter")
        #expect(object["return"] as? Int == 2)
        #expect(object["packet_out"] as? String == frame)
        #expect((object["ctx_out"] as? String)?.count == 48)
        #expect(object["ns_per_run"] is Double || object["ns_per_run"] is Int)
        #expect(object["trace"] is [Any])
    }

    @Test("a missing program is reported with the list of programs")
    func missingProgram() throws {
        let result = try SwiftBPFTool.run(["run", "Tests/Fixtures/bpf/obj/tracing.o", "--program", "nope", "--packet-hex", "00"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("tp_openat"))
    }
}
