import BPFLinux
@testable import BPFObject
import BPFRuntime
import BPFTestSupport
import Foundation
import Testing
@testable import BPFTrace

/// A small BTF of our own: `struct request { int status; short code; unsigned char flag; char
/// name[8]; struct request *next; union { long long total; }; }` (32 bytes), for tests that need
/// no kernel.
func requestBTF() throws -> BTF {
    var types = [BTFType(id: 0, kind: .int, name: "void", kindFlag: false, sizeOrType: 0, detail: .none)]
    func add(_ kind: BTFKind, _ name: String, _ sizeOrType: Int, _ detail: BTFType.Detail = .none) -> Int {
        types.append(BTFType(id: types.count, kind: kind, name: name, kindFlag: false, sizeOrType: sizeOrType, detail: detail))
        return types.count - 1
    }
    let int = add(.int, "int", 4, .integer(signed: true, char: false, bool: false, bitOffset: 0, bits: 32))
    let short = add(.int, "short", 2, .integer(signed: true, char: false, bool: false, bitOffset: 0, bits: 16))
    let uchar = add(.int, "unsigned char", 1, .integer(signed: false, char: true, bool: false, bitOffset: 0, bits: 8))
    let char = add(.int, "char", 1, .integer(signed: true, char: true, bool: false, bitOffset: 0, bits: 8))
    let longlong = add(.int, "long long", 8, .integer(signed: true, char: false, bool: false, bitOffset: 0, bits: 64))
    let name = add(.array, "", 0, .array(element: char, index: int, count: 8))
    let requestID = types.count + 2
    let pointer = add(.pointer, "", requestID)
    let anonymous = add(.union, "", 8, .members([BTFMember(name: "total", type: longlong, bitOffset: 0, bitfieldSize: 0)]))
    _ = add(.structure, "request", 32, .members([
        BTFMember(name: "status", type: int, bitOffset: 0, bitfieldSize: 0),
        BTFMember(name: "code", type: short, bitOffset: 32, bitfieldSize: 0),
        BTFMember(name: "flag", type: uchar, bitOffset: 48, bitfieldSize: 0),
        BTFMember(name: "name", type: name, bitOffset: 64, bitfieldSize: 0),
        BTFMember(name: "next", type: pointer, bitOffset: 128, bitfieldSize: 0),
        BTFMember(name: "", type: anonymous, bitOffset: 192, bitfieldSize: 0),
    ]))
    var encoder = BTFEncoder(types: types)
    return try BTF(bytes: encoder.encoded())
}

/// Struct member access through BTF: `(struct NAME *)` casts, `->`/`.` chains, `curtask`.
@Suite struct KernelTypesTests {
    /// An app probe's arguments read as a struct through `ctx`: every integer size and signedness,
    /// a char array as a string, a member of an anonymous union, a pointer (read as a number).
    @Test func membersOfEverySizeAndSignedness() throws {
        let probe = AppProbe(named: "swiftbpf_test_struct")
        let source = #"""
            app:swiftbpf_test_struct {
                $r = (struct request *)ctx;
                printf("%d %d %u %s %d %x\n", $r->status, $r->code, $r->flag, $r->name, $r->total, $r->next);
                @codes[$r->code] = count();
                @names[((struct request *)ctx)->name] = sum($r->status);
            }
            """#
        var compiler = TraceCompiler(catalog: ProbeCatalog(tracefs: "/nonexistent"))
        compiler.btf = try requestBTF()
        let compiled = try compiler.compile(try TraceScript(parsing: source), source: source)
        let captured = CapturedOutput()
        let session = TraceSession(compiled, backend: RuntimeTraceBackend(), sink: captured.sink)
        let stop = session.stopSignal
        // status -7, code -2 (0xfffe), flag 200: little-endian in arg0; name in arg1; next in arg2.
        let a0 = UInt64(UInt32(bitPattern: -7)) | UInt64(0xfffe) << 32 | UInt64(200) << 48
        let name = Array("swift".utf8) + [0, 0, 0]
        let a1 = name.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        let firer = Thread {
            while !probe.isAttached { usleep(1000) }
            probe.fire(a0, a1, 0xabc, UInt64(bitPattern: -5))
            probe.fire(a0, a1, 0xabc, UInt64(bitPattern: -5))
            usleep(100_000)
            stop.request()
        }
        firer.start()
        try session.run()
        #expect(captured.output == """
            Attaching 1 probe...
            -7 -2 200 swift -5 abc
            -7 -2 200 swift -5 abc


            @codes[-2]: 2
            @names[swift]: -14

            """)
    }

    @Test func errorsNameTheStructAndMember() throws {
        var compiler = TraceCompiler(catalog: ProbeCatalog(tracefs: "/nonexistent"))
        compiler.btf = try requestBTF()
        func error(_ source: String) -> String {
            do {
                _ = try compiler.compile(try TraceScript(parsing: source), source: source)
                return "compiled"
            } catch {
                return error.description
            }
        }
        #expect(error("BEGIN { print(((struct request *)0)->missing); }").contains(
            "stdin:1:36: struct request has no member 'missing' (members: status, code, flag, name, next, total)"))
        #expect(error("BEGIN { print(((struct nothing *)0)->x); }").contains("the kernel's BTF has no struct nothing"))
        #expect(error("BEGIN { print(((struct request *)0)->status->x); }").contains("this value is not a struct or a pointer to one: it has no member 'x'"))
        #expect(error("BEGIN { $x = 1; print($x->status); }").contains("this has no kernel type"))
        #expect(error("BEGIN { print((struct request)0); }").contains("only pointer casts are supported"))
        #expect(error(#"BEGIN { print(((struct request *)"a")->status); }"#).contains("must be an integer"))
    }

    /// `curtask` chains typed by this kernel's BTF, checked by our verifier as the kernel's would.
    @Test(.requires(Availability(FileManager.default.isReadableFile(atPath: KernelBTF.vmlinuxPath), else: "no kernel BTF at \(KernelBTF.vmlinuxPath)")))
    func curtaskChainsVerify() throws {
        let source = #"BEGIN { printf("%d %d %s\n", curtask->pid, ((struct task_struct *)curtask)->real_parent->tgid, curtask->comm); exit(); }"#
        let compiled = try TraceCompiler(catalog: ProbeCatalog(tracefs: "/nonexistent")).compile(try TraceScript(parsing: source), source: source)
        try TraceCompiler.verify(compiled)
        #expect(compiled.object.programs[0].instructions.filter { $0.opcode == 0x85 && $0.imm == 113 }.count == 4)
    }

    /// The same, run in the kernel: BEGIN runs in this thread, so curtask is this process.
    @Test(.requires(TraceKernel.bpf))
    func curtaskMembersInTheKernel() throws {
        let source = #"BEGIN { printf("%d %d %s\n", curtask->tgid, curtask->real_parent->tgid, curtask->group_leader->comm); exit(); }"#
        let compiled = try TraceCompiler().compile(try TraceScript(parsing: source), source: source)
        let captured = CapturedOutput()
        try TraceSession(compiled, backend: KernelTraceBackend(), sink: captured.sink).run()
        let comm = (try? String(contentsOfFile: "/proc/self/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) ?? "?"
        #expect(captured.output == "Attaching 1 probe...\n\(getpid()) \(getppid()) \(comm)\n\n\n")
    }
}
