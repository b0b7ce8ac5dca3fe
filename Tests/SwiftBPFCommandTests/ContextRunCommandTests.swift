import BPFTestSupport
import Foundation
import Testing

@Suite("swiftbpf run: skb and context-only program types")
struct ContextRunCommandTests {
    static func json(_ output: SwiftBPFTool.Output) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], "\(output.stdout) \(output.stderr)")
    }

    static func temporaryFile(_ bytes: [UInt8]) throws -> URL {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-ctx-\(UUID()).bin")
        try Data(bytes).write(to: file)
        return file
    }

    @Test("a TC program on one packet with --json: the verdict, the packet and the __sk_buff afterwards")
    func tcPacket() throws {
        // 54 bytes: Ethernet, IPv4 (TCP, 192.168.0.1 -> 192.168.0.2), a zeroed TCP header.
        let frame = "020000000002" + "020000000001" + "0800" + "45000028000000004006" + "0000" + "c0a80001" + "c0a80002"
            + String(repeating: "00", count: 20)
        let result = try SwiftBPFTool.run(["run", "Tests/Fixtures/bpf/obj/tc_skb.o", "--program", "tc_mark", "--packet-hex", frame, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try Self.json(result)
        #expect(object["return"] as? Int == 0)
        let packet = try #require(object["packet_out"] as? String)
        #expect(packet == "020000000001" + frame.dropFirst(12))
        let ctx = try #require(object["ctx_out"] as? String)
        #expect(ctx.count == 384)
        // mark 0x42 at offset 8, priority 3 at 32, ifindex 1 at 40, cb[0] 54 at 48, cb[1] 6 at 52.
        #expect(ctx.dropFirst(16).prefix(8) == "42000000")
        #expect(ctx.dropFirst(64).prefix(8) == "03000000")
        #expect(ctx.dropFirst(80).prefix(8) == "01000000")
        #expect(ctx.dropFirst(96).prefix(16) == "3600000006000000")
    }

    @Test("--pcap counts TC verdicts by name, and --ctx-file sets skb->mark")
    func tcCapture() throws {
        let result = try SwiftBPFTool.run(["run", "Tests/Fixtures/bpf/obj/tc_skb.o", "--program", "tc_mark",
                                           "--pcap", "Examples/xdp-counter/sample.pcap", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Self.json(result)["verdicts"] as? [String: Int] == ["TC_ACT_OK": 20])
        var ctx = [UInt8](repeating: 0, count: 192)
        ctx[8] = 0xad; ctx[9] = 0xde
        let file = try Self.temporaryFile(ctx)
        defer { try? FileManager.default.removeItem(at: file) }
        let text = try SwiftBPFTool.run(["run", "Tests/Fixtures/bpf/obj/tc_skb.o", "--program", "tc_mark",
                                         "--pcap", "Examples/xdp-counter/sample.pcap", "--ctx-file", file.path])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("TC_ACT_SHOT    20"), "\(text.stdout)")
    }

    @Test("a tracepoint with --ctx-file: no packet, the record back as ctx_out, the map updated")
    func tracepointContext() throws {
        var record = [UInt8](repeating: 0, count: 48)
        record[32] = 0x41; record[33] = 0x02
        let file = try Self.temporaryFile(record)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try SwiftBPFTool.run(["run", "Tests/Fixtures/bpf/obj/tracing.o", "--program", "tp_openat", "--ctx-file", file.path, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try Self.json(result)
        #expect(object["return"] as? Int == 0)
        #expect(object["packet_out"] as? String == "")
        #expect(object["ctx_out"] as? String == record.map { String(format: "%02x", $0) }.joined())
        let text = try SwiftBPFTool.run(["run", "Tests/Fixtures/bpf/obj/tracing.o", "--program", "tp_openat", "--ctx-file", file.path])
        #expect(text.stdout.contains("last_openat_flags: 577"), "\(text.stdout)")
    }

    @Test("a syscall program runs with no input; a packet for it is refused")
    func syscallWithoutInput() throws {
        let result = try SwiftBPFTool.run(["run", "Tests/Fixtures/bpf/obj/tracing.o", "--program", "syscall_prog", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Self.json(result)["return"] as? Int == 7)
        let packet = try SwiftBPFTool.run(["run", "Tests/Fixtures/bpf/obj/tracing.o", "--program", "syscall_prog", "--packet-hex", "00"])
        #expect(packet.status != 0)
        #expect(packet.stderr.contains("syscall programs take no packet"), "\(packet.stderr)")
    }

    @Test("a store to a read-only __sk_buff field fails naming the field, the instruction and the C line")
    func readOnlyStore() throws {
        // Trusted (--no-verify): the runtime's own check refuses the store.
        let result = try SwiftBPFTool.run(["run", "Tests/Fixtures/bpf/obj/contexts.o", "--program", "tc_write_len",
                                           "--packet-hex", String(repeating: "00", count: 60), "--no-verify"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("instruction 1: store of 4 bytes to __sk_buff.len (offset 0), which sched_cls programs may not write"), "\(result.stderr)")
        #expect(result.stderr.contains("contexts.c:"), "\(result.stderr)")
    }

    @Test("by default the verifier refuses the program before it runs, naming the field, the instruction and the C line")
    func readOnlyStoreVerified() throws {
        let result = try SwiftBPFTool.run(["run", "Tests/Fixtures/bpf/obj/contexts.o", "--program", "tc_write_len",
                                           "--packet-hex", String(repeating: "00", count: 60)])
        #expect(result.status != 0)
        #expect(result.stderr.contains("rejected by the verifier: invalid context store: sched_cls programs may not write __sk_buff.len at insn 1 (line 141: skb->len = 1;)"), "\(result.stderr)")
    }
}
