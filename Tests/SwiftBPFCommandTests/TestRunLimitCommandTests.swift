import BPFLinux
import BPFTestSupport
import Foundation
import Testing

/// The runtime's test-run input limits equal the kernel's (issue 16: it ran XDP packets of 0, 2 and
/// 100,000 bytes that the kernel refuses). Measured on Linux 6.18, 4 KiB pages: XDP takes 14 to
/// 73152 bytes (3520 linear + 17 page fragments; fewer: EINVAL, more: ENOMEM); skb types 14 to 3712.
@Suite("swiftbpf run: test-run input limits")
struct TestRunLimitCommandTests {
    func run(_ object: [String], size: Int, backend: String) throws -> SwiftBPFTool.Output {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-limit-\(UUID()).bin")
        try Data(count: size).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try SwiftBPFTool.run(["run"] + object + ["--packet-file", file.path, "--backend", backend, "--json"])
    }

    static let xdp = ["Examples/xdp-counter/xdp_counter.o"]
    static let tc = ["Tests/Fixtures/bpf/obj/tc_skb.o", "--program", "tc_mark"]
    static let cases: [([String], Int, String?)] = [
        (xdp, 0, "EINVAL"), (xdp, 2, "EINVAL"), (xdp, 13, "EINVAL"), (xdp, 14, nil), (xdp, 3520, nil), (xdp, 73152, nil),
        (xdp, 73153, "ENOMEM"), (xdp, 100_000, "ENOMEM"),
        (tc, 13, "EINVAL"), (tc, 14, nil), (tc, 3712, nil), (tc, 3713, "EINVAL"),
    ]

    @Test("the runtime refuses what the kernel refuses, with the kernel's errno")
    func runtime() throws {
        for (object, size, errno) in Self.cases {
            let result = try run(object, size: size, backend: "runtime")
            if let errno {
                #expect(result.status != 0 && result.stderr.contains(errno), "\(object[0]) \(size) bytes: \(result.stderr)")
            } else {
                #expect(result.status == 0, "\(object[0]) \(size) bytes: \(result.stderr)")
            }
        }
    }

    @Test("the kernel's limits are the ones the runtime applies", .requires(KernelForCommands.bpf))
    func kernel() throws {
        for (object, size, errno) in Self.cases {
            let result = try run(object, size: size, backend: "kernel")
            if let errno {
                #expect(result.status != 0 && result.stderr.contains(errno), "\(object[0]) \(size) bytes: \(result.stderr)")
            } else {
                #expect(result.status == 0, "\(object[0]) \(size) bytes: \(result.stderr)")
            }
        }
    }
}
