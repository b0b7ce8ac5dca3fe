import BPFCore
import BPFTestSupport
import Foundation
import Testing

/// Whether `swiftbpf --arch arm64` can run code here: qemu-aarch64 and a clang (the one that
/// builds the runner) present.
enum ARM64Tools {
    static let qemu: Bool = {
        if let path = ProcessInfo.processInfo.environment["SWIFTBPF_QEMU_AARCH64"], FileManager.default.isExecutableFile(atPath: path) { return true }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").contains { dir in
            ["qemu-aarch64", "qemu-aarch64-static"].contains { FileManager.default.isExecutableFile(atPath: "\(dir)/\($0)") }
        }
    }()
    static let available = qemu && BPFClang.executable != nil
    static let skipReason: Comment = "qemu-aarch64 (Debian's qemu-user) or the toolchain's clang not found: arm64 code cannot run here"
}

@Suite("swiftbpf --arch arm64", .enabled(if: ConformanceFiles.available, "bpf_conformance vectors not found at ../shared/conformance (set SWIFTBPF_CONFORMANCE_DIR)"),
       .enabled(if: ARM64Tools.available, ARM64Tools.skipReason))
struct ARM64CommandTests {
    @Test("run --arch arm64 gives the expected r0 and says which code ran")
    func runArm64() throws {
        for name in ["callx.data", "lock_cmpxchg.data", "ldxb.data", "sdiv64-by-zero-reg.data"] {
            guard let file = ConformanceFiles.list("tests").first(where: { $0.lastPathComponent == name }) else { continue }
            let test = try ConformanceTest(parsing: String(contentsOf: file, encoding: .utf8))
            let output = try SwiftBPFTool.run(["run", file.path, "--arch", "arm64", "--json"])
            #expect(output.status == 0, "\(name): \(output.stdout) \(output.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], "\(name): \(output.stdout)")
            #expect((object["r0"] as? NSNumber)?.uint64Value == test.expectedResult, "\(name)")
            #expect(object["arch"] as? String == "arm64")
        }
    }

    @Test("run --arch arm64 reports an out-of-bounds access as the other engines do")
    func runArm64Error() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-arm64-cli-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("oob.s")
        try "mov %r0, 1\nldxb %r0, [%r1+100]\nexit\n".write(to: source, atomically: true, encoding: .utf8)
        let output = try SwiftBPFTool.run(["run", source.path, "--arch", "arm64", "--mem", "01 02", "--json"])
        #expect(output.status != 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], "\(output.stdout)")
        #expect((object["error"] as? String)?.contains("out-of-bounds read") == true, "\(output.stdout)")
        #expect(object["pc"] as? Int == 1)
    }

    @Test("conformance-plugin --jit --arch arm64 answers as the runner expects (every 8th program)")
    func pluginArm64() throws {
        let files = ConformanceFiles.list("tests").enumerated().filter { $0.offset % 8 == 0 }.map(\.element)
        #expect(files.count >= 39)
        for file in files {
            let test = try ConformanceTest(parsing: String(contentsOf: file, encoding: .utf8))
            let output = try SwiftBPFTool.run(["conformance-plugin", Hex.string(test.memory), "--jit --arch arm64"],
                                              stdin: Hex.string(Instruction.bytes(of: try test.program())) + "\n")
            let value = UInt64(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
            #expect(output.status == 0 && value == test.expectedResult, "\(file.lastPathComponent): exit \(output.status), stdout '\(output.stdout)'")
        }
    }

    @Test("disasm --jited --arch arm64 interleaves the eBPF instructions with the arm64 code")
    func disasmArm64() throws {
        let file = try #require(ConformanceFiles.list("tests").first { $0.lastPathComponent == "lock_cmpxchg.data" })
        let output = try SwiftBPFTool.run(["disasm", file.path, "--jited", "--arch", "arm64"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("r0 = cmpxchg_64(r10 - 8, r0, r1)"))
        // The entry's first instruction, `stp x29, x30, [sp, #-96]!`, as a word.
        #expect(output.stdout.contains("0000:  a9ba7bfd"))
    }

    @Test("--tier optimizing reaches the arm64 optimizing tier: run, conformance-plugin and disasm --jited")
    func optimizingTierArm64() throws {
        for name in ["callx.data", "lock_cmpxchg.data", "ldxb.data", "sdiv64-by-zero-reg.data"] {
            guard let file = ConformanceFiles.list("tests").first(where: { $0.lastPathComponent == name }) else { continue }
            let test = try ConformanceTest(parsing: String(contentsOf: file, encoding: .utf8))
            let output = try SwiftBPFTool.run(["run", file.path, "--arch", "arm64", "--tier", "optimizing", "--json"])
            #expect(output.status == 0, "\(name): \(output.stdout) \(output.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], "\(name): \(output.stdout)")
            #expect((object["r0"] as? NSNumber)?.uint64Value == test.expectedResult, "\(name)")
            #expect(object["arch"] as? String == "arm64")
            #expect(object["tier"] as? String == "optimizing", "\(name): \(output.stdout)")
        }
        let files = ConformanceFiles.list("tests").enumerated().filter { $0.offset % 8 == 3 }.map(\.element)
        #expect(files.count >= 39)
        for file in files {
            let test = try ConformanceTest(parsing: String(contentsOf: file, encoding: .utf8))
            let output = try SwiftBPFTool.run(["conformance-plugin", Hex.string(test.memory), "--jit --arch arm64 --tier optimizing"],
                                              stdin: Hex.string(Instruction.bytes(of: try test.program())) + "\n")
            let value = UInt64(output.stdout.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
            #expect(output.status == 0 && value == test.expectedResult, "\(file.lastPathComponent): exit \(output.status), stdout '\(output.stdout)'")
        }
        let file = try #require(ConformanceFiles.list("tests").first { $0.lastPathComponent == "lock_cmpxchg.data" })
        let listing = try SwiftBPFTool.run(["disasm", file.path, "--jited", "--arch", "arm64", "--tier", "optimizing"])
        #expect(listing.status == 0, "\(listing.stderr)")
        #expect(listing.stdout.contains("; optimizing tier:"), "\(listing.stdout.prefix(300))")
        // The optimizing entry's first instruction, `stp x29, x30, [sp, #-16]!`, as a word.
        #expect(listing.stdout.contains("0000:  a9bf7bfd"), "\(listing.stdout.prefix(600))")
    }
}
