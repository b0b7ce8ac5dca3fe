import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Synchronization
import Testing

/// `swiftbpf trace` against the running kernel, with the trace_getppid fixture while this process calls getppid().
@Suite("swiftbpf trace", .requires(KernelForCommands.bpf), .requires(KernelForCommands.traceFS))
struct TraceCommandTests {
    final class Running: Sendable {
        let flag = Atomic<Bool>(true)
    }

    static func littleEndianHex(_ value: UInt32) -> String {
        withUnsafeBytes(of: value.littleEndian) { $0.map { String(format: "%02x", $0) }.joined() }
    }

    @Test("trace --json streams ring buffer records and trace lines, then dumps the maps with our calls counted")
    func traceGetppid() throws {
        // Call getppid() every 20 ms from a thread of this process while swiftbpf traces.
        let running = Running()
        let caller = Thread {
            while running.flag.load(ordering: .relaxed) {
                _ = getppid()
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        caller.start()
        defer { running.flag.store(false, ordering: .relaxed) }
        // trace_pipe takes one reader at a time; BPFLinuxTests' printk test reads it too.
        let (result, seconds) = try TracePipeReaders.exclusively {
            let started = Date()
            let result = try SwiftBPFTool.run(["trace", "Tests/Fixtures/bpf/obj/trace_getppid.o", "--duration", "2", "--json"])
            return (result, Date().timeIntervalSince(started))
        }
        running.flag.store(false, ordering: .relaxed)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(seconds < 10)

        let events = try result.stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
        let me = UInt32(getpid())
        let meHex = Self.littleEndianHex(me)

        let attached = try #require(events.first)
        #expect(attached["event"] as? String == "attached")
        #expect(attached["program"] as? String == "count_getppid")
        #expect(attached["target"] as? String == "tracepoint syscalls:sys_enter_getppid")

        let records = events.filter { $0["event"] as? String == "ringbuf" && ($0["data"] as? String)?.hasPrefix(meHex) == true }
        #expect(records.count >= 5, "\(result.stdout.prefix(2000))")
        #expect(records.allSatisfy { $0["map"] as? String == "events" && $0["size"] as? Int == 32 })

        let lines = events.filter { $0["event"] as? String == "trace" }
        #expect(lines.contains { ($0["message"] as? String)?.hasPrefix("swiftbpf_trace: getppid from tgid \(me), call ") == true },
                "no trace line from this process in \(lines.count) trace lines")

        let detached = try #require(events.first { $0["event"] as? String == "detached" })
        #expect(detached["reason"] as? String == "duration")
        #expect((detached["ringbuf_records"] as? Int ?? 0) >= records.count)

        let maps = events.filter { $0["event"] as? String == "map" }
        #expect(maps.compactMap { $0["name"] as? String }.prefix(3) == ["total", "calls", "events"])
        let calls = try #require(maps.first { $0["name"] as? String == "calls" }?["entries"] as? [[String: Any]])
        let mine = try #require(calls.first { $0["key"] as? String == meHex }, "no calls entry for pid \(me)")
        let count = UInt64(littleEndianHex: try #require(mine["value"] as? String))
        #expect(count >= UInt64(records.count) && count > 0)
        let total = try #require(maps.first { $0["name"] as? String == "total" }?["entries"] as? [[String: Any]])
        #expect(UInt64(littleEndianHex: total.first?["value"] as? String ?? "") >= count)
        // The map dump comes after everything streamed.
        #expect(events.lastIndex { $0["event"] as? String == "ringbuf" } ?? 0 < events.firstIndex { $0["event"] as? String == "map" } ?? 0)
    }

    @Test("trace reports what it cannot attach and fails when nothing attached")
    func nothingAttached() throws {
        try cancelUnlessTheKernelOffersTheirHelpers(ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/xdp_packets.o")))
        let result = try SwiftBPFTool.run(["trace", "Tests/Fixtures/bpf/obj/xdp_packets.o", "--duration", "0", "--json"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("no program was attached"))
        var skipped = result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        // Under --json the failure ends the stream as {"error": ...}.
        #expect((skipped.popLast()?["error"] as? String)?.contains("no program was attached") == true)
        #expect(skipped.count == 3)
        #expect(skipped.allSatisfy { $0["event"] as? String == "skipped" && ($0["reason"] as? String)?.contains("--interface IFNAME") == true })
    }
}

extension UInt64 {
    /// The value of up to 8 little-endian bytes in hex; 0 when `text` is not hex.
    init(littleEndianHex text: String) {
        var value: UInt64 = 0
        let digits = Array(text.utf8.prefix(16))
        for i in stride(from: 0, to: digits.count - 1, by: 2).reversed() {
            guard let byte = UInt8(String(decoding: digits[i...i + 1], as: UTF8.self), radix: 16) else { self = 0; return }
            value = value << 8 | UInt64(byte)
        }
        self = value
    }
}
