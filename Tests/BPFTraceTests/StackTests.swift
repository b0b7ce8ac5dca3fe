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

    @Test func userSymbolsOfThisProcess() throws {
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
        let compiled = try TraceCompiler(catalog: catalog).compile(try TraceScript(parsing: #"BEGIN { @[kstack, ustack] = count(); printf("%s", ustack); }"#))
        #expect(compiled.object.maps.contains { $0.name == ProbeCodeGen.stacksMap && $0.type == .stackTrace })
        #expect(compiled.maps.first?.keys == [.stack(user: false), .stack(user: true)])
    }

    static let getppidTracepoint = TraceKernel.bpf.and(Availability(ProbeCatalog().format(category: "syscalls", name: "sys_enter_getppid") != nil,
                                                                  else: "tracefs has no syscalls:sys_enter_getppid tracepoint"))

    /// Stacks of a tracepoint this process hits: the kernel's through the syscall entry, the user
    /// one through libc's getppid, as map keys and in printf.
    @Test(.requires(StackTests.getppidTracepoint))
    func tracepointStacksInTheKernel() throws {
        let output = try KernelTraceTests.run("""
            tracepoint:syscalls:sys_enter_getppid /pid == \(getpid())/ { @[kstack] = count(); @u[ustack] = count(); printf("user:%s", ustack); }
            """) {
            for _ in 0..<3 { _ = getppid() }
        }
        #expect(output.contains("do_syscall_64+"), "\(output)")
        #expect(output.range(of: #"@\[\n(    [^\n]+\n)+\]: 3\n"#, options: .regularExpression) != nil, "\(output)")
        #expect(output.contains("user:\n        getppid+") || output.contains("user:\n        __getppid+"), "\(output)")
    }
}
