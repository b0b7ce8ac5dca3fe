import BPFCore
import BPFLinux
import BPFTestSupport
import Foundation
import SwiftBPF
import Testing

/// The façade's fixture (`Tests/Fixtures/bpf/src/facade.c`).
private func facadeObject() throws -> ObjectFile {
    try ObjectFile(contentsOf: TestPaths.repository.appendingPathComponent("Tests/Fixtures/bpf/obj/facade.o").path)
}

/// The record `facade.c` submits.
private struct FacadeEvent: BitwiseCopyable, Equatable {
    var pid: UInt32
    var target: UInt32
    var seen: UInt64
}

private let frame64 = [UInt8](repeating: 0xab, count: 64)

@Suite("The SwiftBPF façade on the runtime")
struct FacadeRuntimeTests {
    @Test("an object's global variables are listed with their sections, sizes and BTF types")
    func globalsListed() throws {
        let object = try facadeObject()
        let byName = Dictionary(uniqueKeysWithValues: object.globals.map { ($0.name, $0) })
        #expect(byName.keys.sorted() == ["events_seen", "step", "target_pid"])
        #expect(byName["target_pid"]?.section == ".rodata")
        #expect(byName["target_pid"]?.isConstant == true)
        #expect(byName["target_pid"]?.size == 4)
        #expect(byName["step"]?.section == ".data")
        #expect(byName["events_seen"]?.section == ".bss")
        #expect(byName["events_seen"]?.size == 8)
        #expect(byName["events_seen"]?.typeName == "__u64")
        #expect(try object.initialValue(ofGlobal: "step", as: UInt32.self) == 1)
    }

    @Test("constants set before loading configure the program; .data/.bss are read and written while loaded")
    func globalsConfigureAndObserve() throws {
        var object = try facadeObject()
        try object.setGlobal("target_pid", to: UInt32(64))       // only 64-byte packets count
        try object.setGlobal("step", to: UInt32(5))
        #expect(try object.initialValue(ofGlobal: "target_pid", as: UInt32.self) == 64)
        let bpf = try BPFCollection(object, backend: .runtime)
        let program = try #require(bpf.program(named: "xdp_count"))

        #expect(try program.testRun(packet: frame64).returnValue == 2)
        #expect(try bpf.global("events_seen", as: UInt64.self) == 5)
        _ = try program.testRun(packet: [UInt8](repeating: 0, count: 60))   // filtered out by the constant
        #expect(try bpf.global("events_seen", as: UInt64.self) == 5)

        try bpf.setGlobal("step", to: UInt32(100))
        try bpf.setGlobal("events_seen", to: UInt64(1000))
        _ = try program.testRun(packet: frame64)
        #expect(try bpf.global("events_seen", as: UInt64.self) == 1100)
        #expect(try bpf.global("target_pid", as: UInt32.self) == 64)
    }

    @Test("globals refuse what they cannot take, naming the variable")
    func globalErrors() throws {
        var object = try facadeObject()
        let missing = #expect(throws: ObjectError.self) { try object.setGlobal("no_such", to: UInt32(1)) }
        #expect(missing?.description.contains("global 'no_such'") == true)
        #expect(missing?.description.contains("target_pid") == true)
        let wrongSize = #expect(throws: ObjectError.self) { try object.setGlobal("target_pid", to: UInt64(1)) }
        #expect(wrongSize?.description.contains("4 bytes") == true)

        let bpf = try BPFCollection(object, backend: .runtime)
        let frozen = #expect(throws: SwiftBPFError.self) { try bpf.setGlobal("target_pid", to: UInt32(9)) }
        #expect(frozen?.code == .permissionDenied)
        #expect(frozen?.place == "global 'target_pid'")
        let size = #expect(throws: SwiftBPFError.self) { _ = try bpf.global("events_seen", as: UInt32.self) }
        #expect(size?.code == .invalidArgument)
        #expect(size?.description.contains("'__u64' of 8 bytes") == true)
    }

    @Test("typed maps read like dictionaries; per-CPU maps give one value per CPU")
    func typedMaps() throws {
        let bpf = try BPFCollection(try facadeObject(), backend: .runtime)
        let counts = try bpf.map("counts", key: UInt32.self, value: UInt64.self)
        let program = try #require(bpf.program(named: "xdp_count"))
        for _ in 0..<3 { _ = try program.testRun(packet: frame64) }
        #expect(try counts[64] == 3)
        #expect(try counts[65] == nil)

        try counts.updateValue(7, forKey: 10)
        #expect(try counts.value(forKey: 10) == 7)
        #expect(try counts.entries().sorted { $0.key < $1.key }.map(\.key) == [10, 64])
        #expect(try counts.keys().count == 2)
        #expect(try counts.updateValues([(key: 1, value: 11), (key: 2, value: 22)]) == 2)
        #expect(try counts[2] == 22)
        #expect(try counts.removeValue(forKey: 10))
        #expect(try !counts.removeValue(forKey: 10))
        let exists = #expect(throws: SwiftBPFError.self) { try counts.updateValue(1, forKey: 64, flags: .noExist) }
        #expect(exists?.code == .exists)

        let hits = try bpf.map("percpu_hits", key: UInt32.self, value: UInt64.self)
        let slots = try #require(try hits.values(forKey: 0))
        #expect(slots.count == hits.slots)
        #expect(slots.reduce(0, +) == 3)
        let perCPU = #expect(throws: SwiftBPFError.self) { _ = try hits.value(forKey: 0) }
        #expect(perCPU?.description.contains("values(forKey:)") == true)
        try hits.updateValues([UInt64](repeating: 2, count: hits.slots), forKey: 0)
        #expect(try hits.values(forKey: 0)?.reduce(0, +) == UInt64(2 * hits.slots))
    }

    @Test("a map opened with the wrong key or value type is refused once, naming the map and the sizes")
    func typedMapSizes() throws {
        let bpf = try BPFCollection(try facadeObject(), backend: .runtime)
        let key = #expect(throws: SwiftBPFError.self) { _ = try bpf.map("counts", key: UInt64.self, value: UInt64.self) }
        #expect(key?.place == "map 'counts'")
        #expect(key?.description.contains("the key type UInt64 is 8 bytes; the map's keys are 4 bytes (__u32)") == true)
        let value = #expect(throws: SwiftBPFError.self) { _ = try bpf.map("counts", key: UInt32.self, value: UInt32.self) }
        #expect(value?.description.contains("value") == true)
        let missing = #expect(throws: SwiftBPFError.self) { _ = try bpf.map("nope", key: UInt32.self, value: UInt32.self) }
        #expect(missing?.code == .notFound)
        let notRing = #expect(throws: SwiftBPFError.self) { _ = try bpf.ringBuffer("counts", of: FacadeEvent.self) }
        #expect(notRing?.description.contains("not a ringbuf") == true)
    }

    @Test("the runtime's ring buffer is an AsyncSequence: records come as programs submit them")
    func runtimeRingBuffer() async throws {
        let bpf = try BPFCollection(try facadeObject(), backend: .runtime)
        let program = try #require(bpf.program(named: "xdp_count"))
        let events = try bpf.ringBuffer("events", of: FacadeEvent.self)
        _ = try program.testRun(packet: frame64)
        var iterator = events.makeAsyncIterator()
        #expect(try await iterator.next() == FacadeEvent(pid: 64, target: 0, seen: 1))

        // A reader waiting on an empty ring is woken by the next submit (no polling).
        let reader = Task { () -> FacadeEvent? in
            var iterator = events.makeAsyncIterator()
            return try await iterator.next()
        }
        try await Task.sleep(nanoseconds: 20_000_000)
        _ = try program.testRun(packet: [UInt8](repeating: 0, count: 80))
        #expect(try await reader.value == FacadeEvent(pid: 80, target: 0, seen: 2))

        // The zero-copy form and drain see the rest in order.
        for _ in 0..<3 { _ = try program.testRun(packet: frame64) }
        var sizes: [Int] = []
        #expect(try events.consume(limit: 1) { sizes.append($0.count) } == 1)
        #expect(sizes == [16])
        #expect(try events.drain().map(\.seen) == [4, 5])
        #expect(try events.drain().isEmpty)
    }

    @Test("the runtime's perf event array is an AsyncSequence too, with lost samples counted")
    func runtimePerfBuffer() async throws {
        let bpf = try BPFCollection(try facadeObject(), backend: .runtime)
        let program = try #require(bpf.program(named: "xdp_count"))
        let perf = try bpf.perfBuffer("perf_events", of: FacadeEvent.self)
        for size in [64, 70] { _ = try program.testRun(packet: [UInt8](repeating: 0, count: size)) }
        var iterator = perf.makeAsyncIterator()
        #expect(try await iterator.next() == FacadeEvent(pid: 64, target: 0, seen: 1))
        #expect(try await iterator.next() == FacadeEvent(pid: 70, target: 0, seen: 2))
        #expect(perf.lostRecords == 0)
        let notPerf = #expect(throws: SwiftBPFError.self) { _ = try bpf.perfBuffer("events", of: FacadeEvent.self) }
        #expect(notPerf?.description.contains("not a perf_event_array") == true)
    }

    @Test("a cancelled wait on the runtime's ring buffer ends the sequence")
    func runtimeRingBufferCancel() async throws {
        let bpf = try BPFCollection(try facadeObject(), backend: .runtime)
        let events = try bpf.ringBuffer("events", of: FacadeEvent.self)
        let reader = Task { () -> FacadeEvent? in
            var iterator = events.makeAsyncIterator()
            return try await iterator.next()
        }
        try await Task.sleep(nanoseconds: 20_000_000)
        reader.cancel()
        #expect(try await reader.value == nil)
    }

    @Test("attaching on the runtime says the runtime has no kernel hooks")
    func runtimeAttach() throws {
        let bpf = try BPFCollection(try facadeObject(), backend: .runtime)
        let error = #expect(throws: SwiftBPFError.self) { try bpf.attachAll() }
        #expect(error?.code == .unsupported)
        let one = #expect(throws: SwiftBPFError.self) { try bpf.attach("on_getppid") }
        #expect(one?.place == "program 'on_getppid'")
    }

    @Test("a verifier rejection reaches the caller structured, with its instruction")
    func verifierErrorCarried() throws {
        // r0 is never set: the verifier refuses at the exit.
        let spec = ProgramSpec(name: "bad", section: "xdp", type: .xdp, instructions: try Assembler().assemble("exit"))
        let error = #expect(throws: SwiftBPFError.self) { _ = try BPFCollection(ObjectFile(programs: [spec], maps: [])) }
        #expect(error?.code == .verifierRejected)
        #expect(error?.verifierError?.instruction == 0)
        #expect(error?.place?.contains("program 'bad'") == true)
    }
}

@Suite("The SwiftBPF façade on the kernel", .requires(KernelBackend.bpf))
struct FacadeKernelTests {
    @Test("configure, load, attach and read: the tracer receives this process's getppid() through the ring buffer")
    func tracerEndToEnd() async throws {
        var object = try facadeObject()
        let pid = UInt32(getpid())
        try object.setGlobal("target_pid", to: pid)
        let bpf = try BPFCollection(object, backend: .kernel, programs: ["on_getppid"])
        let counts = try bpf.map("counts", key: UInt32.self, value: UInt64.self)
        let events = try bpf.ringBuffer("events", of: FacadeEvent.self)
        let perf = try bpf.perfBuffer("perf_events", of: FacadeEvent.self)
        let links = try bpf.attachAll()
        #expect(links.map(\.program) == ["on_getppid"])
        #expect(links.first?.target.contains("sys_enter_getppid") == true)

        _ = getppid()
        var iterator = events.makeAsyncIterator()
        let event = try #require(try await iterator.next())
        #expect(event.pid == pid)
        #expect(event.target == pid)
        #expect(event.seen >= 1)
        var samples = perf.makeAsyncIterator()
        let sample = try #require(try await samples.next())
        #expect(sample.pid == pid)
        #expect(perf.lostRecords == 0)
        let count = try counts[pid] ?? 0
        #expect(count >= 1)
        #expect(try bpf.global("events_seen", as: UInt64.self) >= 1)
        #expect(try bpf.global("target_pid", as: UInt32.self) == pid)
        let frozen = #expect(throws: SwiftBPFError.self) { try bpf.setGlobal("target_pid", to: UInt32(1)) }
        #expect(frozen?.code == .permissionDenied)

        bpf.detachAll()
        #expect(bpf.links.isEmpty)
        let before = try counts[pid] ?? 0
        _ = getppid()
        let after = try counts[pid] ?? 0
        #expect(after == before)
    }

    @Test("a program attached by kind, and a section name that cannot say where")
    func attachByKind() throws {
        let bpf = try BPFCollection(try facadeObject(), backend: .kernel)
        let link = try bpf.attach("on_getppid", to: .tracepoint(category: "syscalls", name: "sys_enter_getppid"))
        #expect(bpf.links.count == 1)
        link.close()
        let xdp = #expect(throws: SwiftBPFError.self) { try bpf.attach("xdp_count", to: .xdp(interface: "no-such-if0")) }
        #expect(xdp?.code == .notFound)
        let plain = #expect(throws: SwiftBPFError.self) { try bpf.attach("xdp_count") }
        #expect(plain?.description.contains("needs") == true || plain?.description.contains("interface") == true)
    }

    @Test(".data and .bss are mapped into memory on the kernel: written and read in place while programs run")
    func kernelGlobalsInPlace() throws {
        let bpf = try BPFCollection(try facadeObject(), backend: .kernel, programs: ["xdp_count"])
        for section in [".data", ".bss", ".rodata"] {
            guard case .kernel(let map) = try #require(bpf.map(named: section)).storage else { Issue.record("not a kernel map"); return }
            #expect(map.flags & KernelMap.Flag.mmapable != 0, "\(section)")
        }
        try bpf.setGlobal("step", to: UInt32(7))
        let program = try #require(bpf.program(named: "xdp_count"))
        _ = try program.testRun(packet: frame64)
        _ = try program.testRun(packet: frame64)
        #expect(try bpf.global("events_seen", as: UInt64.self) == 14)
        #expect(try bpf.global("step", as: UInt32.self) == 7)
        #expect(try bpf.global("target_pid", as: UInt32.self) == 0)
    }

    @Test("typed maps on the kernel: per-CPU values per possible CPU, batch update, sizes checked")
    func kernelTypedMaps() throws {
        let bpf = try BPFCollection(try facadeObject(), backend: .kernel, programs: ["xdp_count"])
        let counts = try bpf.map("counts", key: UInt32.self, value: UInt64.self)
        #expect(try counts.updateValues([(key: 1, value: 10), (key: 2, value: 20)]) == 2)
        #expect(try counts.entries().sorted { $0.key < $1.key }.map(\.value) == [10, 20])
        _ = try #require(bpf.program(named: "xdp_count")).testRun(packet: frame64)
        #expect(try counts[64] == 1)
        let hits = try bpf.map("percpu_hits", key: UInt32.self, value: UInt64.self)
        #expect(try hits.slots == PossibleCPUs.count)
        #expect(try hits.values(forKey: 0)?.reduce(0, +) == 1)
    }
}
