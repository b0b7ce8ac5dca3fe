import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// Ring buffer and perf buffer readers over kernel maps, fed by XDP programs run with
/// BPF_PROG_TEST_RUN. Skipped, with the reason, where bpf() is not usable.
@Suite(.requires(Kernel.bpf))
struct EventReaderTests {
    static let packet = [UInt8](repeating: 0, count: 64)

    /// Adds 1 to slot 0 of MAP0 (an array of one u64), leaving the new value in r6; jumps to `out`
    /// when the lookup fails.
    static let nextValue = lookupSource() + "\n" + """
            ldxdw %r6, [%r0]
            add %r6, 1
            stxdw [%r0], %r6
        """

    /// An XDP program that increments slot 0 of MAP0 (an array of one u64) and emits the new value:
    /// `bpf_ringbuf_output(MAP1, &value, 8, 0)`, or with `reserve`, reserve/commit, discarding odd values.
    static func producer(counter: KernelMap, ring: KernelMap, reserve: Bool = false) throws -> KernelProgram {
        let emit = reserve ? """
            lddw %r1, MAP1
            mov %r2, 8
            mov %r3, 0
            call 131
            jeq %r0, 0, out
            stxdw [%r0+0], %r6
            mov %r1, %r0
            mov %r2, 0
            mov %r3, %r6
            and %r3, 1
            jne %r3, 0, discard
            call 132
            ja out
            discard:
            call 133
            """ : """
            stxdw [%r10-16], %r6
            lddw %r1, MAP1
            mov %r2, %r10
            add %r2, -16
            mov %r3, 8
            mov %r4, 0
            call 130
            """
        return try KernelProgram.load(type: .xdp, instructions: assemble("""
            \(nextValue)
            \(emit)
            out:
            mov %r0, 2
            exit
            """, maps: [counter, ring]), name: reserve ? "rb_reserve" : "rb_output")
    }

    func counter() throws -> KernelMap {
        try counterMap("seq")
    }

    @Test func ringBufferBurstArrivesCompleteAndInOrderThroughWrapAround() throws {
        // 100,000 records of 16 bytes through a 64 KiB ring: it wraps ~24 times, drained between bursts.
        let ringMap = try KernelMap(MapSpec(name: "burst", type: .ringBuffer, keySize: 0, valueSize: 0, maxEntries: 64 * 1024))
        let program = try Self.producer(counter: counter(), ring: ringMap)
        let ring = try RingBuffer(map: ringMap)
        var expected: UInt64 = 1
        var outOfOrder = 0
        for _ in 0..<100 {
            _ = try program.testRun(data: Self.packet, repeat: 1000)
            ring.consume { bytes in
                if bytes.count != 8 || bytes.loadUnaligned(as: UInt64.self) != expected { outOfOrder += 1 }
                expected += 1
            }
        }
        #expect(expected - 1 == 100_000)
        #expect(outOfOrder == 0)
        #expect(ring.pendingBytes == 0)
    }

    @Test func ringBufferAsyncSequenceDeliversABurst() async throws {
        let ringMap = try KernelMap(MapSpec(name: "burst_async", type: .ringBuffer, keySize: 0, valueSize: 0, maxEntries: 4 << 20))
        let program = try Self.producer(counter: counter(), ring: ringMap)
        let ring = try RingBuffer(map: ringMap)
        let total = 100_000
        // A watchdog closes the ring if records go missing, so the test fails instead of hanging.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            ring.close()
        }
        defer { watchdog.cancel() }
        let producer = Task.detached {
            for _ in 0..<10 { _ = try program.testRun(data: Self.packet, repeat: UInt32(total / 10)) }
        }
        var received = 0
        var inOrder = true
        for try await record in ring.records() {
            received += 1
            if record.count != 8 || record.withUnsafeBytes({ $0.loadUnaligned(as: UInt64.self) }) != UInt64(received) { inOrder = false }
            if received == total { break }
        }
        try await producer.value
        #expect(received == total)
        #expect(inOrder)
    }

    @Test func ringBufferSkipsDiscardedRecords() throws {
        let ringMap = try KernelMap(MapSpec(name: "discards", type: .ringBuffer, keySize: 0, valueSize: 0, maxEntries: 16 * 1024))
        let program = try Self.producer(counter: counter(), ring: ringMap, reserve: true)
        let ring = try RingBuffer(map: ringMap)
        _ = try program.testRun(data: Self.packet, repeat: 20)
        var values: [UInt64] = []
        let seen = ring.consume { values.append($0.loadUnaligned(as: UInt64.self)) }
        #expect(seen == 10)
        #expect(values == Array(stride(from: 2, through: 20, by: 2)))
        // poll with a timeout and nothing there returns 0.
        #expect(try ring.poll(timeoutMilliseconds: 10) { _ in } == 0)
    }

    @Test func ringBufferReaderRejectsOtherMaps() throws {
        let map = try counter()
        let error = #expect(throws: BPFError.self) { try RingBuffer(map: map) }
        #expect(error?.description.contains("ringbuf") == true)
    }

    /// An XDP program that increments slot 0 of MAP0 and sends it with
    /// `bpf_perf_event_output(ctx, MAP1, BPF_F_CURRENT_CPU, &value, 8)`.
    static func perfProducer(counter: KernelMap, events: KernelMap) throws -> KernelProgram {
        try KernelProgram.load(type: .xdp, instructions: assemble("""
            mov %r7, %r1
            \(nextValue)
            stxdw [%r10-16], %r6
            mov %r1, %r7
            lddw %r2, MAP1
            lddw %r3, 0xffffffff
            mov %r4, %r10
            add %r4, -16
            mov %r5, 8
            call 25
            out:
            mov %r0, 2
            exit
            """, maps: [counter, events]), name: "perf_output")
    }

    func perfMap(_ name: String) throws -> KernelMap {
        try KernelMap(MapSpec(name: name, type: .perfEventArray, keySize: 4, valueSize: 4, maxEntries: PossibleCPUs.count))
    }

    @Test func perfBufferSamplesArrive() throws {
        let events = try perfMap("perf_events")
        let program = try Self.perfProducer(counter: counter(), events: events)
        let perf = try PerfBuffer(map: events, pagesPerCPU: 4)
        _ = try program.testRun(data: Self.packet, repeat: 10)
        var values: [UInt64] = []
        var sizes: Set<Int> = []
        try perf.poll(timeoutMilliseconds: 1000) { event in
            if case .sample(_, let bytes) = event {
                values.append(bytes.loadUnaligned(as: UInt64.self))
                sizes.insert(bytes.count)
            }
        }
        #expect(values == Array(1...10))
        // The kernel pads raw samples so that size + 4 is a multiple of 8.
        #expect(sizes == [12])
        #expect(perf.lostSamples == 0)
    }

    @Test func perfBufferCountsLostSamples() throws {
        let events = try perfMap("perf_lost")
        let program = try Self.perfProducer(counter: counter(), events: events)
        let perf = try PerfBuffer(map: events, pagesPerCPU: 1)
        // Both runs must write to the same CPU's buffer: the lost record of a CPU is only written
        // by that CPU's next output. Pin this thread to one CPU for the test.
        let pinned = ThreadAffinity.pinToCurrentCPU()
        defer { pinned?.restore() }
        // 24 bytes a sample: one page holds ~170, so most of 2,000 are lost.
        _ = try program.testRun(data: Self.packet, repeat: 2000)
        var samples: UInt64 = 0
        var lost: UInt64 = 0
        perf.consume { event in
            switch event {
            case .sample: samples += 1
            case .lost(_, let count): lost += count
            }
        }
        // Lost records are written when space frees up: read once more after draining.
        _ = try program.testRun(data: Self.packet, repeat: 1)
        perf.consume { event in
            switch event {
            case .sample: samples += 1
            case .lost(_, let count): lost += count
            }
        }
        #expect(lost > 0)
        #expect(samples + lost == 2001)
        #expect(perf.lostSamples == lost)
    }

    @Test func perfBufferAsyncSequence() async throws {
        let events = try perfMap("perf_async")
        let program = try Self.perfProducer(counter: counter(), events: events)
        let perf = try PerfBuffer(map: events)
        let watchdog = Task {
            try await Task.sleep(for: .seconds(20))
            perf.close()
        }
        defer { watchdog.cancel() }
        let stream = perf.events()
        _ = try program.testRun(data: Self.packet, repeat: 50)
        var values: [UInt64] = []
        for try await event in stream {
            if case .sample(_, let bytes) = event { values.append(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) }
            if values.count == 50 { break }
        }
        #expect(values == Array(1...50))
    }
}

