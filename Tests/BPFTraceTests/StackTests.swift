import BPFLinux
import BPFTestSupport
import Foundation
import Testing
@testable import BPFTrace

/// A function of this test binary whose address the user symbolizer must name.
@_cdecl("swiftbpf_test_symbol") @inline(never)
func swiftbpfTestSymbol(_ x: Int) -> Int { x &* 7 &+ 1 }

/// `kstack`/`ustack`: symbolizing and bpftrace's layout; in the kernel, tracepoint stacks.
@Suite struct StackTests {
    @Test func kernelSymbolsFromKallsyms() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-kallsyms-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("kallsyms")
        try """
            ffffffff81000000 T _stext
            ffffffff81000100 t do_one_thing
            ffffffff81000180 D some_data
            ffffffff81000200 T do_syscall_64\t[kernel]
            """.write(to: file, atomically: true, encoding: .utf8)
        let symbols = Symbolizer(kallsyms: file.path)
        #expect(symbols.kernel(0xffff_ffff_8100_0105) == "do_one_thing+5")
        #expect(symbols.kernel(0xffff_ffff_8100_0190) == "do_one_thing+144")   // data symbols are skipped
        #expect(symbols.kernel(0xffff_ffff_8100_020f) == "do_syscall_64+15")
        #expect(symbols.kernel(0x1000) == "0x1000")
    }

    @Test(.requires(Availability(FileManager.default.fileExists(atPath: "/proc/self/maps"), else: "no /proc/self/maps (not Linux)")))
    func userSymbolsOfThisProcess() throws {
        let function: @convention(c) (Int) -> Int = swiftbpfTestSymbol
        let address = UInt64(UInt(bitPattern: unsafeBitCast(function, to: UnsafeRawPointer.self)))
        #expect(Symbolizer().user(address + 2, pid: getpid()) == "swiftbpf_test_symbol+2")
        #expect(Symbolizer().user(8, pid: getpid()) == "0x8")
    }

    @Test func stacksPrintAsBpftraceDoes() {
        #expect(Symbolizer.render(["a+1", "b+2"], indent: 4) == "\n    a+1\n    b+2\n")
        let map = PrintedMap(name: "@", entries: [([.string(Symbolizer.render(["a+1", "b+2"], indent: 4))], .unsigned(3))])
        #expect(TraceFormatter.text(map) == "@[\n    a+1\n    b+2\n]: 3\n")
    }

    @Test func stacksTypeCheck() throws {
        let catalog = ProbeCatalog(tracefs: "/nonexistent")
        #expect(throws: TraceError.self) { try TraceCompiler(catalog: catalog).compile(try TraceScript(parsing: "BEGIN { @x = kstack + 1; }")) }
        #expect(throws: TraceError.self) { try TraceCompiler(catalog: catalog).compile(try TraceScript(parsing: #"BEGIN { printf("%d", kstack); }"#)) }
        #expect(throws: TraceError.self) { try TraceCompiler(catalog: catalog).compile(try TraceScript(parsing: "BEGIN { @[kstack(0)] = count(); }")) }
        #expect(throws: TraceError.self) { try TraceCompiler(catalog: catalog).compile(try TraceScript(parsing: "BEGIN { @[kstack] = count(); @[kstack(3)] = count(); }")) }
        let compiled = try TraceCompiler(catalog: catalog).compile(try TraceScript(parsing: #"BEGIN { @[kstack, ustack(3)] = count(); printf("%s", ustack); }"#))
        #expect(compiled.object.maps.contains { $0.name == ProbeCodeGen.stacksMap && $0.type == .stackTrace })
        #expect(compiled.maps.first?.keys == [.stack(user: false, frames: 127), .stack(user: true, frames: 3)])
    }

    static let getppidTracepoint = TraceKernel.bpf.and(Availability(ProbeCatalog().format(category: "syscalls", name: "sys_enter_getppid") != nil,
                                                                  else: "tracefs has no syscalls:sys_enter_getppid tracepoint"))

    /// Stacks of a tracepoint this process hits: the kernel's through the syscall entry, the user
    /// one through libc's getppid, as map keys and in printf (other tests of this process may call
    /// getppid too, so counts are at least 3).
    @Test(.requires(StackTests.getppidTracepoint))
    func tracepointStacksInTheKernel() throws {
        let output = try KernelTraceTests.run("""
            tracepoint:syscalls:sys_enter_getppid /pid == \(getpid())/ { @[kstack] = count(); @u[ustack] = count(); printf("user:%s", ustack); }
            """) {
            for _ in 0..<3 { _ = getppid() }
        }
        #expect(output.contains("do_syscall_64+"), "\(output)")
        #expect(output.range(of: #"@\[\n(    [^\n]+\n)+\]: \d+\n"#, options: .regularExpression) != nil, "\(output)")
        #expect(output.contains("user:\n        getppid+") || output.contains("user:\n        __getppid+"), "\(output)")
    }
}

/// A backend that replays what a kernel run would leave: event records, map entries and stacks.
final class ReplayBackend: TraceBackend {
    var records: [[UInt8]]
    var maps: [String: [(key: [UInt8], values: [[UInt8]])]]
    var stacks: [UInt32: [UInt64]]

    init(records: [[UInt8]], maps: [String: [(key: [UInt8], values: [[UInt8]])]], stacks: [UInt32: [UInt64]]) {
        self.records = records
        self.maps = maps
        self.stacks = stacks
    }

    func load(_ compiled: CompiledScript) throws(TraceError) {}
    func attach(_ probe: CompiledProbe) throws -> String { probe.probe.name }
    func run(_ probe: CompiledProbe) throws {}
    func waitForEvents(milliseconds: Int) {}
    func drainEvents() throws -> [[UInt8]] {
        defer { records = [] }
        return records
    }
    func entries(of map: MapLayout) throws -> [(key: [UInt8], values: [[UInt8]])] { maps[map.bpfName] ?? [] }
    func clear(_ map: MapLayout) throws {}
    func lostEvents() throws -> UInt64 { 0 }
    func detach() {}
    func stack(_ id: UInt32) throws -> [UInt64] { stacks[id] ?? [] }
}

func bytes(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }

extension StackTests {
    /// The whole path from records and maps to text: printf's and print's stacks indented by 8,
    /// map keys by 4, as bpftrace 0.17 prints them.
    @Test func stacksInPrintfPrintAndKeys() throws {
        let source = #"BEGIN { printf("at:%s", kstack); print(kstack(1)); @[kstack] = count(); exit(); }"#
        let compiled = try TraceCompiler(catalog: ProbeCatalog(tracefs: "/nonexistent")).compile(try TraceScript(parsing: source), source: source)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-stacks-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let kallsyms = directory.appendingPathComponent("kallsyms")
        try "ffffffff81000100 t do_one_thing\nffffffff81000200 T do_syscall_64\n".write(to: kallsyms, atomically: true, encoding: .utf8)
        let map = try #require(compiled.maps.first)
        let backend = ReplayBackend(records: [bytes(0) + bytes(5), bytes(1) + bytes(5), bytes(2)],
                                    maps: [map.bpfName: [(key: bytes(5), values: [bytes(1), bytes(2)])]],
                                    stacks: [5: [0xffff_ffff_8100_0105, 0xffff_ffff_8100_0210]])
        let captured = CapturedOutput()
        let session = TraceSession(compiled, backend: backend, sink: captured.sink)
        session.symbolizer = Symbolizer(kallsyms: kallsyms.path)
        try session.run()
        #expect(captured.output == """
            Attaching 1 probe...
            at:
                    do_one_thing+5
                    do_syscall_64+16

                    do_one_thing+5



            @[
                do_one_thing+5
                do_syscall_64+16
            ]: 3

            """)
    }
}
