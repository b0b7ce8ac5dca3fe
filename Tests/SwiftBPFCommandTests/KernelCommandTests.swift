import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// `swiftbpf prog`, `map list`/`map dump ID`, `link list` and `attach` against the running kernel.
@Suite("swiftbpf kernel commands", .requires(KernelForCommands.bpf))
struct KernelCommandTests {
    func json(_ output: SwiftBPFTool.Output) throws -> Any {
        #expect(output.status == 0, "\(output.stderr)")
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
    }

    @Test func progListShowAndDump() throws {
        let map = try KernelMap(MapSpec(name: "cli_counts", type: .array, keySize: 4, valueSize: 8, maxEntries: 2))
        try map.update(key: UInt32(1), value: UInt64(0x1122334455))
        let program = try KernelProgram.load(type: .xdp, instructions: Assembler().assemble("""
            lddw %r1, map_fd \(map.fd.rawValue)
            mov %r0, 2
            exit
            """), name: "cli_probe")
        let id = try program.info().id
        let mapID = try map.info().id

        let list = try #require(try json(SwiftBPFTool.run(["prog", "list", "--json"])) as? [[String: Any]])
        let entry = try #require(list.first { $0["id"] as? Int == Int(id) })
        #expect(entry["name"] as? String == "cli_probe")
        #expect(entry["type"] as? String == "xdp")
        #expect(entry["map_ids"] as? [Int] == [Int(mapID)])
        #expect((entry["tag"] as? String)?.count == 16)

        let show = try #require(try json(SwiftBPFTool.run(["prog", "show", String(id), "--json"])) as? [String: Any])
        #expect(show["bytes_xlated"] as? Int == 32)

        let dump = try SwiftBPFTool.run(["prog", "dump", String(id), "--xlated"])
        #expect(dump.status == 0)
        #expect(dump.stdout.contains("r0 = 2"))
        #expect(dump.stdout.contains("exit"))
        let jited = try #require(try json(SwiftBPFTool.run(["prog", "dump", String(id), "--jited", "--json"])) as? [String: Any])
        #expect(((jited["jited"] as? String)?.count ?? 0) == 2 * (try program.info().jitedLength))

        let maps = try #require(try json(SwiftBPFTool.run(["map", "list", "--json"])) as? [[String: Any]])
        #expect(maps.contains { $0["id"] as? Int == Int(mapID) && $0["name"] as? String == "cli_counts" && $0["value_size"] as? Int == 8 })
        let mapDump = try #require(try json(SwiftBPFTool.run(["map", "dump", String(mapID), "--json"])) as? [String: Any])
        let entries = try #require(mapDump["entries"] as? [[String: Any]])
        #expect(entries.count == 2)
        #expect(entries.last?["key"] as? String == "01000000")
        #expect(entries.last?["value"] as? String == "5544332211000000")
        let byOption = try SwiftBPFTool.run(["map", "dump", "--id", String(mapID)])
        #expect(byOption.stdout.contains("key 01000000: value 5544332211000000"))

        let missing = try SwiftBPFTool.run(["prog", "show", "4000000000"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("BPF_PROG_GET_FD_BY_ID failed: ENOENT"))
    }

    @Test(.requires(KernelForCommands.bpffs))
    func attachPinsALinkThatLinkListShows() throws {
        let program = try KernelProgram.load(type: .rawTracepoint, instructions: Assembler().assemble("mov %r0, 0\nexit"), name: "cli_rawtp")
        let programPath = "/sys/fs/bpf/swiftbpf_cli_prog_\(getpid())"
        let linkPath = "/sys/fs/bpf/swiftbpf_cli_link_\(getpid())"
        try program.pin(at: programPath)
        defer { try? BPFFileSystem.unpin(programPath); try? BPFFileSystem.unpin(linkPath) }

        let attached = try #require(try json(SwiftBPFTool.run(["attach", "raw-tracepoint", "sys_enter", "--prog-pinned", programPath,
                                                               "--pin", linkPath, "--json"])) as? [String: Any])
        let linkID = try #require(attached["link_id"] as? Int)
        #expect(attached["prog_id"] as? Int == Int(try program.info().id))
        // The process has exited: the pin holds the link.
        let link = try KernelLink.pinned(at: linkPath)
        #expect(try link.info().id == UInt32(linkID))

        let links = try #require(try json(SwiftBPFTool.run(["link", "list", "--json"])) as? [[String: Any]])
        let listed = try #require(links.first { $0["id"] as? Int == linkID })
        #expect(listed["type"] as? String == "raw_tracepoint")
        #expect(listed["tracepoint"] as? String == "sys_enter")

        let unpinned = try SwiftBPFTool.run(["attach", "raw-tracepoint", "sys_enter", "--prog-pinned", programPath])
        #expect(unpinned.status != 0)
        #expect(unpinned.stderr.contains("--pin"))
    }
}

@Suite("swiftbpf load --type", .requires(KernelForCommands.bpf))
struct LoadTypeCommandTests {
    @Test("loads a global function of .text and a typeless section's program into the kernel as the type given")
    func loadWithType() throws {
        let path = "Tests/Fixtures/bpf/obj/entry_points.o"
        let result = try SwiftBPFTool.run(["load", path, "--program", "classify", "tail_stage", "--type", "sched_cls", "--json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("classify") && result.stdout.contains("tail_stage"), "\(result.stdout)")
        let missing = try SwiftBPFTool.run(["load", path, "--type", "sched_cls"])
        #expect(missing.status != 0 && missing.stderr.contains("--type sched_cls: name the programs with --program"), "\(missing.stderr)")
    }
}

@Suite("swiftbpf feature probe", .requires(KernelForCommands.bpf))
struct FeatureProbeCommandTests {
    @Test("--json lists program types, map types and each type's helpers")
    func probeJSON() throws {
        let result = try SwiftBPFTool.run(["feature", "probe", "kernel", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let programs = try #require(object["program_types"] as? [[String: Any]])
        #expect(programs.contains { $0["name"] as? String == "xdp" && $0["supported"] as? Bool == true })
        #expect(programs.contains { $0["name"] as? String == "tracing" && $0["supported"] is NSNull && $0["reason"] is String })
        let maps = try #require(object["map_types"] as? [[String: Any]])
        #expect(maps.contains { $0["name"] as? String == "hash" && $0["supported"] as? Bool == true })
        let helpers = try #require(object["helpers"] as? [String: [String]])
        #expect(helpers["xdp"]?.contains("bpf_redirect") == true)
        #expect(helpers["socket_filter"]?.contains("bpf_redirect") == false)
    }
}

@Suite("swiftbpf map verbs on kernel maps", .requires(KernelForCommands.bpffs))
struct KernelMapVerbCommandTests {
    @Test("update, lookup, getnext, delete, show by id, pinned path and name; queue push, peek, pop; freeze")
    func verbs() throws {
        let name = "swb_verbs_\(getpid() % 10000)"
        let hash = try KernelMap(MapSpec(name: name, type: .hash, keySize: 4, valueSize: 8, maxEntries: 8))
        let pin = "/sys/fs/bpf/\(name)"
        try hash.pin(at: pin)
        defer { unlink(pin) }
        let id = String(try hash.info().id)
        #expect(try SwiftBPFTool.run(["map", "update", "pinned", pin, "--key", "06000000", "--value", "0500000000000000"]).status == 0)
        let found = try SwiftBPFTool.run(["map", "lookup", "id", id, "--key", "06 00 00 00", "--json"])
        #expect(found.stdout.contains("\"value\": \"0500000000000000\""), "\(found.stdout)\(found.stderr)")
        let missing = try SwiftBPFTool.run(["map", "lookup", "name", name, "--key", "07000000"])
        #expect(missing.status == 1 && missing.stdout.contains("not found"), "\(missing.stdout)\(missing.stderr)")
        #expect(try SwiftBPFTool.run(["map", "getnext", "id", id]).stdout.contains("next key: 06000000"))
        let exists = try SwiftBPFTool.run(["map", "update", "id", id, "--key", "06000000", "--value", "0100000000000000", "--flags", "noexist"])
        #expect(exists.status != 0 && exists.stderr.contains("EEXIST"), "\(exists.stderr)")
        let short = try SwiftBPFTool.run(["map", "lookup", "id", id, "--key", "0600"])
        #expect(short.status != 0 && short.stderr.contains("takes 4 bytes, given 2"), "\(short.stderr)")
        #expect(try SwiftBPFTool.run(["map", "delete", "id", id, "--key", "06000000"]).status == 0)
        #expect(try hash.lookup(key: [6, 0, 0, 0]) == nil)
        let show = try SwiftBPFTool.run(["map", "show", "pinned", pin, "--json"])
        #expect(show.stdout.contains("\"type\": \"hash\"") && show.stdout.contains("\"name\": \"\(name)\""), "\(show.stdout)")

        let queue = try KernelMap(MapSpec(name: "swb_queue", type: .queue, keySize: 0, valueSize: 4, maxEntries: 4))
        let qid = String(try queue.info().id)
        #expect(try SwiftBPFTool.run(["map", "push", "id", qid, "--value", "2a000000"]).status == 0)
        #expect(try SwiftBPFTool.run(["map", "peek", "id", qid]).stdout.contains("value: 2a000000"))
        #expect(try SwiftBPFTool.run(["map", "pop", "id", qid, "--json"]).stdout.contains("\"value\": \"2a000000\""))
        #expect(try SwiftBPFTool.run(["map", "pop", "id", qid]).stdout.contains("empty"))
        #expect(try SwiftBPFTool.run(["map", "freeze", "id", qid]).status == 0)
        let frozen = try SwiftBPFTool.run(["map", "push", "id", qid, "--value", "01000000"])
        #expect(frozen.status != 0 && frozen.stderr.contains("EPERM"), "\(frozen.stderr)")
        // Types are spelled as the kernel and bpftool spell them.
        let perCPU = try KernelMap(MapSpec(name: "swb_percpu", type: .perCPUHash, keySize: 4, valueSize: 8, maxEntries: 2))
        let typed = try SwiftBPFTool.run(["map", "show", "id", String(try perCPU.info().id)])
        #expect(typed.stdout.contains(": percpu_hash  name swb_percpu"), "\(typed.stdout)")
        let cpus = try PossibleCPUs.count
        let perCPUID = String(try perCPU.info().id)
        let slots = String(repeating: "0100000000000000", count: cpus)
        #expect(try SwiftBPFTool.run(["map", "update", "id", perCPUID, "--key", "01000000", "--value", slots]).status == 0)
        let perCPULookup = try SwiftBPFTool.run(["map", "lookup", "id", perCPUID, "--key", "01000000", "--json"])
        let perCPUValues = (try JSONSerialization.jsonObject(with: Data(perCPULookup.stdout.utf8)) as? [String: Any])?["values"] as? [String]
        #expect(perCPUValues == Array(repeating: "0100000000000000", count: cpus), "\(perCPULookup.stdout)")
        #expect("\(MapType.ringBuffer)" == "ringbuf" && "\(ProgramType.schedCls)" == "sched_cls")
        let badSelector = try SwiftBPFTool.run(["map", "show", "tag", "x"])
        #expect(badSelector.status != 0 && badSelector.stderr.contains("selected by id N, pinned PATH or name NAME"))
    }
}

@Suite("swiftbpf prog run/pin, map pin, link show/pin/detach", .requires(KernelForCommands.bpffs))
struct KernelObjectVerbCommandTests {
    @Test("a loaded program test-runs by pin path, name and id; pins of programs, maps and links; a link detached")
    func verbs() throws {
        let dir = "/sys/fs/bpf/swb_verbs_\(getpid() % 10000)"
        let load = try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/maps_hash_array.o", "--pin", dir])
        #expect(load.status == 0, "\(load.stderr)")
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let frame = Frames.ipv4(length: 54)
        let packet = FileManager.default.temporaryDirectory.appendingPathComponent("swb-packet-\(getpid())")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("swb-out-\(getpid())")
        try Data(frame).write(to: packet)
        defer { try? FileManager.default.removeItem(at: packet); try? FileManager.default.removeItem(at: out) }
        let run = try SwiftBPFTool.run(["prog", "run", "pinned", "\(dir)/progs/count_by_proto", "--data-in", packet.path,
                                       "--data-out", out.path, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("\"retval\": 2"), "\(run.stdout)")
        #expect(try Data(contentsOf: out) == Data(frame))
        let byName = try SwiftBPFTool.run(["prog", "run", "pinned", "\(dir)/progs/count_by_proto", "--data-in", packet.path, "--repeat", "5"])
        #expect(byName.stdout.contains("Return value: 2, duration (average):"), "\(byName.stdout)")
        #expect(try SwiftBPFTool.run(["prog", "pin", "pinned", "\(dir)/progs/count_by_proto", "\(dir)/again"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/again"))
        #expect(try SwiftBPFTool.run(["map", "pin", "pinned", "\(dir)/maps/proto_packets", "\(dir)/packets"]).status == 0)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/packets"))

        // An XDP link on loopback: shown, pinned, detached.
        let attach = try SwiftBPFTool.run(["attach", "xdp", "lo", "--prog-pinned", "\(dir)/progs/count_by_proto", "--pin", "\(dir)/link"])
        try #require(attach.status == 0, "\(attach.stderr)")
        let show = try SwiftBPFTool.run(["link", "show", "pinned", "\(dir)/link", "--json"])
        #expect(show.stdout.contains("\"type\": \"xdp\""), "\(show.stdout)")
        let detach = try SwiftBPFTool.run(["link", "detach", "pinned", "\(dir)/link"])
        #expect(detach.status == 0, "\(detach.stderr)")
        let bad = try SwiftBPFTool.run(["prog", "run", "tag", "0000000000000000", "--data-in", packet.path])
        #expect(bad.status != 0 && bad.stderr.contains("no loaded program has that tag"))
    }
}

@Suite("swiftbpf btf list|show|dump id|map", .requires(KernelForCommands.bpffs))
struct KernelBTFCommandTests {
    @Test("a loaded object's map BTF is listed, shown and dumped (raw and C)")
    func btfOfMap() throws {
        let dir = "/sys/fs/bpf/swb_btf_\(getpid() % 10000)"
        #expect(try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/maps_hash_array.o", "--pin", dir]).status == 0)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let show = try SwiftBPFTool.run(["map", "show", "pinned", "\(dir)/maps/proto_packets", "--json"])
        let info = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        let btfID = try #require(info["btf_id"] as? Int)
        #expect(btfID > 0)
        let list = try SwiftBPFTool.run(["btf", "list", "--json"])
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(objects.contains { $0["id"] as? Int == btfID })
        #expect(try SwiftBPFTool.run(["btf", "show", "id", String(btfID)]).stdout.hasPrefix("\(btfID): "))
        let raw = try SwiftBPFTool.run(["btf", "dump", "map", "pinned", "\(dir)/maps/proto_packets"])
        #expect(raw.status == 0 && raw.stdout.contains("[1] "), "\(raw.stderr)")
        let same = try SwiftBPFTool.run(["btf", "dump", "id", String(btfID)])
        #expect(same.stdout == raw.stdout)
        let c = try SwiftBPFTool.run(["btf", "dump", "id", String(btfID), "--format", "c"])
        #expect(c.stdout.contains("#ifndef __VMLINUX_H__"))
        // The kernel map is dumped by its BTF types too, as the runtime's maps are.
        let mapID = String(try #require(info["id"] as? Int))
        #expect(try SwiftBPFTool.run(["map", "update", "id", mapID, "--key", "06000000", "--value", "0500000000000000"]).status == 0)
        let dump = try SwiftBPFTool.run(["map", "dump", mapID, "--json"])
        #expect(dump.stdout.contains("\"formatted\": \"{key: 6, value: 5}\""), "\(dump.stdout)")
        #expect(try SwiftBPFTool.run(["map", "dump", mapID]).stdout.contains("{key: 6, value: 5}"))
        // With BTF, integer keys and values may be given as numbers.
        #expect(try SwiftBPFTool.run(["map", "update", "id", mapID, "--key", "17", "--value", "3"]).status == 0)
        #expect(try SwiftBPFTool.run(["map", "lookup", "id", mapID, "--key", "17"]).stdout.contains("value: 0300000000000000"))
        let tooBig = try SwiftBPFTool.run(["map", "update", "id", mapID, "--key", "4294967296", "--value", "1"])
        #expect(tooBig.status != 0 && tooBig.stderr.contains("does not fit the 4-byte key"), "\(tooBig.stderr)")
        let bad = try SwiftBPFTool.run(["btf", "dump", "id", "abc"])
        #expect(bad.status != 0 && bad.stderr.contains("expected a BTF id"))
    }
}

/// `ip` and `tc` (iproute2) attach the way most users attach; the net tests use them when present.
enum IPRoute2 {
    static let tools = Availability(
        ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].contains { FileManager.default.isExecutableFile(atPath: $0) }
            && ["/usr/sbin/tc", "/sbin/tc", "/usr/bin/tc"].contains { FileManager.default.isExecutableFile(atPath: $0) },
        else: "iproute2's ip and tc are not installed")

    /// `ip link add ... type veth` works here (root, veth support): probed once with a pair made and deleted.
    static let veth: Availability = tools.and({
        let name = "swbprobe\(getpid() % 10000)"
        let status = (try? run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"])) ?? -1
        _ = try? run(["ip", "link", "del", name])
        return Availability(status == 0, else: "`ip link add \(name) type veth peer name \(name)p` failed (exit \(status)): needs root and veth support")
    }())

    @discardableResult
    static func run(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = SwiftBPFTool.repository
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

@Suite("swiftbpf net list|detach", .requires(KernelForCommands.bpffs), .requires(IPRoute2.veth))
struct NetCommandTests {
    @Test("programs attached by ip and tc, and by a link, are listed and detached")
    func listAndDetach() throws {
        let name = "swbn\(getpid() % 10000)"
        try #require(IPRoute2.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"]) == 0)
        defer { try? IPRoute2.run(["ip", "link", "del", name]) }
        try IPRoute2.run(["ip", "link", "set", name, "up"])
        try #require(IPRoute2.run(["ip", "link", "set", "dev", name, "xdpgeneric", "obj", "Tests/Fixtures/bpf/obj/xdp_packets.o", "sec", "xdp"]) == 0)
        try #require(IPRoute2.run(["tc", "qdisc", "add", "dev", name, "clsact"]) == 0)
        try #require(IPRoute2.run(["tc", "filter", "add", "dev", name, "ingress", "bpf", "da", "obj", "Tests/Fixtures/bpf/obj/tc_skb.o", "sec", "tc"]) == 0)
        let list = try SwiftBPFTool.run(["net", "list", "--interface", name, "--json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]], "\(list.stdout)\(list.stderr)")
        #expect(entries.contains { $0["hook"] as? String == "xdp/generic" && $0["link_id"] is NSNull })
        #expect(entries.contains { $0["hook"] as? String == "tc/ingress" && ($0["name"] as? String)?.contains("tc_skb.o") == true })
        #expect(try SwiftBPFTool.run(["net", "detach", name, "tc/ingress"]).status == 0)
        #expect(try SwiftBPFTool.run(["net", "detach", name, "xdp"]).status == 0)
        #expect(try SwiftBPFTool.run(["net", "list", "--interface", name]).stdout.isEmpty)
        let none = try SwiftBPFTool.run(["net", "detach", name, "xdp"])
        #expect(none.status != 0 && none.stderr.contains("no program on xdp"))

        // Attached through a link (swiftbpf attach): listed with its link, detached through it.
        let dir = "/sys/fs/bpf/\(name)"
        #expect(try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/maps_hash_array.o", "--pin", dir]).status == 0)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        #expect(try SwiftBPFTool.run(["attach", "xdp", name, "--prog-pinned", "\(dir)/progs/count_by_proto", "--pin", "\(dir)/link"]).status == 0)
        let linked = try SwiftBPFTool.run(["net", "list", "--interface", name])
        #expect(linked.stdout.contains("(link "), "\(linked.stdout)")
        #expect(try SwiftBPFTool.run(["net", "detach", name, "xdp"]).status == 0)
        #expect(try SwiftBPFTool.run(["net", "list", "--interface", name]).stdout.isEmpty)

        // net attach: over rtnetlink, held by no link; a second one is refused unless replacing.
        let program = "\(dir)/progs/count_by_proto"
        #expect(try SwiftBPFTool.run(["net", "attach", name, "xdp", "pinned", program, "--mode", "generic"]).status == 0)
        let again = try SwiftBPFTool.run(["net", "attach", name, "xdp", "pinned", program, "--mode", "generic"])
        #expect(again.status != 0 && again.stderr.contains("EBUSY"), "\(again.stderr)")
        #expect(try SwiftBPFTool.run(["net", "attach", name, "xdp", "pinned", program, "--mode", "generic", "--replace"]).status == 0)
        let attached = try SwiftBPFTool.run(["net", "list", "--interface", name])
        #expect(attached.stdout.contains("xdp/generic") && !attached.stdout.contains("(link "), "\(attached.stdout)")
        #expect(try SwiftBPFTool.run(["net", "detach", name, "xdp"]).status == 0)
    }
}

@Suite("swiftbpf cgroup show|tree", .requires(KernelForCommands.bpffs), .requires(Availability(Cgroup.unifiedMountPoint() != nil, else: "no cgroup v2 mount")))
struct CgroupCommandTests {
    @Test("a program attached to a new cgroup is shown there and in the tree, with its attach type as bpftool spells it")
    func showAndTree() throws {
        let root = try #require(Cgroup.unifiedMountPoint())
        let cgroup = "\(root)/swb_cg_\(getpid() % 10000)"
        try FileManager.default.createDirectory(atPath: cgroup, withIntermediateDirectories: false)
        defer { rmdir(cgroup) }
        let dir = "/sys/fs/bpf/swb_cg_\(getpid() % 10000)"
        #expect(try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/tc_skb.o", "--program", "cgroup_ingress", "--pin", dir]).status == 0)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let attach = try SwiftBPFTool.run(["attach", "cgroup", cgroup, "--attach-type", "cgroup_inet_ingress",
                                          "--prog-pinned", "\(dir)/progs/cgroup_ingress", "--pin", "\(dir)/link"])
        try #require(attach.status == 0, "\(attach.stderr)")
        #expect(attach.stdout.contains("cgroup_inet_ingress"), "\(attach.stdout)")
        let show = try SwiftBPFTool.run(["cgroup", "show", cgroup, "--json"])
        #expect(show.stdout.contains("\"attach_type\": \"cgroup_inet_ingress\"") && show.stdout.contains("\"name\": \"cgroup_ingress\""), "\(show.stdout)")
        let tree = try SwiftBPFTool.run(["cgroup", "tree", root])
        #expect(tree.stdout.contains(cgroup), "\(tree.stdout)")
        // Detached (the link's pin removed), the cgroup shows nothing.
        #expect(try SwiftBPFTool.run(["link", "detach", "pinned", "\(dir)/link"]).status == 0)
        #expect(try SwiftBPFTool.run(["cgroup", "show", cgroup]).stdout.isEmpty)
    }
}

@Suite("swiftbpf map create, prog show/dump by selector, btf dump prog", .requires(KernelForCommands.bpffs))
struct SelectorCommandTests {
    @Test("a map created and pinned; a program shown and dumped by name and pin path; its BTF dumped")
    func selectors() throws {
        let dir = "/sys/fs/bpf/swb_sel_\(getpid() % 10000)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let created = try SwiftBPFTool.run(["map", "create", "\(dir)/counts", "--type", "percpu_hash", "--key", "4", "--value", "8", "--entries", "4", "--json"])
        #expect(created.status == 0 && created.stdout.contains("\"type\": \"percpu_hash\""), "\(created.stdout)\(created.stderr)")
        let bogus = try SwiftBPFTool.run(["map", "create", "\(dir)/x", "--type", "bogus", "--entries", "1"])
        #expect(bogus.status != 0 && bogus.stderr.contains("--type bogus: not a map type"))
        #expect(try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/maps_hash_array.o", "--pin", "\(dir)/obj"]).status == 0)
        let pinned = "\(dir)/obj/progs/count_by_proto"
        let show = try SwiftBPFTool.run(["prog", "show", "pinned", pinned, "--json"])
        let info = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any], "\(show.stdout)\(show.stderr)")
        let id = try #require(info["id"] as? Int)
        #expect(try SwiftBPFTool.run(["prog", "show", String(id)]).stdout == (try SwiftBPFTool.run(["prog", "show", "id", String(id)])).stdout)
        let dump = try SwiftBPFTool.run(["prog", "dump", "pinned", pinned])
        #expect(dump.status == 0 && dump.stdout.contains("   0: "), "\(dump.stderr)")
        // The C source lines of the program's line info, and helper calls named by kallsyms.
        #expect(dump.stdout.contains("[maps_hash_array.c:"), "\(dump.stdout)")
        let xlated = try SwiftBPFTool.run(["prog", "dump", "pinned", pinned, "--json"])
        let rows = try #require((try JSONSerialization.jsonObject(with: Data(xlated.stdout.utf8)) as? [String: Any])?["xlated"] as? [[String: Any]])
        #expect(rows.contains { ($0["helper"] as? String)?.isEmpty == false }, "no helper call was named")
        #expect(rows.contains { ($0["source"] as? [String: Any])?["file"] as? String == "maps_hash_array.c" })
        let btf = try SwiftBPFTool.run(["btf", "dump", "prog", "pinned", pinned])
        #expect(btf.status == 0 && btf.stdout.contains("[1] "), "\(btf.stderr)")
    }
}

@Suite("swiftbpf perf list", .requires(KernelForCommands.bpffs))
struct PerfListCommandTests {
    @Test("a tracepoint attachment held by another process is listed with its pid, fd, program and tracepoint")
    func perfList() throws {
        let dir = "/sys/fs/bpf/swb_perf_\(getpid() % 10000)"
        #expect(try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/trace_getppid.o", "--pin", dir]).status == 0)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let holder = Process()
        holder.executableURL = try #require(SwiftBPFTool.executable)
        holder.arguments = ["attach", "tracepoint", "syscalls:sys_enter_getppid", "--prog-pinned", "\(dir)/progs/count_getppid", "--wait"]
        holder.standardOutput = FileHandle.nullDevice
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        defer { holder.interrupt(); holder.waitUntilExit() }
        var entry: [String: Any]?
        for _ in 0..<50 where entry == nil {
            usleep(100_000)
            let list = try SwiftBPFTool.run(["perf", "list", "--json"])
            let entries = (try? JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]) ?? []
            entry = entries.first { $0["pid"] as? Int == Int(holder.processIdentifier) }
        }
        let found = try #require(entry, "the holder's attachment never showed in perf list")
        #expect(found["fd_type"] as? String == "tracepoint")
        #expect(found["name"] as? String == "sys_enter_getppid")
    }
}

@Suite("swiftbpf load --reuse-map", .requires(KernelForCommands.bpffs))
struct ReuseMapCommandTests {
    @Test("a second load shares a pinned map by name; a map of another definition is refused")
    func reuse() throws {
        let dir = "/sys/fs/bpf/swb_reuse_\(getpid() % 10000)"
        #expect(try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/maps_hash_array.o", "--pin", dir]).status == 0)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        let pin = "\(dir)/maps/proto_packets"
        let shared = try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/maps_hash_array.o", "--reuse-map", "proto_packets=\(pin)", "--json"])
        #expect(shared.status == 0, "\(shared.stderr)")
        let show = try SwiftBPFTool.run(["map", "show", "pinned", pin, "--json"])
        let id = try #require((try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])?["id"] as? Int)
        #expect(shared.stdout.contains("\(id)"), "the second load's proto_packets is the pinned map: \(shared.stdout)")
        let mismatch = try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/maps_hash_array.o", "--reuse-map", "total_bytes=\(pin)"])
        #expect(mismatch.status != 0 && mismatch.stderr.contains("does not match its definition"), "\(mismatch.stderr)")
        let unknown = try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/maps_hash_array.o", "--reuse-map", "nosuch=\(pin)"])
        #expect(unknown.status != 0 && unknown.stderr.contains("expected NAME=PATH with a map of the object"))
    }
}

/// Issue 16's bpftool user, end to end with swiftbpf alone, every step with --json: load and pin an
/// object with global data, attach it to XDP on a veth pair and see it in net list, read and change
/// its maps, test-run the loaded program, detach it, probe the kernel's features.
@Suite("a bpftool user's session with swiftbpf alone", .requires(KernelForCommands.bpffs), .requires(IPRoute2.veth))
struct BpftoolUserScenarioTests {
    static func object(_ output: SwiftBPFTool.Output) throws -> Any {
        #expect(output.status == 0, "\(output.stderr)")
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
    }

    @Test func scenario() throws {
        let name = "swbu\(getpid() % 10000)"
        let dir = "/sys/fs/bpf/\(name)"
        try #require(IPRoute2.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"]) == 0)
        defer { try? IPRoute2.run(["ip", "link", "del", name]) }
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        // Load and pin an object with global data.
        _ = try Self.object(try SwiftBPFTool.run(["load", "Tests/Fixtures/bpf/obj/global_data.o", "--pin", dir, "--json"]))
        let program = "\(dir)/progs/global_update"
        #expect(FileManager.default.fileExists(atPath: program))
        // Attach it to XDP on the veth and see it in net list.
        _ = try Self.object(try SwiftBPFTool.run(["net", "attach", name, "xdp", "pinned", program, "--mode", "generic", "--json"]))
        let listed = try #require(try Self.object(try SwiftBPFTool.run(["net", "list", "--interface", name, "--json"])) as? [[String: Any]])
        #expect(listed.contains { $0["hook"] as? String == "xdp/generic" })
        // Read and change its maps (its .data global data map).
        let maps = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/maps")
        let data = try #require(maps.first { $0.hasSuffix("_data") || $0.contains("data") }, "\(maps)")
        let info = try #require(try Self.object(try SwiftBPFTool.run(["map", "show", "pinned", "\(dir)/maps/\(data)", "--json"])) as? [String: Any])
        let size = try #require(info["value_size"] as? Int)
        let value = String(repeating: "00", count: size)
        _ = try Self.object(try SwiftBPFTool.run(["map", "update", "pinned", "\(dir)/maps/\(data)", "--key", "00000000", "--value", value, "--json"]))
        let read = try #require(try Self.object(try SwiftBPFTool.run(["map", "lookup", "pinned", "\(dir)/maps/\(data)", "--key", "00000000", "--json"])) as? [String: Any])
        #expect(read["value"] as? String == value)
        // Test-run the loaded program.
        let packet = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).bin")
        try Data(Frames.ipv4(length: 60)).write(to: packet)
        defer { try? FileManager.default.removeItem(at: packet) }
        let run = try #require(try Self.object(try SwiftBPFTool.run(["prog", "run", "pinned", program, "--data-in", packet.path, "--json"])) as? [String: Any])
        #expect(run["retval"] is Int)
        // Detach it.
        _ = try Self.object(try SwiftBPFTool.run(["net", "detach", name, "xdp", "--json"]))
        #expect((try Self.object(try SwiftBPFTool.run(["net", "list", "--interface", name, "--json"])) as? [Any])?.isEmpty == true)
        // Probe the kernel's features.
        let features = try #require(try Self.object(try SwiftBPFTool.run(["feature", "probe", "kernel", "--json"])) as? [String: Any])
        #expect((features["helpers"] as? [String: [String]])?["xdp"]?.isEmpty == false)
    }
}
