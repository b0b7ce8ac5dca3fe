import Foundation
import Testing

/// Bad option values get a clear error naming the option, never a trap (issue 16).
@Suite("swiftbpf option checks")
struct InputCheckCommandTests {
    static let packet = String(repeating: "00", count: 60)
    static let object = "Tests/Fixtures/bpf/obj/global_data.o"

    /// A run that must fail cleanly: a non-zero exit (not a signal's), and stderr naming `option`.
    func refused(_ arguments: [String], naming option: String) throws {
        let result = try SwiftBPFTool.run(arguments)
        #expect(result.status != 0 && result.status < 128, "exit status \(result.status) for \(arguments)")
        #expect(result.stderr.contains(option), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Backtrace"), "\(result.stderr)")
    }

    @Test("--repeat out of the kernel's u32 range is refused, whatever the backend, for run and map dump")
    func repeatRange() throws {
        for backend in ["runtime", "kernel"] {
            for count in ["4294967296", "0", "-1", "99999999999999999999"] {
                try refused(["run", Self.object, "--packet-hex", Self.packet, "--backend", backend, "--repeat=\(count)"], naming: "--repeat")
                try refused(["map", "dump", Self.object, "--packet-hex", Self.packet, "--backend", backend, "--repeat=\(count)"], naming: "--repeat")
            }
        }
    }

    @Test("other numeric options: verify --log-level and --mem-size, trace --duration, a map id past u32")
    func otherNumbers() throws {
        try refused(["verify", "Examples/asm/checksum.s", "--log-level", "7"], naming: "--log-level")
        try refused(["verify", "Examples/asm/checksum.s", "--mem-size=-4"], naming: "--mem-size")
        try refused(["trace", Self.object, "--duration", "1e300"], naming: "--duration")
        try refused(["map", "dump", "4294967296"], naming: "map id 4294967296")
    }

    @Test("--kconfig values are parsed strictly and checked against the extern's type")
    func kconfigValues() throws {
        for value in ["abc", "12abc", "0xzz", "4294967296", "-1", "m", "\"text\"", "", "y"] {
            try refused(["run", Self.object, "--packet-hex", Self.packet, "--kconfig=LINUX_KERNEL_VERSION=\(value)"],
                        naming: "--kconfig LINUX_KERNEL_VERSION=\(value)")
        }
        try refused(["run", Self.object, "--packet-hex", Self.packet, "--kconfig", "CONFIG_NOPE=1"], naming: "no .kconfig extern 'CONFIG_NOPE'")
        // load parses the same way, before anything touches the kernel.
        try refused(["load", Self.object, "--kconfig", "LINUX_KERNEL_VERSION=abc"], naming: "--kconfig LINUX_KERNEL_VERSION=abc")
        for (value, text) in [("0x60c00", "kernel_major: 6, kernel_minor: 12"), ("396288", "kernel_major: 6, kernel_minor: 12"),
                              ("01410000", "kernel_major: 6, kernel_minor: 16")] {
            let result = try SwiftBPFTool.run(["run", Self.object, "--packet-hex", Self.packet, "--kconfig", "LINUX_KERNEL_VERSION=\(value)"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains(text), "\(value): \(result.stdout)")
        }
    }
}
