import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// USDT programs attached to the probes of usdt_probes.c (built with the host's clang) in the
/// running kernel: the fixture Tests/Fixtures/bpf/kernel/usdt.c reads each site's spec as libbpf's
/// usdt.bpf.h does and sums the arguments it finds. Serialized: an attachment without a pid sees
/// every process running the binary, so two tests' children must not overlap.
@Suite(.serialized, .requires(Kernel.bpf), .requires(USDTProbes.built), .requires(Kernel.attaches(.uprobe)))
struct USDTAttachTests {
    static let uprobeMulti = Availability(KernelObject.hasUprobeMultiLinks, else: "this kernel has no uprobe-multi links (Linux 6.6)")

    static func object() throws -> KernelObject {
        try KernelObject(ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/kernel/usdt.o")))
    }

    /// A started usdt_probes process; with `waiting`, it fires only after `go()`.
    final class Child {
        let process = Process()
        let input = Pipe()
        let output = Pipe()
        var pid: Int32 { process.processIdentifier }

        init(iterations: Int, waiting: Bool = false) throws {
            process.executableURL = URL(fileURLWithPath: try USDTProbes.binary.get())
            process.arguments = [String(iterations)] + (waiting ? ["wait"] : [])
            process.standardInput = input
            process.standardOutput = output
            try process.run()
            // Process.run() may return before the exec is complete: a waiting child's pid is attached
            // to, so wait until the binary's code is mapped in it.
            guard waiting else { return }
            let binary = URL(fileURLWithPath: try USDTProbes.binary.get()).resolvingSymlinksInPath().path
            let deadline = Date().addingTimeInterval(5)
            func mapped() -> Bool {
                guard let file = FileHandle(forReadingAtPath: "/proc/\(pid)/maps"), let maps = try? file.readToEnd() else { return false }
                return String(decoding: maps, as: UTF8.self).split(separator: "\n").contains { $0.contains(" r-xp ") && $0.hasSuffix(binary) }
            }
            while !mapped(), Date() < deadline { usleep(1_000) }
        }

        func go() throws { try input.fileHandleForWriting.write(contentsOf: [0x2a]) }

        /// Waits for the exit; the semaphore's value it printed.
        func finish() -> Int? {
            process.waitUntilExit()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 0, "usdt_probes exited with \(process.terminationStatus): \(text)")
            return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// Runs usdt_probes `iterations` times; the semaphore it printed.
    @discardableResult
    static func run(_ iterations: Int) throws -> Int? {
        try Child(iterations: iterations).finish()
    }

    static func results(_ map: KernelMap?) throws -> [Int64] {
        let map = try #require(map)
        return try (0..<11).map { try map.lookup(key: UInt32($0), as: Int64.self) ?? 0 }
    }

    /// What on_args sums over `n` hits: (-7, i, (short)-i, 2 * (1000 + i)) for i in 0..<n.
    static func argumentSums(_ n: Int64) -> [Int64] {
        let triangle = n * (n - 1) / 2
        return [-7 * n, triangle, -triangle, 2 * (1000 * n + triangle)]
    }

    @Test(.requires(uprobeMulti))
    func usdtProgramsReadTheirArgumentsThroughTheSpecs() throws {
        let loaded = try Self.object()
        let binary = try USDTProbes.binary.get()
        let args = try loaded.attachUSDT(program: "on_args", binary: binary, provider: "swiftbpf", name: "args", cookie: 77)
        #expect(args.kind == .bpfLink)
        #expect(try args.info().type == .uprobeMulti)
        // By section name, finding the spec maps through the program.
        let gatedProgram = try #require(loaded.program(named: "on_gated"))
        let plan = AutoAttach(section: "usdt/\(binary):swiftbpf:gated")
        #expect(plan == .usdt(binary: binary, provider: "swiftbpf", name: "gated"))
        let gated = try gatedProgram.attach(plan)

        #expect(try Self.run(5) == 1, "the kernel counts the gated probe's attachment in its semaphore")
        let a = try Self.results(loaded.map(named: "args_results"))
        #expect(a[0] == 5, "hits")
        #expect(Array(a[1...4]) == Self.argumentSums(5), "a constant, a signed int, a signed short in registers, a long in memory")
        #expect(a[5] == 4 && a[6] == 0 && a[10] == 0, "4 arguments, every spec found and read")
        #expect(a[7] == 77, "the USDT cookie")
        #expect(a[9] == 1, "LINUX_HAS_BPF_COOKIE is set on this kernel")
        let g = try Self.results(loaded.map(named: "gated_results"))
        #expect(g[0] == 5 && g[1] == 5010 && g[5] == 1 && g[7] == 0)

        // Released: nothing more is counted, and the semaphore is back to 0.
        args.close()
        gated.close()
        #expect(try Self.run(3) == 0)
        #expect(try Self.results(loaded.map(named: "args_results"))[0] == 5)
        #expect(try Self.results(loaded.map(named: "gated_results"))[0] == 5)
    }

    @Test(.requires(uprobeMulti))
    func aPidFilteredAttachFillsTheAddressMap() throws {
        let loaded = try Self.object()
        let binary = try USDTProbes.binary.get()
        let addresses = try #require(loaded.map(named: USDTAttach.ipToSpecIDMap))
        let child = try Child(iterations: 4, waiting: true)
        let link = try loaded.attachUSDT(program: "on_args", binary: binary, provider: "swiftbpf", name: "args", pid: child.pid)
        // The PIE's run-time address of the one site, known for this process.
        #expect(try addresses.keys().count == 1)
        try Self.run(2)   // another process: not counted
        try child.go()
        _ = child.finish()
        let a = try Self.results(loaded.map(named: "args_results"))
        #expect(a[0] == 4)
        #expect(Array(a[1...4]) == Self.argumentSums(4))
        #expect(a[8] == 4, "the address map agreed with the cookie at every hit")
        link.close()
        #expect(try addresses.keys().isEmpty, "released: the addresses are removed")
    }

    /// A program loaded without BPF_TRACE_UPROBE_MULTI: adds 1 to slot `bpf_get_attach_cookie()` of MAP0.
    static func cookieCounter(_ counts: KernelMap) throws -> KernelProgram {
        let source = """
            call 174
            stxw [%r10-4], %r0
            lddw %r1, MAP0
            mov %r2, %r10
            add %r2, -4
            call 1
            jeq %r0, 0, out
            mov %r1, 1
            lock add [%r0+0], %r1
        out:
            mov %r0, 0
            exit
        """
        return try KernelProgram.load(type: .kprobe, instructions: assemble(source, maps: [counts]), name: "usdt_cookies")
    }

    @Test func perProbeUprobesCarryTheSpecIDAsTheirCookie() throws {
        let binary = try USDTProbes.binary.get()
        let counts = try counterMap("usdt_counts", slots: 4)
        let specs = try KernelMap(MapSpec(name: USDTAttach.specsMap, type: .array, keySize: 4, valueSize: USDTSpec.Layout.libbpf.size, maxEntries: 4))
        let program = try Self.cookieCounter(counts)
        // Automatic: the kernel refuses a uprobe-multi link for this program, so one uprobe per site.
        let args = try program.attachUSDT(binary: binary, provider: "swiftbpf", name: "args", specs: specs)
        #expect(args.kind == .perfEvent)
        let gated = try program.attachUSDT(binary: binary, provider: "swiftbpf", name: "gated", specs: specs, mode: .perProbe)
        #expect(try Self.run(6) == 1, "the uprobe's ref_ctr_offset counts the semaphore")
        #expect(try counts.lookup(key: UInt32(0), as: UInt64.self) == 6, "spec id 0: swiftbpf:args")
        #expect(try counts.lookup(key: UInt32(1), as: UInt64.self) == 6, "spec id 1: swiftbpf:gated")
        // The specs are what the notes say.
        let probes = try USDTBinary(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: binary))), path: binary)
        let expected = try #require(probes.probes(provider: "swiftbpf", name: "args").first).specification().encoded()
        #expect(try specs.lookup(key: withUnsafeBytes(of: UInt32(0)) { Array($0) }) == expected)
        args.close()
        gated.close()
        #expect(try Self.run(2) == 0)
        #expect(try counts.lookup(key: UInt32(0), as: UInt64.self) == 6)
        // The ids were freed: a new attachment takes id 0 again.
        let again = try program.attachUSDT(binary: binary, provider: "swiftbpf", name: "gated", specs: specs, mode: .perProbe)
        try Self.run(1)
        #expect(try counts.lookup(key: UInt32(0), as: UInt64.self) == 7)
        again.close()
    }

    @Test func aMissingProbeOrAWrongMapIsAClearError() throws {
        let binary = try USDTProbes.binary.get()
        let counts = try counterMap("usdt_err", slots: 1)
        let program = try Self.cookieCounter(counts)
        let specs = try KernelMap(MapSpec(name: "specs", type: .array, keySize: 4, valueSize: USDTSpec.Layout.libbpf.size, maxEntries: 1))
        let missing = #expect(throws: BPFError.self) {
            try program.attachUSDT(binary: binary, provider: "swiftbpf", name: "nope", specs: specs)
        }
        #expect(missing?.errno == .ENOENT)
        #expect(missing?.description.contains("has no probe swiftbpf:nope (its probes: swiftbpf:args, swiftbpf:gated)") == true, "\(missing.map { "\($0)" } ?? "")")
        let wrong = try KernelMap(MapSpec(name: "specs", type: .array, keySize: 4, valueSize: 100, maxEntries: 1))
        let layout = #expect(throws: BPFError.self) {
            try program.attachUSDT(binary: binary, provider: "swiftbpf", name: "args", specs: wrong)
        }
        #expect(layout?.description.contains("not usdt.bpf.h's spec map") == true)
        // One entry: the second attachment's spec does not fit.
        let first = try program.attachUSDT(binary: binary, provider: "swiftbpf", name: "args", specs: specs, mode: .perProbe)
        let full = #expect(throws: BPFError.self) {
            try program.attachUSDT(binary: binary, provider: "swiftbpf", name: "gated", specs: specs, mode: .perProbe)
        }
        #expect(full?.errno == .E2BIG)
        first.close()
        let noNotes = #expect(throws: BPFError.self) {
            try program.attachUSDT(binary: "/proc/self/exe", provider: "swiftbpf", name: "args", specs: specs)
        }
        #expect(noNotes?.errno == .ENOENT)
    }
}
