import BPFLinux
import BPFTestSupport
import Foundation
import Testing

/// `swiftbpf run --backend kernel`, `swiftbpf map dump --backend kernel` and `swiftbpf load`, against
/// the running kernel. Skipped, with the reason, where bpf() is not usable.
@Suite("swiftbpf with the kernel backend", .requires(KernelForCommands.bpf))
struct KernelBackendCommandTests {
    static let tcp = "0200000000020200000000010800450000280000000040060000c0a80001c0a800020000000000000000000000000000000000000000"

    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test("run --backend kernel prints the runtime's JSON fields and results")
    func runMatchesRuntime() throws {
        let args = ["run", "Tests/Fixtures/bpf/obj/tc_skb.o", "--program", "tc_mark", "--packet-hex", Self.tcp, "--json"]
        let kernel = try SwiftBPFTool.run(args + ["--backend", "kernel"])
        let runtime = try SwiftBPFTool.run(args)
        #expect(kernel.status == 0, "\(kernel.stderr)")
        let k = try json(kernel.stdout), r = try json(runtime.stdout)
        #expect(Set(k.keys) == Set(r.keys))
        #expect(k["return"] as? Int == 0 && r["return"] as? Int == 0)
        #expect((k["packet_out"] as? String)?.hasPrefix("020000000001") == true)
        #expect(k["packet_out"] as? String == r["packet_out"] as? String)
    }

    @Test("a capture through both backends: the same verdicts and maps")
    func pcapMatchesRuntime() throws {
        let args = ["run", "Examples/xdp-counter/xdp_counter.o", "--pcap", "Examples/xdp-counter/sample.pcap", "--json"]
        let kernel = try SwiftBPFTool.run(args + ["--backend", "kernel"])
        let runtime = try SwiftBPFTool.run(args)
        #expect(kernel.status == 0, "\(kernel.stderr)")
        let k = try json(kernel.stdout), r = try json(runtime.stdout)
        #expect(k["verdicts"] as? [String: Int] == ["XDP_DROP": 4, "XDP_PASS": 16])
        #expect(k["verdicts"] as? [String: Int] == r["verdicts"] as? [String: Int])
        func entries(_ object: [String: Any]) -> Set<String> {
            let maps = object["maps"] as? [String: [[String: String]]] ?? [:]
            return Set(maps["proto_stats"]?.map { ($0["key"] ?? "") + "=" + ($0["value"] ?? "") } ?? [])
        }
        #expect(entries(k).count == 4)
        #expect(entries(k) == entries(r))
    }

    @Test("map dump --backend kernel shows program-array slots by name")
    func mapDump() throws {
        let dump = try SwiftBPFTool.run(["map", "dump", "Tests/Fixtures/bpf/obj/tail_calls.o", "--map", "chain", "--backend", "kernel"])
        #expect(dump.status == 0, "\(dump.stderr)")
        #expect(dump.stdout.contains("map chain (prog_array, 3 entries):"))
        #expect(dump.stdout.contains("program: tail_stage1 (id "))
    }

    @Test("load --pin pins maps and programs and prints their ids", .requires(KernelForCommands.bpffs))
    func loadAndPin() throws {
        let dir = "/sys/fs/bpf/swiftbpf-cli-test-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/maps_hash_array.o", "--pin", dir, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        let programs = try #require(object["programs"] as? [[String: Any]])
        #expect(programs.map { $0["name"] as? String } == ["count_by_proto"])
        #expect(programs.first?["pinned"] as? String == dir + "/progs/count_by_proto")
        #expect((programs.first?["id"] as? Int ?? 0) > 0)
        let maps = try #require(object["maps"] as? [[String: Any]])
        #expect(Set(maps.compactMap { $0["name"] as? String }) == ["proto_packets", "total_bytes"])
        #expect(maps.allSatisfy { ($0["pinned"] as? String)?.hasPrefix(dir + "/maps/") == true })
        // The pins outlive the command: the program is still in the kernel, by the id printed.
        let program = try KernelProgram.pinned(at: dir + "/progs/count_by_proto")
        #expect(try program.info().id == UInt32(programs.first?["id"] as? Int ?? 0))
        let missing = try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/maps_hash_array.o", "--program", "nope"])
        #expect(missing.status != 0 && missing.stderr.contains("no program 'nope'"))
    }
}

/// What the kernel command tests need, probed once: suites and tests that need one are skipped,
/// with the reason, where it is missing.
enum KernelForCommands {
    /// bpf() works (a one-entry array map can be created).
    static let bpf: Availability = {
        if let error = BPFSyscall.probe() { return .missing("bpf() is not usable here (needs Linux and root or CAP_BPF): \(error)") }
        return .available
    }()

    /// bpf() works and /sys/fs/bpf is a bpffs (mounted when it is not): the commands' pins go there.
    static let bpffs: Availability = bpf.and({
        do {
            try BPFFileSystem.mountIfNeeded()
            return .available
        } catch {
            return .missing("no bpffs at /sys/fs/bpf and mounting one failed: \(error)")
        }
    }())

    /// The syscalls:sys_enter_getppid tracepoint exists and trace_pipe is readable (`swiftbpf trace`).
    static let traceFS: Availability = {
        do {
            _ = try TraceFS.eventID(category: "syscalls", name: "sys_enter_getppid")
            let pipe = try TraceFS.tracePipePath()
            return Availability(FileManager.default.isReadableFile(atPath: pipe), else: "\(pipe) is not readable")
        } catch {
            return .missing("no tracefs with the syscalls:sys_enter_getppid tracepoint: \(error)")
        }
    }()
}
