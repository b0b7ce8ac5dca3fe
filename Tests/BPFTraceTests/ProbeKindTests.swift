import BPFLinux
import BPFTestSupport
import Foundation
import Testing
@testable import BPFTrace

/// `software:` and `fentry:`/`fexit:` probes.
@Suite(.serialized) struct ProbeKindTests {
    @Test func softwareEventsResolveWithBpftracesDefaults() throws {
        let catalog = ProbeCatalog(tracefs: "/nonexistent")
        func resolve(_ text: String) throws -> [ResolvedProbe] {
            try catalog.resolve(ProbeDefinition.AttachPoint(text: text, location: SourceLocation(line: 1, column: 1)))
        }
        #expect(try resolve("software:faults") == [ResolvedProbe(kind: .software(event: "page-faults", period: 100), name: "software:page-faults:100")])
        #expect(try resolve("s:cs:7") == [ResolvedProbe(kind: .software(event: "context-switches", period: 7), name: "software:context-switches:7")])
        #expect(try resolve("software:cpu-clock").first?.kind == .software(event: "cpu-clock", period: 1_000_000))
        #expect(throws: TraceError.self) { try resolve("software:nope") }
        #expect(throws: TraceError.self) { try resolve("software:cs:0") }
        #expect(try resolve("fexit:vfs_read") == [ResolvedProbe(kind: .fexit("vfs_read"), name: "fexit:vfs_read")])
        #expect(try resolve("kfunc:vfs_read").first?.kind == .fentry("vfs_read"))
        #expect(catalog.list(matching: "software:*faults*") == ["software:page-faults:", "software:minor-faults:", "software:major-faults:",
                                                                "software:alignment-faults:", "software:emulation-faults:"])
    }

    /// Page faults of this process, counted every fault, in the kernel.
    @Test(.requires(TraceKernel.bpf))
    func softwarePageFaultsCount() throws {
        let output = try KernelTraceTests.run("software:page-faults:1 /pid == \(getpid())/ { @faults = count(); }") {
            // Touch fresh pages: each first write is a fault.
            let size = 256 * 4096
            guard let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), memory != MAP_FAILED else { return }
            for page in stride(from: 0, to: size, by: 4096) { memory.storeBytes(of: 1, toByteOffset: page, as: UInt8.self) }
            munmap(memory, size)
        }
        let count = output.split(separator: "\n").first { $0.hasPrefix("@faults: ") }.flatMap { Int($0.dropFirst(9)) } ?? 0
        #expect(count >= 256, "\(output)")
    }

    @Test(.requires(Availability(FileManager.default.isReadableFile(atPath: KernelBTF.vmlinuxPath), else: "no kernel BTF at \(KernelBTF.vmlinuxPath)")))
    func fentryArgumentsAreTypedByBTF() throws {
        let source = "fentry:do_sys_openat2 { @[str(args.filename), args.dfd] = count(); } fexit:do_sys_openat2 { @ret = hist(retval); }"
        let compiled = try TraceCompiler(catalog: ProbeCatalog(tracefs: "/nonexistent")).compile(try TraceScript(parsing: source), source: source)
        try TraceCompiler.verify(compiled)
        #expect(compiled.object.programs.map(\.attachType) == [.traceFentry, .traceFexit])
        #expect(compiled.maps.first { $0.name == "@" }?.keys == [.string(64), .integer(signed: true)])
        #expect(compiled.maps.first { $0.name == "@ret" }?.kind == .hist)
        #expect(throws: TraceError.self) { try TraceCompiler().compile(try TraceScript(parsing: "fentry:do_sys_openat2 { print(args.nothing); }")) }
    }

    /// Whether this kernel attaches fentry programs (it may not: no ftrace direct calls, lockdown).
    static let fentry: Availability = {
        guard TraceKernel.bpf.isAvailable else { return TraceKernel.bpf }
        let source = "fentry:do_sys_openat2 { @n = count(); }"
        do {
            let compiled = try TraceCompiler().compile(try TraceScript(parsing: source), source: source)
            let backend = KernelTraceBackend()
            try backend.load(compiled)
            defer { backend.detach() }
            _ = try backend.attach(compiled.probes[0])
            return .available
        } catch {
            return .missing("fentry: the kernel refuses it: \(error)")
        }
    }()

    @Test(.requires(ProbeKindTests.fentry))
    func fentryCountsOpens() throws {
        let output = try KernelTraceTests.run("""
            fentry:do_sys_openat2 /pid == \(getpid())/ { @[str(args.filename)] = count(); }
            """) {
            for _ in 0..<3 { _ = open("/swiftbpf-fentry-test-missing", O_RDONLY) }
        }
        #expect(output.contains("@[/swiftbpf-fentry-test-missing]: 3"), "\(output)")
    }

    /// A probe the kernel refuses (fentry here, where trampolines are not allowed) is a warning;
    /// the script's other probes still run.
    @Test(.requires(StackTests.getppidTracepoint))
    func otherProbesRunWhenOneIsRefused() throws {
        let output = try KernelTraceTests.run("""
            fentry:do_sys_openat2 /pid == \(getpid())/ { @opens = count(); }
            tracepoint:syscalls:sys_enter_getppid /pid == \(getpid())/ { @calls = count(); }
            """) {
            for _ in 0..<3 { _ = getppid() }
        }
        let calls = output.split(separator: "\n").first { $0.hasPrefix("@calls: ") }.flatMap { Int($0.dropFirst(8)) } ?? 0
        #expect(calls >= 3, "\(output)")
        #expect(output.hasPrefix(ProbeKindTests.fentry.isAvailable ? "Attaching 2 probes..." : "Attaching 1 probe..."), "\(output)")
    }
}
