import Foundation
import Testing

@Suite("swiftbpf verify")
struct VerifyCommandTests {
    @Test("prints accept or reject per program, with the line, instruction and registers of a rejection")
    func text() throws {
        let result = try SwiftBPFTool.run(["verify", "Tests/BPFVerifierTests/Fixtures/verifier_rules.o", "--program", "unchecked_lookup"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("unchecked_lookup (xdp): reject"), "\(result.stdout)")
        #expect(result.stdout.contains("R0 may be NULL at insn 7 (line 70: v->count++;): check the result of bpf_map_lookup_elem (insn 6) before dereferencing"), "\(result.stdout)")
        #expect(result.stdout.contains("7: r1 = *(u64 *)(r0 + 0)"), "\(result.stdout)")
        #expect(result.stdout.contains("registers: R0=map_value_or_null(map=flows"), "\(result.stdout)")
        let accepted = try SwiftBPFTool.run(["verify", "Examples/xdp-counter/xdp_counter.o"])
        #expect(accepted.status == 0)
        #expect(accepted.stdout.contains("xdp_counter (xdp): accept ("), "\(accepted.stdout)")
    }

    @Test("--json prints the documented fields")
    func json() throws {
        let result = try SwiftBPFTool.run(["verify", "Tests/BPFVerifierTests/Fixtures/verifier_rules.o", "--json"])
        #expect(result.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let programs = try #require(object["programs"] as? [[String: Any]])
        let checked = try #require(programs.first { $0["name"] as? String == "checked_lookup" })
        #expect(checked["verdict"] as? String == "accept")
        #expect(checked["section"] as? String == "xdp")
        #expect(checked["type"] as? String == "xdp")
        #expect(checked["error"] is NSNull)
        #expect((checked["instructions_processed"] as? Int ?? 0) > 0)
        #expect(checked["peak_states"] is Int)
        #expect(checked["time_us"] is Double)
        let unchecked = try #require(programs.first { $0["name"] as? String == "unchecked_lookup" })
        #expect(unchecked["verdict"] as? String == "reject")
        let error = try #require(unchecked["error"] as? [String: Any])
        #expect(error["kind"] as? String == "null_pointer")
        #expect(error["instruction"] as? Int == 7)
        #expect((error["source"] as? [String: Any])?["line"] as? Int == 70)
    }

    @Test("an older loader's object: inferred types, and undecided (exit status 2) where the type cannot be told")
    func legacyObject() throws {
        let path = "Tests/BPFVerifierTests/Fixtures/legacy/legacy_loaders.o"
        let inferred = try SwiftBPFTool.run(["verify", path, "--program", "parse_packet"])
        #expect(inferred.status == 0, "\(inferred.stdout)\(inferred.stderr)")
        #expect(inferred.stdout.contains("parse_packet (xdp, inferred from its use of the context): accept"), "\(inferred.stdout)")
        let undecided = try SwiftBPFTool.run(["verify", path, "--program", "any_context", "--json"])
        #expect(undecided.status == 2, "\(undecided.stdout)\(undecided.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(undecided.stdout.utf8)) as? [String: Any])
        let program = try #require((object["programs"] as? [[String: Any]])?.first)
        #expect(program["verdict"] as? String == "undecided")
        #expect(program["type"] as? String == "unknown")
        #expect((program["error"] as? [String: Any])?["kind"] as? String == "undecided")
        let legacy = try SwiftBPFTool.run(["verify", path, "--program", "count_socket"])
        #expect(legacy.stdout.contains("count_socket (socket_filter): accept"), "\(legacy.stdout)")
    }

    @Test("--log-level 2 prints the state at each instruction; raw programs verify over their memory")
    func logAndRaw() throws {
        let result = try SwiftBPFTool.run(["verify", "Examples/asm/checksum.s", "--mem-size", "20", "--log-level", "2"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("checksum.s (raw): accept"), "\(result.stdout)")
        #expect(result.stdout.contains("0: r0 = 0 ; R1=mem(size=20) R2=20 R10=fp(frame=0,off=0)"), "\(result.stdout)")
    }
}

@Suite("swiftbpf verify: backends and types")
struct VerifyTargetCommandTests {
    @Test("--json says per program whether the Swift runtime runs it; --backend runtime refuses what it lacks")
    func runtimeField() throws {
        let source = "stdw [%r10-8], 0\nmov %r2, %r10\nadd %r2, -8\nmov %r3, 8\ncall 29\nmov %r0, 0\nexit\n"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tunnel-opt-\(getpid()).s")
        try source.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let kernel = try SwiftBPFTool.run(["verify", file.path, "--type", "sched_cls", "--json"])
        #expect(kernel.status == 0, "\(kernel.stdout)\(kernel.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(kernel.stdout.utf8)) as? [String: Any])
        let program = try #require((object["programs"] as? [[String: Any]])?.first)
        #expect(program["type"] as? String == "sched_cls")
        let runtime = try #require(program["runtime"] as? [String: Any])
        #expect(runtime["runs"] as? Bool == false)
        #expect(runtime["missing_helpers"] as? [String] == ["bpf_skb_get_tunnel_opt"])
        #expect(runtime["has_test_run_context"] as? Bool == true)
        let refused = try SwiftBPFTool.run(["verify", file.path, "--type", "sched_cls", "--backend", "runtime"])
        #expect(refused.status == 1)
        #expect(refused.stdout.contains("bpf_skb_get_tunnel_opt is not implemented by the Swift runtime"), "\(refused.stdout)")
        let text = try SwiftBPFTool.run(["verify", file.path, "--type", "sched_cls"])
        #expect(text.stdout.contains("the Swift runtime cannot run it: it lacks bpf_skb_get_tunnel_opt"), "\(text.stdout)")
        let badType = try SwiftBPFTool.run(["verify", file.path, "--type", "nonsense"])
        #expect(badType.status != 0 && badType.stderr.contains("unknown program type 'nonsense'"), "\(badType.stderr)")
    }

    @Test("a program type the runtime cannot test-run is not said to run there")
    func noTestRunContext() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sk-reuseport-\(getpid()).s")
        try "mov %r0, 1\nexit\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let json = try SwiftBPFTool.run(["verify", file.path, "--type", "sk_reuseport", "--json"])
        #expect(json.status == 0, "\(json.stdout)\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let runtime = try #require((object["programs"] as? [[String: Any]])?.first?["runtime"] as? [String: Any])
        #expect(runtime["runs"] as? Bool == false)
        #expect(runtime["has_test_run_context"] as? Bool == false)
        let text = try SwiftBPFTool.run(["verify", file.path, "--type", "sk_reuseport"])
        #expect(text.stdout.contains("it lacks a test-run context for sk_reuseport programs"), "\(text.stdout)")
    }

    @Test("every program of the network-helper fixture verifies and runs in the runtime")
    func networkFixture() throws {
        let result = try SwiftBPFTool.run(["verify", "Tests/Fixtures/bpf/obj/net_helpers.o", "--backend", "runtime", "--json"])
        #expect(result.status == 0, "\(result.stdout)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let programs = try #require(object["programs"] as? [[String: Any]])
        #expect(programs.count == 12)
        #expect(programs.allSatisfy { ($0["runtime"] as? [String: Any])?["runs"] as? Bool == true })
    }

    @Test("an object whose ELF machine is 0 (older LLVM) loads, as libbpf loads it")
    func machineZero() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "Examples/xdp-counter/xdp_counter.o",
                                                    relativeTo: SwiftBPFTool.repository)))
        bytes[18] = 0; bytes[19] = 0
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("machine0-\(getpid()).o")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try SwiftBPFTool.run(["verify", file.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("xdp_counter (xdp): accept"))
    }
}

@Suite("swiftbpf helpers")
struct HelpersCommandTests {
    @Test("Docs/helpers.md holds the table `swiftbpf helpers --markdown` prints")
    func docsTable() throws {
        let result = try SwiftBPFTool.run(["helpers", "--markdown"])
        #expect(result.status == 0)
        let doc = try String(contentsOf: SwiftBPFTool.repository.appendingPathComponent("Docs/helpers.md"), encoding: .utf8)
        #expect(doc.hasSuffix(result.stdout), "regenerate the table: swift run swiftbpf helpers --markdown")
        #expect(result.stdout.split(separator: "\n").count == Int(211) + 2)
    }

    @Test("one helper by name or id, by program type, and an unknown one")
    func lookup() throws {
        let byName = try SwiftBPFTool.run(["helpers", "redirect"])
        #expect(byName.stdout.contains("23 bpf_redirect(") && byName.stdout.contains("program types: sched_cls, sched_act, xdp, lwt_xmit"), "\(byName.stdout)")
        #expect(try SwiftBPFTool.run(["helpers", "23"]).stdout == byName.stdout)
        let json = try SwiftBPFTool.run(["helpers", "--type", "socket_filter", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let helpers = try #require(object["helpers"] as? [[String: Any]])
        #expect(!helpers.contains { $0["name"] as? String == "bpf_redirect" })
        #expect(helpers.contains { $0["name"] as? String == "bpf_skb_load_bytes" && $0["runtime"] as? Bool == true })
        let unknown = try SwiftBPFTool.run(["helpers", "999"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no helper '999'"), "\(unknown.stderr)")
    }

    @Test("run --json reports a redirect's target")
    func redirectReported() throws {
        let frame = "020000000002020000000001080045000028000000004006000" + "0c0a80001c0a80002" + String(repeating: "00", count: 20)
        let result = try SwiftBPFTool.run(["run", "Tests/Fixtures/bpf/obj/net_helpers.o", "--program", "tc_redirect", "--packet-hex", frame, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["return"] as? Int == 7)
        let redirect = try #require(object["redirect"] as? [String: Any])
        #expect(redirect["helper"] as? String == "bpf_redirect" && redirect["ifindex"] as? Int == 1)
    }
}

@Suite("swiftbpf run --max-entries")
struct MaxEntriesCommandTests {
    @Test("sizes a map before it is created; an unknown map or global data is refused by name")
    func maxEntries() throws {
        let frame = "020000000002020000000001080045000028000000004006000" + "0c0a80001c0a80002" + String(repeating: "00", count: 20)
        let path = "Tests/Fixtures/bpf/obj/net_helpers.o"
        let sized = try SwiftBPFTool.run(["run", path, "--program", "xdp_tx_port", "--packet-hex", frame, "--max-entries", "tx_ports=64"])
        #expect(sized.status == 0, "\(sized.stderr)")
        let unknown = try SwiftBPFTool.run(["run", path, "--program", "xdp_tx_port", "--packet-hex", frame, "--max-entries", "nosuch=4"])
        #expect(unknown.status != 0 && unknown.stderr.contains("--max-entries nosuch=4: map 'nosuch': no such map"), "\(unknown.stderr)")
        let zero = try SwiftBPFTool.run(["run", path, "--program", "xdp_tx_port", "--packet-hex", frame, "--max-entries", "tx_ports=0"])
        #expect(zero.status != 0 && zero.stderr.contains("max_entries 0 is out of range"), "\(zero.stderr)")
    }
}

@Suite("swiftbpf --type")
struct TypeOptionCommandTests {
    static let big = "020000000002020000000001080045000028000000004006000" + "0c0a80001c0a80002" + String(repeating: "00", count: 160)

    @Test("verify and run a global function of .text, and a program whose section names no type, given --type")
    func entryPoints() throws {
        let path = "Tests/Fixtures/bpf/obj/entry_points.o"
        let verified = try SwiftBPFTool.run(["verify", path, "--program", "classify", "--type", "sched_cls"])
        #expect(verified.status == 0 && verified.stdout.contains("classify (sched_cls): accept"), "\(verified.stdout)\(verified.stderr)")
        let tailCall = try SwiftBPFTool.run(["verify", path, "--program", "tail_stage"])
        #expect(tailCall.status == 0 && tailCall.stdout.contains("tail_stage (sched_cls): accept"), "\(tailCall.stdout)\(tailCall.stderr)")
        let untyped = try SwiftBPFTool.run(["verify", path, "--program", "classify"])
        #expect(untyped.status != 0 && untyped.stderr.contains("'classify' is a global function in .text"), "\(untyped.stderr)")
        let run = try SwiftBPFTool.run(["run", path, "--program", "classify", "--type", "sched_cls", "--packet-hex", Self.big, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("\"return\": 2"), "\(run.stdout)")
        let tail = try SwiftBPFTool.run(["run", path, "--program", "tail_stage", "--type", "tc", "--packet-hex", Self.big, "--json"])
        #expect(tail.status == 0 && tail.stdout.contains("\"return\": 0"), "\(tail.stdout)\(tail.stderr)")
        let withoutProgram = try SwiftBPFTool.run(["run", path, "--type", "tc", "--packet-hex", Self.big])
        #expect(withoutProgram.status != 0 && withoutProgram.stderr.contains("--type tc: name the program with --program"))
    }
}

@Suite("swiftbpf disasm OBJ.o and --version")
struct ObjectDisassemblyCommandTests {
    @Test("an object's programs in llvm syntax, with C lines, helper names and maps")
    func objectListing() throws {
        let result = try SwiftBPFTool.run(["disasm", "Tests/Fixtures/bpf/obj/net_helpers.o", "--program", "tc_redirect"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("tc_redirect (tc, sched_cls):"), "\(result.stdout)")
        #expect(result.stdout.contains("; return bpf_redirect(1, 0); [net_helpers.c:"), "\(result.stdout)")
        #expect(result.stdout.contains("2: call 23  ; bpf_redirect"), "\(result.stdout)")
        let all = try SwiftBPFTool.run(["disasm", "Examples/xdp-counter/xdp_counter.o"])
        #expect(all.stdout.contains("; map 'proto_stats'"), "\(all.stdout)")
        let missing = try SwiftBPFTool.run(["disasm", "Examples/xdp-counter/xdp_counter.o", "--program", "nosuch"])
        #expect(missing.status != 0 && missing.stderr.contains("no program named 'nosuch'"))
    }

    @Test("--version names the tool and its helper table")
    func version() throws {
        let result = try SwiftBPFTool.run(["--version"])
        #expect(result.status == 0 && result.stdout.hasPrefix("swiftbpf 0.") && result.stdout.contains("Linux 6.18"), "\(result.stdout)")
    }
}

@Suite("swiftbpf conventions: JSON errors, unknown commands, completion scripts")
struct ConventionCommandTests {
    @Test("under --json a failure is also {\"error\": ...} on standard output, with the same exit status")
    func jsonErrors() throws {
        let result = try SwiftBPFTool.run(["verify", "/nonexistent/object.o", "--json"])
        #expect(result.status == 1 && result.stderr.contains("cannot read"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        #expect(object["error"] as? String == "cannot read '/nonexistent/object.o'")
        let plain = try SwiftBPFTool.run(["verify", "/nonexistent/object.o"])
        #expect(plain.status == 1 && plain.stdout.isEmpty && plain.stderr.contains("cannot read '/nonexistent/object.o'"))
    }

    @Test("an unknown command is answered with the list of commands")
    func unknownCommand() throws {
        let result = try SwiftBPFTool.run(["frob"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown command 'frob': the commands are asm, disasm, run"), "\(result.stderr)")
        #expect(result.stderr.contains("verify, helpers, feature"), "\(result.stderr)")
    }

    @Test("completion scripts for bash, zsh and fish")
    func completion() throws {
        for shell in ["bash", "zsh", "fish"] {
            let result = try SwiftBPFTool.run(["--generate-completion-script", shell])
            #expect(result.status == 0 && result.stdout.contains("swiftbpf") && result.stdout.contains("verify"), "\(shell)")
        }
    }
}

@Suite("swiftbpf --json on asm, disasm and btf dump")
struct MoreJSONCommandTests {
    static func object(_ output: SwiftBPFTool.Output) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], "\(output.stdout)\(output.stderr)")
    }

    @Test("asm, disasm (raw and object) and btf dump print the documented JSON")
    func json() throws {
        let asm = try Self.object(try SwiftBPFTool.run(["asm", "Examples/asm/checksum.s", "--json"]))
        #expect((asm["slots"] as? [String])?.first == "b700000000000000")
        let raw = try Self.object(try SwiftBPFTool.run(["disasm", "Examples/asm/checksum.s", "--json"]))
        let rawProgram = try #require((raw["programs"] as? [[String: Any]])?.first)
        #expect(((rawProgram["instructions"] as? [[String: Any]])?.first?["text"] as? String) == "r0 = 0")
        let object = try Self.object(try SwiftBPFTool.run(["disasm", "Tests/Fixtures/bpf/obj/net_helpers.o", "--program", "tc_redirect", "--json"]))
        let program = try #require((object["programs"] as? [[String: Any]])?.first)
        #expect(program["type"] as? String == "sched_cls")
        let first = try #require((program["instructions"] as? [[String: Any]])?.first)
        #expect((first["source"] as? [String: Any])?["line"] as? Int == 61)
        let btf = try Self.object(try SwiftBPFTool.run(["btf", "dump", "Tests/Fixtures/bpf/obj/net_helpers.o", "--json"]))
        #expect((btf["types"] as? [String])?.first?.hasPrefix("[1] ") == true)
    }
}
