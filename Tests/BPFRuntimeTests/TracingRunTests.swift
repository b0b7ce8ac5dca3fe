import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Testing

@Suite("Programs without a packet: tracing.o and contexts.o")
struct TracingRunTests {
    static let tracing = "Tests/Fixtures/bpf/obj/tracing.o"
    /// `.bss` of tracing.o: hits[10] at 0, last_openat_flags at 80, last_syscall_id at 88.
    static func bss(_ loaded: LoadedObject) throws -> [UInt8] { try Bytes.value(loaded, ".bss") }

    static func failure(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test("tp_openat copies ctx->flags (offset 32); the record comes back unchanged")
    func tracepoint() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object(Self.tracing), programs: ["tp_openat", "syscall_prog"])
        let syscall = try #require(loaded.program(named: "syscall_prog"))
        #expect(try syscall.testRun(context: nil).returnValue == 7)
        var record = [UInt8](repeating: 0, count: 48)
        Bytes.put64(0x241, &record, 32)
        let result = try #require(loaded.program(named: "tp_openat")).testRun(context: record)
        #expect(result.returnValue == 0)
        #expect(result.packetOut.isEmpty)
        #expect(result.contextOut == record)
        let bss = try Self.bss(loaded)
        #expect(Bytes.u64(bss, 0) == 1)
        #expect(Bytes.u64(bss, 80) == 0x241)
        // syscall_prog returns 7 + hits[0].
        #expect(try syscall.testRun(context: nil).returnValue == 8)
    }

    @Test("raw_tp_enter copies args[1]; the context must hold what the program reads")
    func rawTracepoint() throws {
        let loaded = try LoadedObject(try RuntimeFixtures.object(Self.tracing), programs: ["raw_tp_enter"])
        let program = try #require(loaded.program(named: "raw_tp_enter"))
        var args = [UInt8](repeating: 0, count: 16)
        Bytes.put64(257, &args, 8)
        #expect(try program.testRun(context: args).returnValue == 0)
        let bss = try Self.bss(loaded)
        #expect(Bytes.u64(bss, 8) == 1)
        #expect(Bytes.u64(bss, 88) == 257)

        let none = Self.failure { _ = try program.testRun(context: nil) }
        #expect(none.contains("load of 8 bytes at context offset 8, but the run has no context: raw_tracepoint programs get the tracepoint's arguments"), "\(none)")
        #expect(none.contains("tracing.c:"), "\(none)")
        let short = Self.failure { _ = try program.testRun(context: [UInt8](repeating: 0, count: 8)) }
        #expect(short.contains("load of 8 bytes at context offset 8, past the end of the 8-byte context"), "\(short)")
        let long = Self.failure { _ = try program.testRun(context: [UInt8](repeating: 0, count: 104)) }
        #expect(long.contains("EINVAL: the context is 104 bytes; raw_tracepoint programs take at most 96"), "\(long)")
        let packet = Self.failure { _ = try program.testRun(packet: [1, 2, 3], context: args) }
        #expect(packet.contains("raw_tracepoint programs take no packet"), "\(packet)")
    }

    @Test("kprobes, fentry/fexit, tp_btf, LSM, perf events and iterators each bump their counter")
    func everyTracingType() throws {
        let names = ["kprobe_openat2", "kretprobe_openat2", "fentry_unlinkat", "fexit_unlinkat", "tp_btf_switch",
                     "lsm_file_open", "perf_sample", "iter_task"]
        let loaded = try LoadedObject(try RuntimeFixtures.object(Self.tracing), programs: Set(names))
        for name in names {
            let result = try #require(loaded.program(named: name)).testRun(context: nil)
            #expect(result.returnValue == 0, "\(name)")
        }
        // A kprobe's context is a zeroed struct pt_regs, a perf event's a struct bpf_perf_event_data.
        #expect(try #require(loaded.program(named: "kprobe_openat2")).testRun(context: nil).contextOut.count == 168)
        #expect(try #require(loaded.program(named: "perf_sample")).testRun(context: [1]).contextOut == [1] + [UInt8](repeating: 0, count: 183))
        let bss = try Self.bss(loaded)
        #expect((0..<10).map { Bytes.u64(bss, 8 * $0) } == [0, 0, 2, 1, 1, 1, 1, 1, 2, 1])
    }

    @Test("uprobe_event needs a ring buffer: it runs when the runtime has one, else loading names the map and its type")
    func uprobeNeedsRingBuffer() throws {
        do {
            let loaded = try LoadedObject(try RuntimeFixtures.object(Self.tracing), programs: ["uprobe_event"])
            #expect(try #require(loaded.program(named: "uprobe_event")).testRun(context: nil).returnValue == 0)
        } catch let error as LoadError {
            #expect(error.description.contains("map 'proc_events'"), "\(error)")
            #expect(error.description.contains("ringBuffer"), "\(error)")
        }
    }

    @Test("syscall programs read and write their context; kprobes read pt_regs; tracepoint contexts are read-only")
    func contextRules() throws {
        let object = try RuntimeFixtures.object("Tests/Fixtures/bpf/obj/contexts.o")
        // tp_write_ctx breaks the rules on purpose: trusted, so the runtime's check refuses it.
        let loaded = try LoadedObject(object, programs: ["sys_double", "kp_di", "tp_write_ctx"], verification: .off)
        let result = try #require(loaded.program(named: "sys_double")).testRun(context: [20, 0, 0, 0, 0, 0, 0, 0])
        #expect(result.returnValue == 21)
        #expect(result.contextOut == [20, 0, 0, 0, 40, 0, 0, 0])

        var regs = [UInt8](repeating: 0, count: 168)
        Bytes.put64(99, &regs, 112)
        let kprobe = try #require(loaded.program(named: "kp_di"))
        #expect(try kprobe.testRun(context: regs).returnValue == 99)
        let tooLong = Self.failure { _ = try kprobe.testRun(context: [UInt8](repeating: 0, count: 169)) }
        #expect(tooLong.contains("kprobe programs take at most 168 (struct pt_regs"), "\(tooLong)")

        let write = Self.failure { _ = try #require(loaded.program(named: "tp_write_ctx")).testRun(context: [UInt8](repeating: 0, count: 48)) }
        #expect(write.contains("instruction 1: store of 8 bytes at context offset 32: tracepoint programs may not write their context (only syscall programs may)"), "\(write)")
    }
}
