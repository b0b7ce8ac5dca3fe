import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// Attaching by section name (`AutoAttach`, `KernelObject.attachAll`): the section-name parsing
/// without the kernel, and the trace_getppid fixture attached and counting in the kernel.
struct AutoAttachParsingTests {
    @Test("section names give the attachment a libbpf skeleton would make", arguments: [
        ("tracepoint/syscalls/sys_enter_getppid", AutoAttach.tracepoint(category: "syscalls", name: "sys_enter_getppid")),
        ("tp/sched/sched_switch", .tracepoint(category: "sched", name: "sched_switch")),
        ("raw_tracepoint/sys_enter", .rawTracepoint("sys_enter")),
        ("raw_tp/sched_switch", .rawTracepoint("sched_switch")),
        ("raw_tp.w/sys_exit", .rawTracepoint("sys_exit")),
        ("tp_btf/sched_switch", .tracing("tp_btf/sched_switch")),
        ("fentry/do_unlinkat", .tracing("fentry/do_unlinkat")),
        ("fexit/do_unlinkat", .tracing("fexit/do_unlinkat")),
        ("fentry.s/do_unlinkat", .tracing("fentry.s/do_unlinkat")),
        ("lsm/file_open", .lsm(hook: "file_open")),
        ("lsm.s/bprm_check_security", .lsm(hook: "bprm_check_security")),
        ("kprobe/do_sys_openat2", .kprobe(function: "do_sys_openat2", offset: 0, returnProbe: false)),
        ("kprobe/tcp_connect+0x10", .kprobe(function: "tcp_connect", offset: 16, returnProbe: false)),
        ("kretprobe/do_sys_openat2", .kprobe(function: "do_sys_openat2", offset: 0, returnProbe: true)),
        ("uprobe//usr/bin/bash:readline", .uprobe(binary: "/usr/bin/bash", symbol: "readline", offset: 0, returnProbe: false)),
        ("uretprobe//usr/bin/bash:readline", .uprobe(binary: "/usr/bin/bash", symbol: "readline", offset: 0, returnProbe: true)),
        ("uprobe/libc.so.6:malloc+8", .uprobe(binary: "libc.so.6", symbol: "malloc", offset: 8, returnProbe: false)),
        ("uprobe.s//bin/app:0x1234", .uprobe(binary: "/bin/app", symbol: nil, offset: 0x1234, returnProbe: false)),
        ("xdp", .xdp),
        ("xdp.frags", .xdp),
        ("tcx/ingress", .tcx(.ingress)),
        ("tc/egress", .tcx(.egress)),
        ("cgroup_skb/egress", .cgroup(.cgroupInetEgress)),
        ("cgroup/connect4", .cgroup(.cgroupInet4Connect)),
        ("sockops", .cgroup(.cgroupSockOps)),
    ])
    func attachable(_ section: String, _ expected: AutoAttach) {
        #expect(AutoAttach(section: section) == expected, "\(section)")
    }

    @Test("ksyscall names the architecture's syscall wrapper")
    func ksyscall() throws {
        guard case .kprobe(let function, 0, let returnProbe) = AutoAttach(section: "kretsyscall/getppid") else {
            Issue.record("kretsyscall/getppid is not a kprobe: \(AutoAttach(section: "kretsyscall/getppid"))")
            return
        }
        #expect(function.hasSuffix("_sys_getppid") && function.hasPrefix("__"))
        #expect(returnProbe)
    }

    @Test("sections that cannot be attached from their name say why", arguments: [
        ("perf_event", "sampling frequency"),
        ("socket", "need a socket"),
        ("uprobe", "names no binary"),
        ("uprobe//usr/bin/bash", "expected uprobe/PATH:FUNCTION"),
        ("kprobe/f+zz", "bad offset"),
        ("tracepoint/syscalls", "expected tracepoint/CATEGORY/NAME"),
        ("tp/a/b/c", "expected tp/CATEGORY/NAME"),
        ("raw_tp/", "names no tracepoint"),
        ("fentry/", "names no function"),
        ("syscall", "not attached"),
        ("usdt/x", "usdt"),
        ("iter/task", "not attached automatically"),
        ("cgroup/skb", "which cgroup hook"),
        ("tc", "not attached automatically"),
        ("my_section", "unknown section name"),
    ])
    func manual(_ section: String, _ reason: String) {
        guard case .manual(let text) = AutoAttach(section: section) else {
            Issue.record("\(section) should not attach automatically: \(AutoAttach(section: section))")
            return
        }
        #expect(text.contains(reason), "\(section): \(text)")
    }

    @Test("what XDP, TC and cgroup attachments need")
    func needs() {
        #expect(AutoAttach.xdp.needs == "a network interface")
        #expect(AutoAttach.tcx(.egress).needs == "a network interface")
        #expect(AutoAttach.cgroup(.cgroupInetIngress).needs == "a cgroup")
        #expect(AutoAttach.rawTracepoint("sys_enter").needs == nil)
    }
}

@Suite(.requires(Kernel.bpf))
struct AutoAttachKernelTests {
    @Test("attachAll attaches trace_getppid.o's tracepoint, which counts, records and prints our getppid calls")
    func traceGetppid() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/trace_getppid.o"))
        let loaded = try KernelObject(object)
        let ring = try RingBuffer(map: try #require(loaded.map(named: "events")))
        defer { ring.close() }
        var results = loaded.attachAll()
        #expect(results.count == 1)
        let result = try #require(results.first)
        #expect(result.program == "count_getppid")
        #expect(result.section == "tracepoint/syscalls/sys_enter_getppid")
        let link = try #require(result.link, "\(result.outcome)")
        #expect(link.target == "tracepoint syscalls:sys_enter_getppid")

        for _ in 0..<5 { _ = getppid() }
        #expect(try link.info().tracepoint == "sys_enter_getppid")
        results.removeAll()
        link.close()   // the last reference: detached
        for _ in 0..<3 { _ = getppid() }   // not counted any more

        let me = UInt32(getpid())
        let mine = try #require(try loaded.map(named: "calls")!.lookup(key: me, as: UInt64.self))
        #expect(mine >= 5 && mine < 8, "calls[\(me)] = \(mine)")
        #expect(try loaded.map(named: "total")!.lookup(key: UInt32(0), as: UInt64.self) ?? 0 >= mine)
        var counts: [UInt64] = []
        _ = ring.consume { bytes in
            guard bytes.count == 32, bytes.load(as: UInt32.self) == me else { return }
            counts.append(bytes.load(fromByteOffset: 8, as: UInt64.self))
        }
        #expect(counts.count == Int(mine))
        #expect(counts == Array(1...mine))
    }

    @Test("attachAll skips XDP programs without an interface, saying so")
    func skipsWithoutInterface() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/xdp_packets.o"))
        try cancelUnlessTheKernelOffersTheirHelpers(object)
        let loaded = try KernelObject(object)
        let results = loaded.attachAll()
        #expect(!results.isEmpty)
        for result in results {
            guard case .skipped(let reason) = result.outcome else {
                Issue.record("\(result.program) (\(result.section)): \(result.outcome)")
                continue
            }
            #expect(reason.contains("needs a network interface"), "\(reason)")
        }
        var options = AutoAttachOptions()
        options.programs = ["xdp_filter"]
        #expect(loaded.attachAll(options).map(\.program) == ["xdp_filter"])
    }
}
