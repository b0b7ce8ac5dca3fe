import BPFTestSupport
import Foundation
import Testing

/// `swiftbpf attach usdt`: the USDT fixture loaded and pinned with `swiftbpf load`, its gated probe
/// attached with a pinned link; usdt_probes (built with the host's clang) sees its semaphore set while
/// the pin holds the link, and cleared once the pin is removed.
@Suite("swiftbpf attach usdt", .requires(KernelForCommands.bpffs), .requires(USDTProbes.built))
struct USDTCommandTests {
    /// A copy of usdt_probes of its own (another inode): the USDT tests of BPFLinuxTests, which may run
    /// meanwhile, attach to every process of the original and must not see these runs.
    static let copy: Result<String, USDTProbesUnavailable> = USDTProbes.binary.flatMap { original in
        let path = original + "-cli"
        try? FileManager.default.removeItem(atPath: path)
        do { try FileManager.default.copyItem(atPath: original, toPath: path) } catch {
            return .failure(USDTProbesUnavailable(reason: "cannot copy \(original): \(error)"))
        }
        return .success(path)
    }

    /// Runs the copy once; the semaphore value it prints.
    static func semaphore() throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.copy.get())
        process.arguments = ["1"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("a pinned usdt link counts in the probe's semaphore until the pin is removed")
    func attachUSDT() throws {
        let binary = try Self.copy.get()
        let dir = "/sys/fs/bpf/swb_usdt_\(getpid() % 10000)"
        let load = try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/kernel/usdt.o", "--pin", dir])
        #expect(load.status == 0, "\(load.stderr)")
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let link = "\(dir)/gated_link"
        let attach = try SwiftBPFTool.run(["attach", "usdt", "\(binary):swiftbpf:gated", "--prog-pinned", "\(dir)/progs/on_gated", "--pin", link, "--json"])
        #expect(attach.status == 0, "\(attach.stderr)")
        #expect(attach.stdout.contains("usdt \(binary):swiftbpf:gated (1 site)"), "\(attach.stdout)")
        #expect(try Self.semaphore() == "1")
        try FileManager.default.removeItem(atPath: link)
        // The kernel releases an unpinned link from a work queue: the semaphore drops soon after.
        var after = try Self.semaphore()
        let deadline = Date().addingTimeInterval(5)
        while after != "0", Date() < deadline {
            usleep(20_000)
            after = try Self.semaphore()
        }
        #expect(after == "0")

        let bad = try SwiftBPFTool.run(["attach", "usdt", "swiftbpf:gated", "--prog-pinned", "\(dir)/progs/on_gated", "--wait"])
        #expect(bad.status != 0 && bad.stderr.contains("expected BINARY:PROVIDER:NAME"), "\(bad.stderr)")
        let missing = try SwiftBPFTool.run(["attach", "usdt", "\(binary):swiftbpf:nope", "--prog-pinned", "\(dir)/progs/on_gated", "--wait"])
        #expect(missing.status != 0 && missing.stderr.contains("its probes: swiftbpf:args, swiftbpf:gated"), "\(missing.stderr)")
    }
}
