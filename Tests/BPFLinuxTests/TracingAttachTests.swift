import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// Tracing attachments against the running kernel: tracepoints, raw tracepoints, uprobes, kprobes,
/// fentry, LSM, perf_event sampling; links pinned, updated, listed and detached. Skipped, with the
/// reason, where bpf() is not usable; a test of a kind this kernel does not attach (probed by
/// `KernelFeatures.attachment`) is skipped with the kernel's error.
@Suite(.requires(Kernel.bpf))
struct TracingAttachTests {
    func counter(_ type: ProgramType, name: String, map: KernelMap, attachType: AttachType? = nil, attachBTFID: UInt32 = 0) throws -> KernelProgram {
        try KernelProgram.load(type: type, instructions: assemble(pidCounterSource(), maps: [map]),
                               expectedAttachType: attachType, attachBTFID: attachBTFID, name: name)
    }

    /// Runs the traced child `iterations` times with its pid in slot 0 of `map`; returns slot 1.
    func runChild(iterations: Int, map: KernelMap) throws -> UInt64 {
        let child = try TracedChild.Running(iterations: iterations)
        try map.update(key: UInt32(0), value: UInt64(child.pid))
        try child.go()
        let (status, output) = child.wait()
        #expect(status == 0, "child exited with \(status): \(output)")
        return try map.lookup(key: UInt32(1), as: UInt64.self) ?? 0
    }

    static let getppidTracepoint = Kernel.tracepoint("syscalls", "sys_enter_getppid")

    @Test(.requires(TracedChild.built), .requires(getppidTracepoint))
    func tracepointCountsTheChildsSyscalls() throws {
        let map = try pidCounterMap("tp_counts")
        let program = try counter(.tracepoint, name: "tp_getppid", map: map)
        let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_getppid")
        #expect(try runChild(iterations: 7, map: map) == 7)

        let info = try link.info()
        #expect(info.type == .perfEvent)
        #expect(info.perfEventType == "tracepoint")
        #expect(info.tracepoint == "sys_enter_getppid")
        #expect(info.programID == (try program.info().id))
        #expect(try KernelObjects.linkIDs().contains(info.id))

        // Released: the next child's calls are not counted.
        link.close()
        #expect(try runChild(iterations: 3, map: map) == 7)
        #expect(try !KernelObjects.linkIDs().contains(info.id))
    }

    @Test func unknownTracepointNamesThePath() throws {
        let map = try pidCounterMap("tp_none")
        let program = try counter(.tracepoint, name: "tp_none", map: map)
        let error = #expect(throws: BPFError.self) { try program.attachTracepoint(category: "syscalls", name: "sys_enter_no_such_call") }
        #expect(error?.errno == .ENOENT)
        #expect(error?.description.contains("events/syscalls/sys_enter_no_such_call/id") == true)
        #expect(throws: BPFError.self) { try program.attachTracepoint(category: "../x", name: "y") }
    }

    @Test(.requires(TracedChild.built))
    func rawTracepointCountsEverySyscall() throws {
        let map = try pidCounterMap("rawtp_counts")
        let program = try counter(.rawTracepoint, name: "rawtp_enter", map: map)
        let link = try program.attachRawTracepoint("sys_enter")
        let info = try link.info()
        #expect(info.type == .rawTracepoint)
        #expect(info.tracepoint == "sys_enter")
        // Every syscall of the child counts: at least its 9 getppid calls, plus read, write, exit, ...
        let count = try runChild(iterations: 9, map: map)
        #expect(count >= 9)
        // Raw tracepoint links cannot be force-detached; closing the only reference detaches.
        let error = #expect(throws: BPFError.self) { try link.detach() }
        #expect(error?.errno == .EOPNOTSUPP)
        link.close()
        #expect(try runChild(iterations: 2, map: map) == count)
    }

    @Test(.requires(Kernel.bpffs), .requires(TracedChild.built), .requires(getppidTracepoint))
    func pinnedLinkOutlivesItsObject() throws {
        let map = try pidCounterMap("pin_counts")
        let path = "/sys/fs/bpf/swiftbpf_test_link_\(getpid())"
        do {
            let program = try counter(.tracepoint, name: "tp_pinned", map: map)
            let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_getppid")
            try link.pin(at: path)
        }   // program and link objects released here; the pin keeps the link
        #expect(try runChild(iterations: 5, map: map) == 5)
        let again = try KernelLink.pinned(at: path)
        #expect(try again.info().perfEventType == "tracepoint")
        try BPFFileSystem.unpin(path)
        again.close()
        #expect(try runChild(iterations: 2, map: map) == 5)
    }

    @Test(.requires(TracedChild.built), .requires(Kernel.attaches(.uprobe)))
    func uprobeAndUretprobeOnAnExecutable() throws {
        let binary = try TracedChild.binary.get()
        let entries = try pidCounterMap("up_counts")
        let returns = try pidCounterMap("uret_counts")
        let entry = try counter(.kprobe, name: "up_probed", map: entries)
        let exit = try counter(.kprobe, name: "uret_probed", map: returns)
        let links = [try entry.attachUprobe(binary: binary, symbol: "swiftbpf_probed"),
                     try exit.attachUprobe(binary: binary, symbol: "swiftbpf_probed", returnProbe: true)]
        let child = try TracedChild.Running(iterations: 6)
        try entries.update(key: UInt32(0), value: UInt64(child.pid))
        try returns.update(key: UInt32(0), value: UInt64(child.pid))
        try child.go()
        #expect(child.wait().status == 0)
        #expect(try entries.lookup(key: UInt32(1), as: UInt64.self) == 6)
        #expect(try returns.lookup(key: UInt32(1), as: UInt64.self) == 6)
        #expect(try links[1].info().perfEventType == "uretprobe")
        #expect(try links[0].info().tracepoint == binary)
    }

    static let sharedLibc = Availability(UprobeTarget.libraryPath("libc.so") != nil, else: "this process maps no libc.so (a static build?)")

    @Test(.requires(sharedLibc))
    func uprobeOffsetsInASharedLibraryMatchTheLoader() throws {
        // Where the dynamic loader put getppid, mapped back to a file offset through /proc/self/maps,
        // must be the offset the symbol table gives.
        let libc = try #require(UprobeTarget.libraryPath("libc.so"))
        let handle = try #require(dlopen(libc, RTLD_NOW | RTLD_NOLOAD), "dlopen(\(libc)) of the mapped libc failed")
        let symbol = try #require(dlsym(handle, "getppid"), "libc has no getppid")
        let address = UInt64(UInt(bitPattern: symbol))
        // Read to the end: /proc files report size 0, and this process maps many regions.
        let data = try #require(FileHandle(forReadingAtPath: "/proc/self/maps")).readDataToEndOfFile()
        let maps = String(decoding: data, as: UTF8.self)
        var expected: UInt64?
        for line in maps.split(separator: "\n") where line.hasSuffix(libc) {
            let fields = line.split(separator: " ")
            let range = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
            guard range.count == 2, let fileOffset = UInt64(fields[2], radix: 16) else { continue }
            if address >= range[0] && address < range[1] { expected = address - range[0] + fileOffset }
        }
        let offset = try UprobeTarget.fileOffset(of: "getppid", in: libc)
        #expect(offset == expected, "getppid at \(String(address, radix: 16)), \(maps.split(separator: "\n").count) mappings, libc \(libc)")
        let error = #expect(throws: BPFError.self) { try UprobeTarget.fileOffset(of: "no_such_function_swiftbpf", in: libc) }
        #expect(error?.description.contains("no function symbol 'no_such_function_swiftbpf'") == true)
    }

    @Test(.requires(Kernel.attaches(.kprobe)), .requires(TracedChild.built))
    func kprobeCountsTheChildsCalls() throws {
        let map = try pidCounterMap("kp_counts")
        let program = try counter(.kprobe, name: "kp_getppid", map: map)
        let link = try program.attachKprobe(function: "__x64_sys_getppid")
        #expect(try runChild(iterations: 4, map: map) == 4)
        link.close()
    }

    @Test(.requires(Kernel.attaches(.fentry)), .requires(TracedChild.built))
    func fentryCountsTheChildsCalls() throws {
        let id = try KernelBTF.attachID(for: .traceFentry, target: "__do_sys_getppid")
        #expect(id > 0)
        let map = try pidCounterMap("fentry_counts")
        let program = try counter(.tracing, name: "fentry_getppid", map: map, attachType: .traceFentry, attachBTFID: id)
        let link = try program.attachTracing(description: "fentry __do_sys_getppid")
        #expect(try link.info().type == .tracing)
        #expect(try runChild(iterations: 3, map: map) == 3)
    }

    @Test(.requires(Kernel.attaches(.lsm)))
    func lsmHookCountsSocketCreation() throws {
        let id = try KernelBTF.attachID(for: .lsmMac, target: "socket_create")
        let map = try pidCounterMap("lsm_counts")
        let program = try counter(.lsm, name: "lsm_socket", map: map, attachType: .lsmMac, attachBTFID: id)
        let link = try program.attachLSM(hook: "socket_create")
        try map.update(key: UInt32(0), value: UInt64(getpid()))
        for _ in 0..<3 {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            #expect(fd >= 0)
            close(fd)
        }
        // Other tests in this process may create sockets too: at least our three.
        #expect(try map.lookup(key: UInt32(1), as: UInt64.self) ?? 0 >= 3)
        #expect(try link.info().type == .tracing)
    }

    @Test(.requires(Kernel.attaches(.perfEventSampling)))
    func perfEventSamplingRunsTheProgram() throws {
        let map = try counterMap("samples")
        let program = try KernelProgram.load(type: .perfEvent, instructions: assemble(slotCounterSource(verdict: 0), maps: [map]), name: "sampler")
        let links = try program.attachPerfEvent(frequency: 1000)
        #expect(links.count == (try OnlineCPUs.list().count))
        // Spin until the CPU clock has sampled us (a bounded loop: fails rather than hangs).
        var spins = 0
        var x: UInt64 = 1
        while try map.lookup(key: UInt32(0), as: UInt64.self) == 0 && spins < 2_000 {
            for i in 0..<100_000 { x = x &* 6364136223846793005 &+ UInt64(i) }
            spins += 1
        }
        #expect(x != 0)
        #expect(try map.lookup(key: UInt32(0), as: UInt64.self) ?? 0 > 0)
        for link in links { link.close() }
    }

    @Test(.requires(TracedChild.built), .requires(getppidTracepoint))
    func runTimeStatisticsCountRuns() throws {
        let stats = try KernelStatistics.enableRunTime()
        defer { stats.close() }
        let map = try pidCounterMap("stat_counts")
        let program = try counter(.tracepoint, name: "tp_stats", map: map)
        let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_getppid")
        #expect(try runChild(iterations: 3, map: map) == 3)
        #expect(try program.info().runCount >= 3)
        link.close()
    }

    @Test func legacyLinksCannotBePinned() throws {
        let program = try KernelProgram.load(type: .socketFilter, instructions: Assembler().assemble("mov %r0, 0\nexit"), name: "sf")
        let (sender, receiver) = try #require(datagramSocketPair())
        defer { close(sender); close(receiver) }
        let link = try program.attachSocketFilter(socket: receiver)
        let error = #expect(throws: BPFError.self) { try link.pin(at: "/sys/fs/bpf/never") }
        #expect(error?.description.contains("cannot be pinned") == true)
        #expect(throws: BPFError.self) { try link.info() }
    }
}

/// trace_pipe lines from bpf_trace_printk. Skipped, with the reason, where bpf() is not usable, there
/// is no readable trace_pipe or tracepoint programs may not call bpf_trace_printk.
@Suite(.requires(Kernel.bpf))
struct TracePipeTests {
    static let printk: Availability = {
        let support = KernelFeatures.helper(6, programType: .tracepoint)
        return Availability(support.isSupported, else: "tracepoint programs may not call bpf_trace_printk here (probed): \(support)")
    }()

    @Test(.requires(TracedChild.built), .requires(TracingAttachTests.getppidTracepoint), .requires(Kernel.tracePipe), .requires(printk))
    func printkLinesArrive() async throws {
        let map = try pidCounterMap("printk_pid")
        // If the tgid is the child's, bpf_trace_printk("swiftbpf-printk\n").
        let marker = Array("swiftbpf-printk\n\0".utf8)
        var stores = ""
        for (i, chunk) in stride(from: 0, to: marker.count, by: 8).enumerated() {
            let bytes = (0..<8).map { chunk + $0 < marker.count ? UInt64(marker[chunk + $0]) : 0 }
            let value = bytes.enumerated().reduce(UInt64(0)) { $0 | $1.element << (8 * UInt64($1.offset)) }
            stores += "lddw %r1, 0x\(String(value, radix: 16))\nstxdw [%r10-\(32 - 8 * i)], %r1\n"
        }
        let program = try KernelProgram.load(type: .tracepoint, instructions: assemble("""
            mov %r2, 0
            stxw [%r10-36], %r2
            lddw %r1, MAP0
            mov %r2, %r10
            add %r2, -36
            call 1
            jeq %r0, 0, out
            ldxdw %r6, [%r0]
            call 14
            rsh %r0, 32
            jne %r0, %r6, out
            \(stores)
            mov %r1, %r10
            add %r1, -32
            mov %r2, \(marker.count)
            call 6
            out:
            mov %r0, 0
            exit
            """, maps: [map]), name: "tp_printk")
        let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_getppid")
        // trace_pipe takes one reader at a time; `swiftbpf trace`'s test reads it too.
        try await TracePipeReaders.exclusively { try await Self.readPrintkLines(map: map) }
        link.close()
    }

    /// Runs the traced child with its pid in `map` and reads trace_pipe until three printk lines came.
    static func readPrintkLines(map: KernelMap) async throws {
        let lines = try TraceFS.tracePipeLines()
        let child = try TracedChild.Running(iterations: 3)
        try map.update(key: UInt32(0), value: UInt64(child.pid))
        try child.go()
        #expect(child.wait().status == 0)
        let consumer = Task {
            var seen = 0
            for try await line in lines where line.contains("swiftbpf-printk") {
                seen += 1
                if seen == 3 { break }
            }
            return seen
        }
        // Fails (instead of hanging) if the lines never come.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(10))
            consumer.cancel()
        }
        let seen = try await consumer.value
        watchdog.cancel()
        #expect(seen == 3)
    }
}
