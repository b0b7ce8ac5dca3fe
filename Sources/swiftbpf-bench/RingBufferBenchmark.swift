import BPFLinux
import BPFObject
import Foundation
import SwiftBPF
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

// `swiftbpf-bench ringbuf`: records per second read from one kernel ring buffer map by the façade's
// closure `consume`, the façade's AsyncSequence, BPFLinux.RingBuffer directly, and libbpf in C
// (Scripts/bench/ringbuf_libbpf.c, compiled here with cc when libbpf is found) — the same map and
// producer program (Benchmarks/bpf/ringbuf_bench.o), in one run.

/// The sequence number of the record that ends a stream (the producer's `first_seq`).
private let streamMarker: UInt64 = 1 << 63
private let mapPin = "/sys/fs/bpf/swiftbpf-bench-ringbuf"

protocol SequencedRecord: BitwiseCopyable { var seq: UInt64 { get } }
struct Record16: SequencedRecord { var seq: UInt64; var value: UInt64 }
struct Record64: SequencedRecord { var seq: UInt64; var values: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) }

/// Counts records and checks their order, as the C reader's callback does.
struct Tally {
    var records: UInt64 = 0
    var nextSeq: UInt64 = 0
    var disorder: UInt64 = 0
    var sawMarker = false

    @inline(__always) mutating func see(_ seq: UInt64) {
        if seq == streamMarker { sawMarker = true; return }
        if seq == 0 { nextSeq = 0 }
        if seq != nextSeq { disorder += 1 }
        nextSeq = seq &+ 1
        records += 1
    }

    @inline(__always) mutating func see(_ bytes: UnsafeRawBufferPointer) {
        see(bytes.loadUnaligned(as: UInt64.self))
    }
}

struct RingMeasurement: Sendable {
    var records: UInt64 = 0
    var nanoseconds: UInt64 = 0
    var drops: UInt64 = 0
    var disorder: UInt64 = 0
    var recordsPerSecond: Double { nanoseconds == 0 ? 0 : Double(records) * 1e9 / Double(nanoseconds) }

    /// The better of two measurements of the same reader (more records per second).
    func best(_ other: RingMeasurement?) -> RingMeasurement {
        guard let other else { return self }
        return other.recordsPerSecond > recordsPerSecond ? other : self
    }
}

/// One producer program: a test run writes `count` records numbered from `firstSeq`.
struct RingProducer: Sendable {
    let program: KernelProgram
    let pin: String

    func run(count: UInt32, firstSeq: UInt64 = 0) throws -> UInt32 {
        var context = [UInt8](repeating: 0, count: 16)
        withUnsafeBytes(of: count.littleEndian) { context.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: firstSeq.littleEndian) { context.replaceSubrange(8..<16, with: $0) }
        return UInt32(truncatingIfNeeded: try program.testRun(context: context).returnValue)
    }
}

private func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Pins the calling thread to `cpu`; false when the kernel refuses. (Glibc's module does not
/// export the GNU `sched_setaffinity`, so it is looked up by name.)
@discardableResult private func pinThread(to cpu: Int) -> Bool {
    typealias SetAffinity = @convention(c) (Int32, Int, UnsafeRawPointer) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sched_setaffinity") else { return false }
    var mask = [UInt8](repeating: 0, count: 128)
    mask[cpu / 8] |= UInt8(1 << (cpu % 8))
    return unsafeBitCast(symbol, to: SetAffinity.self)(0, mask.count, mask) == 0
}

/// Runs `body` on a new thread (pinned to `cpu` when given) and returns its result.
private func onThread<T: Sendable>(cpu: Int?, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            if let cpu { pinThread(to: cpu) }
            continuation.resume(with: Result { try body() })
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
}

/// Drain mode: `rounds` times, the producer fills the empty ring with `fill` records, then `read`
/// takes records until the tally reaches the total written; only `read` is timed. One round before
/// them warms up and is not counted.
private func drainRounds(_ producer: RingProducer, fill: UInt32, rounds: Int,
                         read: (inout Tally, UInt64) async throws -> Void) async throws -> RingMeasurement {
    var tally = Tally()
    var result = RingMeasurement()
    var expected: UInt64 = 0
    for round in 0...rounds {
        let written = try producer.run(count: fill)
        expected += UInt64(written)
        let start = monotonicNanoseconds()
        try await read(&tally, expected)
        if round == 0 {
            expected = 0
            tally = Tally()
            continue
        }
        result.drops += UInt64(fill - written)
        result.nanoseconds += monotonicNanoseconds() - start
    }
    result.records = tally.records
    result.disorder = tally.disorder
    return result
}

/// Stream mode: a producer thread pinned to `producerCPU` runs the program `rounds` times with
/// `batch` records each, then writes the marker; `read` takes records until it sees the marker.
/// Timed from the producer's start to the marker.
private func streamRounds(_ producer: RingProducer, batch: UInt32, rounds: Int, producerCPU: Int?,
                          read: @escaping @Sendable () async throws -> Tally) async throws -> RingMeasurement {
    let drops = Atomic<UInt64>(0)
    let start = monotonicNanoseconds()
    async let produced: Void = onThread(cpu: producerCPU) {
        for _ in 0..<rounds {
            let written = try producer.run(count: batch)
            drops.add(UInt64(batch - written), ordering: .relaxed)
        }
        while try producer.run(count: 1, firstSeq: streamMarker) == 0 { sched_yield() }
    }
    let tally = try await read()
    let elapsed = monotonicNanoseconds() - start
    try await produced
    return RingMeasurement(records: tally.records, nanoseconds: elapsed, drops: drops.load(ordering: .relaxed), disorder: tally.disorder)
}

/// Reads every record in a facade ring (the closure form) until `target` records were seen.
private func facadeDrain<R>(_ ring: BPFRingBuffer<R>, _ tally: inout Tally, _ target: UInt64) throws {
    while tally.records < target {
        try ring.consume { tally.see($0) }
    }
}

/// Reads records through the AsyncSequence until `target` records were seen (or the marker, when
/// `target` is nil). Not isolated to an actor: `next()` runs where the loop runs.
private func sequenceRead<R: SequencedRecord>(_ ring: BPFRingBuffer<R>, _ tally: inout Tally, until target: UInt64?) async throws {
    if let target, tally.records >= target { return }
    for try await record in ring {
        tally.see(record.seq)
        if let target { if tally.records >= target { break } } else if tally.sawMarker { break }
    }
}

/// The libbpf reader: Scripts/bench/ringbuf_libbpf.c compiled with cc, or why it could not be.
struct LibbpfReader {
    let executable: String?
    let description: String

    static func build(repository: URL) -> LibbpfReader {
        let source = repository.appendingPathComponent("Scripts/bench/ringbuf_libbpf.c").path
        let output = NSTemporaryDirectory() + "swiftbpf-bench-ringbuf-libbpf-\(getpid())"
        var flags: String
        var version: String
        if let root = ProcessInfo.processInfo.environment["SWIFTBPF_LIBBPF_ROOT"] {
            flags = "-I'\(root)/include' '\(root)/lib/libbpf.a' -lelf -lz"
            let pc = (try? String(contentsOfFile: root + "/lib/pkgconfig/libbpf.pc", encoding: .utf8)) ?? ""
            version = pc.split(separator: "\n").first { $0.hasPrefix("Version:") }.map { $0.dropFirst(8).trimmingCharacters(in: .whitespaces) } ?? "?"
            version += " (static, \(root))"
        } else if shell("pkg-config --exists libbpf").status == 0 {
            flags = shell("pkg-config --cflags --libs libbpf").output.trimmingCharacters(in: .whitespacesAndNewlines)
            version = shell("pkg-config --modversion libbpf").output.trimmingCharacters(in: .whitespacesAndNewlines) + " (pkg-config)"
        } else {
            return LibbpfReader(executable: nil, description: "libbpf not found (no pkg-config libbpf, SWIFTBPF_LIBBPF_ROOT not set)")
        }
        let compile = shell("cc -O2 -o '\(output)' '\(source)' \(flags) -lpthread")
        guard compile.status == 0 else {
            return LibbpfReader(executable: nil, description: "compiling \(source) failed: \(compile.output.prefix(400))")
        }
        return LibbpfReader(executable: output, description: "libbpf \(version), cc -O2")
    }

    /// Runs the reader with `arguments` after the map's pin; nil (and the reason printed) on failure.
    func run(_ producer: RingProducer, _ arguments: [String]) -> RingMeasurement? {
        guard let executable else { return nil }
        let run = shell(([executable, mapPin, producer.pin] + arguments).map { "'\($0)'" }.joined(separator: " "))
        guard run.status == 0 else {
            print("  (libbpf reader failed: \(run.output.prefix(300)))")
            return nil
        }
        var fields: [String: UInt64] = [:]
        for pair in run.output.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let parts = pair.split(separator: "=")
            if parts.count == 2, let value = UInt64(parts[1]) { fields[String(parts[0])] = value }
        }
        return RingMeasurement(records: fields["records"] ?? 0, nanoseconds: fields["ns"] ?? 0,
                               drops: fields["drops"] ?? 0, disorder: fields["disorder"] ?? 0)
    }

    func remove() { if let executable { unlink(executable) } }
}

/// Runs `command` with /bin/sh; its exit status and combined output.
private func shell(_ command: String) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command + " 2>&1"]
    let pipe = Pipe()
    process.standardOutput = pipe
    do { try process.run() } catch { return (-1, "\(error)") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

private func machineDescription() -> String {
    let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "?"
    var name = utsname()
    uname(&name)
    let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    return "\(ProcessInfo.processInfo.activeProcessorCount) CPUs (\(model)), Linux \(release)"
}

func ringBufferBenchmark() async throws {
    #if DEBUG
    print("warning: built in debug mode; run `swift run -c release swiftbpf-bench ringbuf` for meaningful numbers")
    #endif
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let path = repository.appendingPathComponent("Benchmarks/bpf/ringbuf_bench.o").path
    if let error = BPFSyscall.probe() {
        print("ringbuf: not measured: bpf() is not usable here (\(error))")
        return
    }
    let object = try ObjectFile(contentsOf: path)
    let bpf = try BPFCollection(object, backend: .kernel)
    guard let kernel = bpf.kernelObject, let ringMap = bpf.map(named: "bench_ring"), let kernelMap = kernel.map(named: "bench_ring") else {
        print("ringbuf: \(path) has no bench_ring map")
        return
    }
    // The map and the producers pinned, so the C reader opens the same ones.
    var pins = [mapPin]
    func pin(_ fd: BPFFileDescriptor, _ path: String) throws {
        _ = unlink(path)
        try BPFFileSystem.pin(fd, at: path)
    }
    try pin(kernelMap.fd, mapPin)
    defer { for path in pins { _ = unlink(path) } }
    var producers: [Int: RingProducer] = [:]
    for size in [16, 64] {
        guard let program = kernel.program(named: "produce\(size)") else { continue }
        let programPin = mapPin + "-produce\(size)"
        try pin(program.fd, programPin)
        pins.append(programPin)
        producers[size] = RingProducer(program: program, pin: programPin)
    }
    let libbpf = LibbpfReader.build(repository: repository)
    defer { libbpf.remove() }
    let cpus = ProcessInfo.processInfo.activeProcessorCount
    let producerCPU: Int? = cpus >= 2 ? 0 : nil, consumerCPU: Int? = cpus >= 2 ? 1 : nil

    print("Ring buffer throughput, records/s (best of 3 passes); \(machineDescription())")
    print("ring: \(kernelMap.maxEntries >> 20) MiB; reference reader: \(libbpf.description)")
    print("drain: the producer fills the empty ring, then the reader empties it (only that is timed), 10 times after one untimed round")
    print("stream: producer (CPU \(producerCPU.map(String.init) ?? "any")) and reader (CPU \(consumerCPU.map(String.init) ?? "any"); the AsyncSequence any) concurrently")
    let direct = try RingBuffer(map: kernelMap)
    defer { direct.close() }

    for size in [16, 64] {
        guard let producer = producers[size] else { print("no produce\(size) program"); continue }
        let slot = size + 8   // the record header
        let fill = UInt32(Double(kernelMap.maxEntries / slot) * 0.9)
        let rounds = 10
        let batch: UInt32 = 65_536
        let streamRoundCount = size == 16 ? 64 : 32

        // Each reader opens its own mapping of the same ring.
        func openFacade<R: SequencedRecord>(_ type: R.Type) throws -> BPFRingBuffer<R> { try BPFRingBuffer<R>(ringMap) }
        func emptyRing() throws { _ = try direct.consume { _ in } }

        var drain: [String: RingMeasurement] = [:]
        var stream: [String: RingMeasurement] = [:]
        for _ in 0..<3 {
            // Drain mode.
            try emptyRing()
            let facade16 = try openFacade(Record16.self), facade64 = try openFacade(Record64.self)
            drain["facade consume", default: RingMeasurement()] = try await drainRounds(producer, fill: fill, rounds: rounds) { tally, target in
                if size == 16 { try facadeDrain(facade16, &tally, target) } else { try facadeDrain(facade64, &tally, target) }
            }.best(drain["facade consume"])
            try emptyRing()
            drain["facade AsyncSequence"] = try await drainRounds(producer, fill: fill, rounds: rounds) { tally, target in
                if size == 16 { try await sequenceRead(facade16, &tally, until: target) } else { try await sequenceRead(facade64, &tally, until: target) }
            }.best(drain["facade AsyncSequence"])
            try emptyRing()
            drain["RingBuffer.consume"] = try await drainRounds(producer, fill: fill, rounds: rounds) { tally, target in
                while tally.records < target { try direct.consume { tally.see($0) } }
            }.best(drain["RingBuffer.consume"])
            try emptyRing()
            if let c = libbpf.run(producer, ["drain", "\(fill)", "\(rounds)"]) {
                drain["libbpf ring_buffer__consume"] = c.best(drain["libbpf ring_buffer__consume"])
            }
            facade16.close(); facade64.close()

            // Stream mode.
            let cpu = consumerCPU
            try emptyRing()
            stream["facade consume (spinning)"] = try await streamRounds(producer, batch: batch, rounds: streamRoundCount, producerCPU: producerCPU) {
                try await onThread(cpu: cpu) {
                    let ring = try BPFRingBuffer<Record16>(ringMap)
                    defer { ring.close() }
                    var tally = Tally()
                    while !tally.sawMarker { try ring.consume { tally.see($0) } }
                    return tally
                }
            }.best(stream["facade consume (spinning)"])
            try emptyRing()
            stream["facade AsyncSequence"] = try await streamRounds(producer, batch: batch, rounds: streamRoundCount, producerCPU: producerCPU) {
                var tally = Tally()
                if size == 16 {
                    let ring = try BPFRingBuffer<Record16>(ringMap)
                    defer { ring.close() }
                    try await sequenceRead(ring, &tally, until: nil)
                } else {
                    let ring = try BPFRingBuffer<Record64>(ringMap)
                    defer { ring.close() }
                    try await sequenceRead(ring, &tally, until: nil)
                }
                return tally
            }.best(stream["facade AsyncSequence"])
            try emptyRing()
            stream["RingBuffer.poll (epoll)"] = try await streamRounds(producer, batch: batch, rounds: streamRoundCount, producerCPU: producerCPU) {
                try await onThread(cpu: cpu) {
                    let ring = try RingBuffer(map: kernelMap)
                    defer { ring.close() }
                    var tally = Tally()
                    while !tally.sawMarker { try ring.poll(timeoutMilliseconds: 100) { tally.see($0) } }
                    return tally
                }
            }.best(stream["RingBuffer.poll (epoll)"])
            try emptyRing()
            for mode in ["poll", "spin"] {
                let label = mode == "poll" ? "libbpf ring_buffer__poll" : "libbpf ring_buffer__consume (spinning)"
                if let c = libbpf.run(producer, ["stream", "\(batch)", "\(streamRoundCount)", "\(producerCPU ?? -1)", "\(consumerCPU ?? -1)", mode]) {
                    stream[label] = c.best(stream[label])
                }
                try emptyRing()
            }
        }

        func report(_ title: String, _ results: [String: RingMeasurement], order: [(String, String)]) {
            print("")
            print("\(size)-byte records, \(title)")
            print(pad("reader", 40) + pad("records", 11) + pad("Mrecords/s", 12) + pad("ns/record", 11) + pad("drops", 9) + pad("disorder", 10) + "vs libbpf")
            for (name, reference) in order {
                guard let m = results[name] else {
                    print(pad(name, 40) + "not measured")
                    continue
                }
                let ratio = results[reference].map { $0.recordsPerSecond > 0 ? fmt(m.recordsPerSecond / $0.recordsPerSecond, 2) + "x" : "-" } ?? "-"
                print(pad(name, 40) + pad(String(m.records), 11) + pad(fmt(m.recordsPerSecond / 1e6, 2), 12)
                      + pad(fmt(1e9 / max(m.recordsPerSecond, 1), 1), 11) + pad(String(m.drops), 9) + pad(String(m.disorder), 10)
                      + (name == reference ? "1x" : ratio + " (of \(reference))"))
            }
        }
        let drainReference = "libbpf ring_buffer__consume"
        report("drain (\(rounds) × \(fill) records)", drain, order: [
            ("facade consume", drainReference), ("facade AsyncSequence", drainReference),
            ("RingBuffer.consume", drainReference), (drainReference, drainReference),
        ])
        let poll = "libbpf ring_buffer__poll", spin = "libbpf ring_buffer__consume (spinning)"
        report("stream (\(streamRoundCount) × \(batch) records)", stream, order: [
            ("facade consume (spinning)", spin), ("facade AsyncSequence", poll),
            ("RingBuffer.poll (epoll)", poll), (poll, poll), (spin, spin),
        ])
    }
    if libbpf.executable == nil { print("\nlibbpf reader not measured: \(libbpf.description)") }
}
