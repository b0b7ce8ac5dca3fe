import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// Issue 13, item 8: `--json` on every command, program, map and attach types as the kernel and
/// bpftool spell them, and the two forms of `map dump`.
@Suite("swiftbpf: a consistent command line")
struct CLIConsistencyCommandTests {
    static let tcObject = "Tests/Fixtures/bpf/obj/tc_skb.o"
    static let mapsObject = "Tests/Fixtures/bpf/obj/maps_all.o"
    static let frame = "02000000000202000000000108004500002800000000400600000a0000010a000002"
        + String(repeating: "00", count: 20)

    /// Swift case names of map, program and attach types that differ from the kernel's: none may
    /// appear in any output.
    static let swiftCaseNames = ["perCPUHash", "perCPUArray", "lruPerCPUHash", "programArray", "perfEventArray", "ringBuffer",
                                 "lruHash", "lpmTrie", "arrayOfMaps", "hashOfMaps", "bloomFilter", "devmapHash", "stackTrace",
                                 "schedCls", "schedAct", "socketFilter", "cgroupSkb", "rawTracepoint", "perfEvent", "cgroupSockAddr",
                                 "cgroupInetIngress", "cgroupInetEgress", "tcxIngress", "tcxEgress", "traceFentry", "taskStorage", "skStorage"]

    static func expectKernelSpelling(_ output: String, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for name in swiftCaseNames {
            #expect(!output.contains(name), "\(context): prints the Swift case name \(name)", sourceLocation: sourceLocation)
        }
    }

    static func object(_ output: SwiftBPFTool.Output, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        #expect(output.status == 0, "\(output.stderr)", sourceLocation: sourceLocation)
        return try #require(try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any], sourceLocation: sourceLocation)
    }

    // MARK: --json everywhere

    /// Every leaf command of `swiftbpf --help`'s tree, by walking each command's SUBCOMMANDS.
    static func leafCommands(_ path: [String] = []) throws -> [[String]] {
        let help = try SwiftBPFTool.run(path + ["--help"])
        guard let start = help.stdout.range(of: "SUBCOMMANDS:") else { return [path] }
        let section = help.stdout[start.upperBound...].components(separatedBy: "\n  See '").first ?? ""
        let names = section.split(separator: "\n").compactMap { line -> String? in
            // "  name    abstract": a subcommand starts at column 2; wrapped abstracts are indented further.
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first else { return nil }
            return String(name)
        }.filter { $0 != "help" }
        return try names.flatMap { try leafCommands(path + [$0]) }
    }

    @Test("every command and subcommand takes --json")
    func everyCommandTakesJSON() throws {
        let leaves = try Self.leafCommands()
        #expect(leaves.count > 40, "\(leaves)")
        for required in [["gen", "skeleton"], ["conformance-plugin"], ["map", "dump"], ["feature", "probe"], ["asm"], ["disasm"]] {
            #expect(leaves.contains(required), "\(required) is not in \(leaves)")
        }
        for leaf in leaves {
            let help = try SwiftBPFTool.run(leaf + ["--help"])
            #expect(help.stdout.contains("--json"), "swiftbpf \(leaf.joined(separator: " ")) has no --json")
        }
    }

    @Test("every command that runs without the kernel prints JSON that parses under --json")
    func jsonParses() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-json-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bin = directory.appendingPathComponent("checksum.bin").path
        let skeleton = directory.appendingPathComponent("TcSkb.swift").path
        let vectors: [[String]] = [
            ["asm", "Examples/asm/checksum.s"],
            ["asm", "Examples/asm/checksum.s", "-o", bin],
            ["disasm", "Examples/asm/checksum.s"],
            ["disasm", Self.tcObject],
            ["disasm", "Examples/asm/checksum.s", "--jited"],
            ["disasm", Self.tcObject, "--jited", "--program", "tc_mark"],
            ["run", "Examples/asm/checksum.s", "--mem-file", "Examples/asm/ipv4-header.bin"],
            ["run", Self.tcObject, "--program", "tc_mark", "--packet-hex", Self.frame],
            ["run", "Examples/xdp-counter/xdp_counter.o", "--pcap", "Examples/xdp-counter/sample.pcap"],
            ["verify", Self.tcObject],
            ["verify", "Examples/asm/checksum.s"],
            ["helpers"], ["helpers", "redirect"], ["helpers", "--type", "tc"],
            ["btf", "dump", Self.tcObject], ["btf", "dump", Self.tcObject, "--format", "c"],
            ["gen", "skeleton", Self.tcObject], ["gen", "skeleton", Self.tcObject, "-o", skeleton],
            ["map", "dump", Self.mapsObject], ["map", "dump", Self.mapsObject, "--program", "maps_events", "--packet-hex", String(repeating: "ee", count: 60)],
        ]
        for vector in vectors {
            let result = try SwiftBPFTool.run(vector + ["--json"])
            let label = "swiftbpf \(vector.joined(separator: " ")) --json"
            #expect(result.status == 0, "\(label): \(result.stderr)")
            #expect((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) != nil, "\(label): not JSON: \(result.stdout.prefix(300))")
            Self.expectKernelSpelling(result.stdout, label)
        }
        let plugin = try SwiftBPFTool.run(["conformance-plugin", "--json"], stdin: "b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00\n")
        #expect(try Self.object(plugin)["r0"] as? Int == 42)
    }

    @Test("under --json a failure is {\"error\": ...} on standard output, for every kind of command")
    func jsonErrors() throws {
        let vectors: [[String]] = [
            ["asm", "/nonexistent.s"], ["disasm", "/nonexistent.bin"], ["run", "/nonexistent.o"], ["verify", "/nonexistent.o"],
            ["helpers", "no_such_helper"], ["btf", "dump", "/nonexistent"], ["gen", "skeleton", "/nonexistent.o"],
            ["map", "dump", "id"], ["map", "dump"], ["map", "create", "/sys/fs/bpf/x", "--type", "perCPUHash", "--entries", "1"],
        ]
        for vector in vectors {
            let result = try SwiftBPFTool.run(vector + ["--json"])
            let label = "swiftbpf \(vector.joined(separator: " ")) --json"
            #expect(result.status != 0, "\(label)")
            let last = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
            let object = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any]
            #expect(object?["error"] is String, "\(label): \(result.stdout)")
        }
        let plugin = try SwiftBPFTool.run(["conformance-plugin", "--json"], stdin: "zz\n")
        #expect(plugin.status != 0)
        #expect((try JSONSerialization.jsonObject(with: Data(plugin.stdout.utf8)) as? [String: Any])?["error"] is String, "\(plugin.stdout)")
    }

    @Test("asm and gen skeleton report what they wrote under --json")
    func writtenFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-written-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bin = directory.appendingPathComponent("checksum.bin").path
        let asm = try Self.object(SwiftBPFTool.run(["asm", "Examples/asm/checksum.s", "-o", bin, "--json"]))
        #expect(asm["output"] as? String == bin)
        #expect(asm["size"] as? Int == (try FileManager.default.attributesOfItem(atPath: bin)[.size] as? Int))
        #expect(asm["bytes"] is String && asm["slots"] is [String])
        let printed = try Self.object(SwiftBPFTool.run(["asm", "Examples/asm/checksum.s", "--json"]))
        #expect(printed["output"] is NSNull && printed["size"] is NSNull)

        let swift = directory.appendingPathComponent("TcSkb.swift").path
        let written = try Self.object(SwiftBPFTool.run(["gen", "skeleton", Self.tcObject, "-o", swift, "--json"]))
        #expect(written["skeleton"] as? String == "TcSkb")
        #expect(written["output"] as? String == swift)
        #expect(written["source"] is NSNull)
        let source = try String(contentsOfFile: swift, encoding: .utf8)
        #expect(written["bytes"] as? Int == source.utf8.count)
        let toStdout = try Self.object(SwiftBPFTool.run(["gen", "skeleton", Self.tcObject, "--json"]))
        #expect(toStdout["source"] as? String == source)
        #expect(toStdout["output"] is NSNull)
    }

    // MARK: Type names as the kernel spells them

    @Test("map types print as the kernel spells them: map dump OBJ.o, gen skeleton, load's text")
    func mapTypeSpelling() throws {
        let text = try SwiftBPFTool.run(["map", "dump", Self.mapsObject])
        #expect(text.status == 0, "\(text.stderr)")
        for heading in ["map jump (prog_array,", "map pcpu_hash (percpu_hash,", "map lru_pcpu_hash (lru_percpu_hash,",
                        "map events_rb (ringbuf,", "map events_perf (perf_event_array,", "map outer_array (array_of_maps,",
                        "map lpm (lpm_trie,", "map seen (bloom_filter,"] {
            #expect(text.stdout.contains(heading), "\(heading) in \(text.stdout)")
        }
        Self.expectKernelSpelling(text.stdout, "map dump")
        let skeleton = try Self.object(SwiftBPFTool.run(["gen", "skeleton", Self.mapsObject, "--json"]))
        let maps = try #require(skeleton["maps"] as? [[String: Any]])
        let types = Dictionary(uniqueKeysWithValues: maps.compactMap { m in (m["name"] as? String).map { ($0, m["type"] as? String ?? "") } })
        #expect(types["jump"] == "prog_array")
        #expect(types["pcpu_hash"] == "percpu_hash")
        #expect(types["events_rb"] == "ringbuf")
        #expect(types["lru_pcpu_hash"] == "lru_percpu_hash")
    }

    @Test("program types print as the kernel spells them: disasm, verify, run, gen skeleton, helpers")
    func programTypeSpelling() throws {
        let disasm = try SwiftBPFTool.run(["disasm", Self.tcObject])
        #expect(disasm.stdout.contains("tc_mark (tc, sched_cls):"))
        #expect(disasm.stdout.contains("socket_len (socket, socket_filter):"))
        let jited = try SwiftBPFTool.run(["disasm", Self.tcObject, "--jited", "--program", "tc_mark"])
        #expect(jited.stdout.contains("tc_mark (tc, sched_cls):"), "\(jited.stdout.prefix(200))")
        let disasmJSON = try #require(try Self.object(SwiftBPFTool.run(["disasm", Self.tcObject, "--json"]))["programs"] as? [[String: Any]])
        #expect(disasmJSON.map { $0["type"] as? String } == ["sched_cls", "sched_cls", "socket_filter", "cgroup_skb"])

        let verify = try SwiftBPFTool.run(["verify", Self.tcObject])
        #expect(verify.stdout.contains("tc_mark (sched_cls): accept"))
        let verifyJSON = try #require(try Self.object(SwiftBPFTool.run(["verify", Self.tcObject, "--json"]))["programs"] as? [[String: Any]])
        #expect(verifyJSON.first?["type"] as? String == "sched_cls")

        let run = try Self.object(SwiftBPFTool.run(["run", Self.tcObject, "--program", "tc_mark", "--packet-hex", Self.frame, "--json"]))
        #expect(run["type"] as? String == "sched_cls")
        #expect(run["section"] as? String == "tc")
        let pcap = try Self.object(SwiftBPFTool.run(["run", "Examples/xdp-counter/xdp_counter.o", "--pcap", "Examples/xdp-counter/sample.pcap", "--json"]))
        #expect(pcap["type"] as? String == "xdp")

        let skeleton = try #require(try Self.object(SwiftBPFTool.run(["gen", "skeleton", Self.tcObject, "--json"]))["programs"] as? [[String: Any]])
        #expect(skeleton.first { $0["name"] as? String == "cgroup_ingress" }?["type"] as? String == "cgroup_skb")

        let helper = try #require(try Self.object(SwiftBPFTool.run(["helpers", "redirect", "--json"]))["helpers"] as? [[String: Any]])
        #expect((helper.first?["program_types"] as? [String])?.contains("sched_cls") == true)
        for output in [disasm.stdout, jited.stdout, verify.stdout] { Self.expectKernelSpelling(output, "program types") }
    }

    @Test("errors and verdicts name a map type the Swift runtime lacks as the kernel does (task_storage)",
          .enabled(if: BPFClang.executable != nil, Comment(rawValue: BPFClang.skipReason)))
    func unsupportedMapTypeMessages() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-maptype-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("task_store.c"), object = directory.appendingPathComponent("task_store.o")
        // A task storage map (BPF_MAP_TYPE_TASK_STORAGE, 29) that the program references (the asm keeps the lddw).
        try """
            #define SEC(n) __attribute__((section(n), used))
            #define __uint(name, val) int (*name)[val]
            #define __type(name, val) typeof(val) *name
            struct { __uint(type, 29); __uint(map_flags, 1); __type(key, int); __type(value, long); } task_store SEC(".maps");
            SEC("xdp") int prog(void *ctx) { asm volatile("" : : "r"(&task_store)); return 2; }
            char LICENSE[] SEC("license") = "GPL";
            """.write(to: source, atomically: true, encoding: .utf8)
        let clang = Process()
        clang.executableURL = BPFClang.executable   // non-nil: the test is enabled only then
        clang.arguments = ["-target", "bpf", "-O2", "-g", "-c", source.path, "-o", object.path]
        try clang.run()
        clang.waitUntilExit()
        try #require(clang.terminationStatus == 0)

        let run = try SwiftBPFTool.run(["run", object.path, "--packet-hex", Self.frame])
        #expect(run.status != 0)
        #expect(run.stderr.contains("type task_storage is not available in the Swift runtime"), "\(run.stderr)")
        let verify = try SwiftBPFTool.run(["verify", object.path, "--backend", "runtime"])
        #expect(verify.stdout.contains("is a task_storage map, which the Swift runtime does not implement"), "\(verify.stdout)")
        let json = try Self.object(SwiftBPFTool.run(["verify", object.path, "--json"]))
        let runtime = (json["programs"] as? [[String: Any]])?.first?["runtime"] as? [String: Any]
        #expect(runtime?["missing_map_types"] as? [String] == ["task_storage"])
        for output in [run.stderr, verify.stdout] { Self.expectKernelSpelling(output, "task_storage") }
    }

    @Test("--type options take the kernel's names, BPF_PROG_TYPE_ names, bpftool's short ones and section names")
    func typeOptions() throws {
        for (given, expected) in [("sched_cls", "sched_cls"), ("BPF_PROG_TYPE_SCHED_CLS", "sched_cls"), ("tc", "sched_cls"),
                                  ("socket_filter", "socket_filter"), ("cgroup/connect4", "cgroup_sock_addr"), ("xdp", "xdp")] {
            // The verdict may be a rejection (exit status 1): only the type matters here.
            let output = try SwiftBPFTool.run(["verify", "Examples/asm/checksum.s", "--type", given, "--json"])
            let verify = try #require((try JSONSerialization.jsonObject(with: Data(output.stdout.utf8)) as? [String: Any])?["programs"]
                                      as? [[String: Any]], "\(output.stdout) \(output.stderr)")
            #expect(verify.first?["type"] as? String == expected, "--type \(given)")
            let helpers = try SwiftBPFTool.run(["helpers", "--type", given])
            #expect(helpers.status == 0, "helpers --type \(given): \(helpers.stderr)")
        }
        let unknown = try SwiftBPFTool.run(["verify", "Examples/asm/checksum.s", "--type", "schedCls"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("sched_cls, sched_act"), "\(unknown.stderr)")
        // map create: the kernel's map type names; a Swift case name is refused with the list (before any bpf()).
        let mapType = try SwiftBPFTool.run(["map", "create", "/sys/fs/bpf/swiftbpf-never-created", "--type", "perCPUHash", "--entries", "1"])
        #expect(mapType.status != 0)
        #expect(mapType.stderr.contains("--type perCPUHash: not a map type") && mapType.stderr.contains("percpu_hash, percpu_array"), "\(mapType.stderr)")
        // attach: cgroup attach types as libbpf spells them (checked before the program is opened) and the kernel's kind names.
        let attachType = try SwiftBPFTool.run(["attach", "cgroup", "/sys/fs/cgroup", "--prog-id", "1", "--pin", "/sys/fs/bpf/x",
                                               "--attach-type", "cgroupInetIngress"])
        #expect(attachType.status != 0)
        #expect(attachType.stderr.contains("--attach-type cgroupInetIngress: not an attach type") && attachType.stderr.contains("cgroup_inet_ingress"),
                "\(attachType.stderr)")
        for kind in ["tcx_ingress", "tcx-egress", "raw_tracepoint"] {
            // The kind parses; what is missing is the program.
            let result = try SwiftBPFTool.run(["attach", kind, "lo"])
            #expect(result.stderr.contains("give exactly one of --prog-pinned PATH and --prog-id ID"), "attach \(kind): \(result.stderr)")
        }
    }

    // MARK: map dump OBJ.o and map dump id N

    @Test("map dump: OBJ.o and a kernel map selector are told apart, and an argument that could be both is refused")
    func mapDumpForms() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-mapdump-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let object = SwiftBPFTool.repository.appendingPathComponent(Self.mapsObject)
        for name in ["id", "42"] { try FileManager.default.copyItem(at: object, to: directory.appendingPathComponent(name)) }

        func refused(_ arguments: [String], in directory: URL? = nil, saying parts: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
            let result = try SwiftBPFTool.run(["map", "dump"] + arguments, in: directory)
            #expect(result.status != 0, "map dump \(arguments.joined(separator: " "))", sourceLocation: sourceLocation)
            for part in parts {
                #expect(result.stderr.contains(part), "map dump \(arguments.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
            }
        }
        // A file named like a selector, or like an id: refused, naming both readings.
        try refused(["id"], in: directory, saying: ["'id' is both a file here and the kernel map selector id", "./id"])
        try refused(["id", "5"], in: directory, saying: ["'id' is both a file here", "./id", "--id N"])
        try refused(["42"], in: directory, saying: ["'42' is both a file here and a kernel map id", "./42", "--id 42"])
        // Written as a path, it is the object.
        let byPath = try SwiftBPFTool.run(["map", "dump", "./id"], in: directory)
        #expect(byPath.status == 0, "\(byPath.stderr)")
        #expect(byPath.stdout.contains("map pcpu_hash (percpu_hash,"))
        let numbered = try Self.object(SwiftBPFTool.run(["map", "dump", "./42", "--json"], in: directory))
        #expect(numbered["pcpu_hash"] is [[String: Any]])

        // Without such files: selectors need their value, unknown words and mixed forms are refused.
        try refused([], saying: ["map dump OBJ.o", "id N | pinned PATH | name NAME"])
        try refused(["id"], saying: ["id: give the map's id (map dump id N)"])
        try refused(["pinned"], saying: ["map dump pinned PATH"])
        try refused(["id", "abc"], saying: ["id abc: expected a map id"])
        try refused(["bogus", "x"], saying: ["expected OBJ.o, or a kernel map selected by id N, pinned PATH or name NAME"])
        try refused(["--id", "5", Self.mapsObject], saying: ["give either OBJ.o or a kernel map"])
        try refused(["id", "5", "--map", "jump"], saying: ["--map applies only to map dump OBJ.o"])
        try refused(["name", "x", "--packet-hex", "00", "--program", "p"], saying: ["--program, --packet-hex apply only to map dump OBJ.o"])
        try refused(["no-such-object.o"], saying: ["no-such-object.o: no such file"])
        try refused(["README.md"], saying: ["README.md is not an ELF object"])
        try refused(["4294967296"], saying: ["map id 4294967296"])
    }

    @Test("map dump id N, --id N, N, pinned PATH and name NAME dump the same kernel map", .requires(KernelForCommands.bpffs))
    func mapDumpKernelSelectors() throws {
        let name = "clidump" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let map = try KernelMap(MapSpec(name: name, type: .hash, keySize: 4, valueSize: 8, maxEntries: 4))
        try map.update(key: UInt32(6), value: UInt64(5))
        let id = try map.info().id
        let pin = "/sys/fs/bpf/swiftbpf-cli-\(UUID().uuidString.prefix(8))"
        try map.pin(at: pin)
        defer { unlink(pin) }
        let reference = try SwiftBPFTool.run(["map", "dump", "id", String(id), "--json"])
        let object = try Self.object(reference)
        #expect((object["map"] as? [String: Any])?["type"] as? String == "hash")
        #expect((object["entries"] as? [[String: Any]])?.first?["key"] as? String == "06000000")
        for form in [["--id", String(id)], [String(id)], ["pinned", pin], ["name", name]] {
            let result = try SwiftBPFTool.run(["map", "dump"] + form + ["--json"])
            #expect(result.status == 0, "map dump \(form): \(result.stderr)")
            #expect(result.stdout == reference.stdout, "map dump \(form.joined(separator: " "))")
        }
        let text = try SwiftBPFTool.run(["map", "dump", "name", name])
        #expect(text.stdout.contains("map \(id) \(name) (hash): 1 entries"), "\(text.stdout)")
    }

    @Test("map create takes the kernel's map type names (BPF_MAP_TYPE_ and case optional) and shows them", .requires(KernelForCommands.bpffs))
    func mapCreateTypes() throws {
        for (given, expected, key, value, entries) in [("percpu_hash", "percpu_hash", 4, 8, 4), ("BPF_MAP_TYPE_LRU_PERCPU_HASH", "lru_percpu_hash", 4, 8, 4),
                                                       ("RINGBUF", "ringbuf", 0, 0, 4096), ("prog_array", "prog_array", 4, 4, 2)] {
            let pin = "/sys/fs/bpf/swiftbpf-cli-\(UUID().uuidString.prefix(8))"
            defer { unlink(pin) }
            let created = try Self.object(SwiftBPFTool.run(["map", "create", pin, "--type", given, "--key", String(key), "--value", String(value),
                                                            "--entries", String(entries), "--json"]))
            #expect(created["type"] as? String == expected, "--type \(given)")
            let show = try SwiftBPFTool.run(["map", "show", "pinned", pin])
            #expect(show.stdout.contains(expected), "\(show.stdout)")
            let dump = try SwiftBPFTool.run(["map", "dump", "pinned", pin])
            #expect(dump.stdout.contains("(\(expected))"), "\(dump.stdout)")
        }
    }

    @Test("load --json gives each program's type and attach type as the kernel spells them", .requires(KernelForCommands.bpf))
    func loadTypes() throws {
        let load = try Self.object(SwiftBPFTool.run(["load", Self.tcObject, "--json"]))
        let programs = try #require(load["programs"] as? [[String: Any]])
        let ingress = try #require(programs.first { $0["name"] as? String == "cgroup_ingress" })
        #expect(ingress["type"] as? String == "cgroup_skb")
        #expect(ingress["attach_type"] as? String == "cgroup_inet_ingress")
        let mark = try #require(programs.first { $0["name"] as? String == "tc_mark" })
        #expect(mark["type"] as? String == "sched_cls")
        #expect(mark["attach_type"] is NSNull)
        let text = try SwiftBPFTool.run(["load", Self.mapsObject])
        #expect(text.stdout.contains("map pcpu_hash (percpu_hash, key 4"), "\(text.stdout)")
        Self.expectKernelSpelling(text.stdout, "load")
    }

    @Test("the kernel object verbs print JSON that parses under --json", .requires(KernelForCommands.bpffs))
    func kernelVerbsJSON() throws {
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let directory = "/sys/fs/bpf/swiftbpf-cli-\(suffix)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hash = try KernelMap(MapSpec(name: "clih" + suffix, type: .hash, keySize: 4, valueSize: 8, maxEntries: 4))
        let hashID = String(try hash.info().id)
        let queue = try KernelMap(MapSpec(name: "cliq" + suffix, type: .queue, keySize: 0, valueSize: 4, maxEntries: 4))
        let queueID = String(try queue.info().id)
        let program = try KernelProgram.load(type: .rawTracepoint, instructions: Assembler().assemble("mov %r0, 0\nexit"), name: "cli_json")
        let programID = String(try program.info().id)
        let btf = try #require(try JSONSerialization.jsonObject(with: Data(SwiftBPFTool.run(["btf", "list", "--json"]).stdout.utf8)) as? [[String: Any]])
        let btfID = try #require(btf.first?["id"] as? Int)
        let vectors: [[String]] = [
            ["map", "update", "id", hashID, "--key", "06000000", "--value", "0500000000000000"],
            ["map", "lookup", "id", hashID, "--key", "06000000"],
            ["map", "getnext", "id", hashID],
            ["map", "show", "id", hashID],
            ["map", "dump", "id", hashID],
            ["map", "pin", "id", hashID, "\(directory)/hash"],
            ["map", "dump", "pinned", "\(directory)/hash"],
            ["map", "delete", "pinned", "\(directory)/hash", "--key", "06000000"],
            ["map", "push", "id", queueID, "--value", "2a000000"],
            ["map", "peek", "id", queueID],
            ["map", "pop", "id", queueID],
            ["map", "freeze", "id", queueID],
            ["map", "create", "\(directory)/created", "--type", "BPF_MAP_TYPE_PERCPU_ARRAY", "--key", "4", "--value", "8", "--entries", "2"],
            ["prog", "show", "id", programID],
            ["prog", "dump", "id", programID],
            ["prog", "pin", "id", programID, "\(directory)/prog"],
            ["attach", "raw_tracepoint", "sys_enter", "--prog-id", programID, "--pin", "\(directory)/link"],
            ["link", "show", "pinned", "\(directory)/link"],
            ["link", "pin", "pinned", "\(directory)/link", "\(directory)/link2"],
            ["btf", "show", "id", String(btfID)],
        ]
        for vector in vectors {
            let result = try SwiftBPFTool.run(vector + ["--json"])
            let label = "swiftbpf \(vector.joined(separator: " ")) --json"
            #expect(result.status == 0, "\(label): \(result.stderr)")
            #expect((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) != nil, "\(label): not JSON: \(result.stdout.prefix(300))")
            Self.expectKernelSpelling(result.stdout, label)
        }
        let created = try Self.object(SwiftBPFTool.run(["map", "show", "pinned", "\(directory)/created", "--json"]))
        #expect(created["type"] as? String == "percpu_array")
        let link = try Self.object(SwiftBPFTool.run(["link", "show", "pinned", "\(directory)/link", "--json"]))
        #expect(link["type"] as? String == "raw_tracepoint")
        for pin in ["hash", "created", "prog", "link", "link2"] { unlink("\(directory)/\(pin)") }
    }

    @Test("kernel listings print JSON that parses under --json", .requires(KernelForCommands.bpf))
    func kernelListingsJSON() throws {
        let vectors: [[String]] = [
            ["prog", "list"], ["map", "list"], ["link", "list"], ["btf", "list"], ["perf", "list"], ["net", "list"], ["cgroup", "tree"],
            ["feature", "probe"],
            ["load", Self.tcObject], ["run", Self.tcObject, "--program", "tc_mark", "--packet-hex", Self.frame, "--backend", "kernel"],
            ["map", "dump", "Tests/Fixtures/bpf/obj/tail_calls.o", "--backend", "kernel"],
        ]
        for vector in vectors {
            let result = try SwiftBPFTool.run(vector + ["--json"])
            let label = "swiftbpf \(vector.joined(separator: " ")) --json"
            #expect(result.status == 0, "\(label): \(result.stderr)")
            #expect((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) != nil, "\(label): not JSON: \(result.stdout.prefix(300))")
            Self.expectKernelSpelling(result.stdout, label)
        }
        // feature probe: every entry has the same fields, types by the kernel's names.
        let features = try Self.object(SwiftBPFTool.run(["feature", "probe", "--json"]))
        let programTypes = try #require(features["program_types"] as? [[String: Any]])
        let mapTypes = try #require(features["map_types"] as? [[String: Any]])
        #expect((programTypes + mapTypes).allSatisfy { $0.keys.sorted() == ["name", "reason", "supported"] })
        #expect(programTypes.contains { $0["name"] as? String == "sched_cls" })
        for name in ["percpu_hash", "ringbuf", "prog_array", "devmap_hash"] {
            #expect(mapTypes.contains { $0["name"] as? String == name }, "\(name)")
        }
    }
}
