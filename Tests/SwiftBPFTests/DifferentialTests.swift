import BPFLinux
import BPFObject
import BPFRuntime
import BPFTestSupport
import Foundation
import SwiftBPF
import Testing

/// Whether the kernel backend can be used here, decided once: tests that need it are skipped, with
/// the reason, where it cannot.
enum KernelBackend {
    static let bpf: Availability = {
        if let error = BPFSyscall.probe() { return .missing("bpf() is not usable here (needs Linux and root or CAP_BPF): \(error)") }
        return .available
    }()
}

/// The sample capture's packets, beside the shared frames.
extension Frames {
    static func sample() throws -> [[UInt8]] {
        try PacketCapture(bytes: TestPaths.bytes("Examples/xdp-counter/sample.pcap")).packets.map(\.data)
    }
}

/// One differential case: a program of a fixture and the inputs it runs on, in order.
struct DifferentialCase: CustomTestStringConvertible, Sendable {
    var fixture: String
    var program: String
    var inputs: [(packet: [UInt8], context: [UInt8]?)]
    /// BPF_PROG_TEST_RUN's repeat for every input: the repetitions share one packet and context,
    /// so a program that changes its packet sees its own changes.
    var repetitions = 1
    /// Maps not compared: global data holding list heads and rbtree roots, whose bytes are the
    /// kernel's pointers in the kernel and the runtime's collection ids in the runtime, and values
    /// holding timers (user space reads the kernel's as zeros, the runtime's as its state words).
    var ignoredMaps: Set<String> = []
    var testDescription: String { "\(fixture)/\(program)" + (repetitions > 1 ? " ×\(repetitions)" : "") }

    static func packets(_ fixture: String, _ program: String, _ packets: [[UInt8]]) -> DifferentialCase {
        DifferentialCase(fixture: fixture, program: program, inputs: packets.map { ($0, nil) })
    }

    static func repeated(_ fixture: String, _ program: String, _ packets: [[UInt8]], _ repetitions: Int) -> DifferentialCase {
        DifferentialCase(fixture: fixture, program: program, inputs: packets.map { ($0, nil) }, repetitions: repetitions)
    }

    /// A program of `graph_objects.c`: its lists' and rbtrees' global data is not compared.
    static func graph(_ program: String, _ packets: [[UInt8]], _ repetitions: Int) -> DifferentialCase {
        DifferentialCase(fixture: "graph_objects", program: program, inputs: packets.map { ($0, nil) }, repetitions: repetitions,
                         ignoredMaps: [".bss.L", ".bss.T", ".bss.R"])
    }

    static func contexts(_ fixture: String, _ program: String, _ contexts: [[UInt8]?]) -> DifferentialCase {
        DifferentialCase(fixture: fixture, program: program, inputs: contexts.map { ([], $0) })
    }
}

/// Every fixture program that runs on both backends gives the same return values, output packets
/// (and contexts, where one is given) and map contents for the same inputs.
@Suite(.requires(KernelBackend.bpf))
struct DifferentialTests {
    static let version = withUnsafeBytes(of: UInt32(0x060c00).littleEndian) { Array($0) }

    static let cases: [DifferentialCase] = {
        let tcp54 = Frames.ipv4(length: 54), udp42 = Frames.ipv4(length: 42, proto: 17)
        var ipv6 = tcp54
        ipv6[12] = 0x86; ipv6[13] = 0xdd
        let sample = (try? Frames.sample()) ?? []
        var rawTP = [UInt8](repeating: 0, count: 16)
        rawTP[8] = 59
        // A UDP datagram with IP and UDP checksums set, for the checksum helpers.
        var udp = Frames.ipv4(length: 60, proto: 17)
        udp[24] = 0x9a; udp[25] = 0x3c; udp[40] = 0x12; udp[41] = 0x34
        // Longer than the first page: the kernel's XDP program sees 3520 bytes, the rest in fragments.
        var big = Frames.ipv4(length: 5000, proto: 17)
        for i in 34..<5000 { big[i] = UInt8(truncatingIfNeeded: i &* 7) }
        var udpNoChecksum = udp
        udpNoChecksum[40] = 0; udpNoChecksum[41] = 0
        return [
            .packets("maps_hash_array", "count_by_proto", [tcp54, udp42, Frames.arp]),
            .packets("global_data", "global_update", [Frames.ipv4(length: 60), Frames.ipv4(length: 60)]),
            .packets("subprograms", "sub_xdp", [Frames.ipv4(length: 100), Frames.ipv4(length: 2000)]),
            .packets("subprograms", "sub_tc", [Frames.ipv4(length: 100)]),
            .packets("tail_calls", "tail_entry", [Frames.ipv4(length: 60)]),
            .packets("tail_calls", "tail_missing", [Frames.ipv4(length: 60)]),
            .packets("tail_calls", "tail_stage2", [Frames.ipv4(length: 60)]),
            .packets("tc_skb", "tc_mark", [tcp54]),
            .packets("tc_skb", "tc_pad", [Frames.arp]),
            .packets("tc_skb", "socket_len", [Frames.ipv4(length: 74), Frames.ipv4(length: 1514)]),
            .packets("tc_skb", "cgroup_ingress", [Frames.ipv4(length: 74), Frames.ipv4(length: 1614)]),
            .packets("xdp_packets", "xdp_filter", sample),
            .packets("xdp_packets", "xdp_reshape", [Frames.ipv4(length: 60)]),
            .packets("xdp_packets", "xdp_meta", [Frames.ipv4(length: 60)]),
            // Repetitions build on each other: MACs swapped twice (back to where they were), the head grown and the
            // tail cut three times, a counter stepped five times, a context field written twice.
            .repeated("xdp_packets", "xdp_filter", [Frames.ipv4(length: 60, proto: 1)], 2),
            .repeated("xdp_packets", "xdp_reshape", [Frames.ipv4(length: 60)], 3),
            .repeated("global_data", "global_update", [Frames.ipv4(length: 60)], 5),
            .repeated("tc_skb", "tc_mark", [tcp54], 2),
            .packets("legacy_maps", "legacy_count", [Frames.ipv4(length: 60), Frames.ipv4(length: 130)]),
            .packets("helpers_misc", "misc_csum", [Frames.ipv4(length: 60)]),
            .packets("helpers_misc", "misc_printk", [Frames.ipv4(length: 60)]),
            .contexts("helpers_misc", "misc_snprintf", [nil]),
            .contexts("helpers_misc", "misc_strings", [nil]),
            .contexts("helpers_misc", "misc_loop", [nil]),
            .contexts("helpers_misc", "misc_spin_lock", [nil, nil]),
            .packets("contexts", "socket_cb", [Frames.ipv4(length: 74, destination: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]),
            .packets("contexts", "socket_ldabs", [Frames.ipv4(length: 74, proto: 17)]),
            .packets("contexts", "cg_fields", [Frames.ipv4(length: 74)]),
            .contexts("contexts", "sys_double", [[20, 0, 0, 0, 0, 0, 0, 0]]),
            .packets("maps_all", "maps_lpm", [Frames.ipv4(length: 60)]),
            .packets("maps_all", "maps_queue_stack", [Frames.ipv4(length: 60)]),
            .packets("maps_all", "maps_in_maps", [Frames.ipv4(length: 60)]),
            .packets("maps_all", "maps_tail_entry", [Frames.ipv4(length: 60)]),
            .packets("maps_all", "maps_percpu_lru", [Frames.ipv4(length: 60), Frames.ipv4(length: 60)]),
            .contexts("tracing", "syscall_prog", [nil]),
            .contexts("tracing", "raw_tp_enter", [rawTP]),
            .packets("net_helpers", "tc_nat", [udp, udpNoChecksum, tcp54]),
            .packets("net_helpers", "tc_redirect", [tcp54]),
            .packets("net_helpers", "tc_vlan", [tcp54]),
            .packets("net_helpers", "tc_room", [tcp54, udp42]),
            .packets("net_helpers", "tc_type", [tcp54]),
            .packets("net_helpers", "tc_sk_lookup", [tcp54]),
            .packets("net_helpers", "xdp_tx_port", [tcp54]),
            .packets("net_helpers", "tc_mtu", [tcp54]),
            .packets("net_helpers", "xdp_mtu", [tcp54]),
            .packets("net_helpers", "tc_tunnel", [tcp54]),
            .packets("net_helpers", "xdp_bytes", [tcp54]),
            .packets("legacy_map_in_map", "count_inner", [tcp54]),
            .packets("net_helpers", "xdp_frags", [tcp54, big, Frames.ipv4(length: 3520), Frames.ipv4(length: 3521)]),
            .packets("xdp_packets", "xdp_filter", [big]),
            // Loops bounded by may_goto (can_loop, cond_break): data-dependent, nested, and one that
            // runs until the budget is spent (the kernel's x86-64 JIT renews it for ~250 ms).
            .packets("may_goto", "mg_scan", [tcp54, [UInt8](repeating: 0xff, count: 40), Frames.arp]),
            .packets("may_goto", "mg_collatz", [tcp54, udp42, Frames.ipv4(length: 60, proto: 1)]),
            .packets("may_goto", "mg_nested", [tcp54]),
            .packets("may_goto", "mg_budget", [tcp54]),
            .packets("may_goto", "mg_callback", [tcp54]),
            // Dynptrs over a map value and ringbuf records (the count of records submitted is compared).
            .packets("dynptrs", "dp_local", [Frames.ipv4(length: 60)]),
            .packets("dynptrs", "dp_bounds", [Frames.ipv4(length: 60)]),
            .packets("dynptrs", "dp_ringbuf", [Frames.ipv4(length: 60), tcp54]),
            .packets("dynptrs", "dp_discard", [tcp54]),
            // kfuncs the runtime implements: number iterators, RCU sections, dynptr kfuncs.
            .packets("kfuncs", "kf_iter_sum", [tcp54]),
            .packets("kfuncs", "kf_nested", [tcp54]),
            .packets("kfuncs", "kf_dynptr", [tcp54]),
            // Exceptions: the default callback (the cookie), a program's own callback, side effects before a throw.
            .packets("exceptions", "ex_default", [tcp54, udp42]),
            .packets("exceptions", "ex_callback", [tcp54, udp42]),
            .packets("exceptions", "ex_effects", [tcp54, udp42]),
            // Allocated objects in lists, rbtrees (the shape the kernel's balancing gives), refcounts, kptrs.
            .graph("gr_list", [tcp54], 3),
            .graph("gr_rbtree", [tcp54], 3),
            .graph("gr_refcount", [tcp54], 1),
            .graph("gr_kptr", [tcp54], 2),
            // Dynptrs over the packet (xdp, skb), bpf_skb_set_tstamp.
            .packets("packet_dynptrs", "pd_xdp", [tcp54, udp42]),
            .packets("packet_dynptrs", "pd_skb", [tcp54, udp42]),
            // Timers: init, set_callback, start, cancel and their errors (a second input finds
            // the timer initialized).
            DifferentialCase(fixture: "timers", program: "tm_states", inputs: [(tcp54, nil), (udp42, nil)], ignoredMaps: ["timers"]),
            // What TC programs ask of the kernel: a dead r10 write, tail calls 33 deep from subprograms,
            // bpf_rdonly_cast, bpf_cast_to_kern_ctx not reached (IPv4), no crypto context.
            .packets("kernel_context", "kc_dead_r10", [tcp54]),
            .packets("kernel_context", "kc_tail_depth", [tcp54]),
            .repeated("kernel_context", "kc_tail_depth", [tcp54], 2),
            .packets("kernel_context", "kc_rdonly_cast", [tcp54, udp42]),
            .packets("kernel_context", "kc_kern_ctx", [tcp54, ipv6]),
            .packets("kernel_context", "kc_kern_skb", [tcp54, ipv6]),
            .packets("kernel_context", "kc_crypto", [tcp54]),
            .packets("kernel_context", "kc_cgroup", [tcp54]),
            // Raw SYN cookies (made and checked on each backend: the keys differ, the results not),
            // a read through a socket cast no BTF types.
            .packets("net_kfuncs", "nk_syncookie", [tcp54]),
            .packets("net_kfuncs", "nk_skc_read", [tcp54]),
        ]
    }()

    @Test(arguments: cases)
    func sameResultsOnBothBackends(_ c: DifferentialCase) throws {
        try Self.compare(c)
    }

    /// Whether the running kernel has kfunc `name` (in vmlinux or a module's BTF).
    static func kernelHas(_ name: String) -> Bool {
        guard let vmlinux = try? KernelBTF.vmlinux() else { return false }
        if vmlinux.typeID(named: name, kind: .function) != nil { return true }
        return (try? KernelBTF.module(declaring: name, kind: .function)) != nil
    }

    /// The conntrack kfuncs exist only in kernels built with nf_conntrack (and its BTF).
    @Test(.enabled(if: kernelHas("bpf_xdp_ct_lookup") && kernelHas("bpf_skb_ct_lookup"),
                   "the kernel has no conntrack kfuncs (bpf_xdp_ct_lookup: CONFIG_NF_CONNTRACK with BTF)"),
          arguments: [DifferentialCase.packets("net_kfuncs", "nk_ct_xdp", [Frames.ipv4(length: 54)]),
                      .packets("net_kfuncs", "nk_ct_tc", [Frames.ipv4(length: 54)])])
    func conntrackKfuncs(_ c: DifferentialCase) throws {
        try Self.compare(c)
    }

    @Test(.enabled(if: kernelHas("bpf_sk_assign_tcp_reqsk"), "the kernel has no bpf_sk_assign_tcp_reqsk (Linux 6.9+, CONFIG_SYN_COOKIES)"))
    func assignRequestSocket() throws {
        try Self.compare(.packets("net_kfuncs", "nk_reqsk", [Frames.ipv4(length: 54)]))
    }

    @Test(.enabled(if: kernelHas("bpf_kfunc_call_test_release"), "the kernel has no test-run kfuncs (bpf_kfunc_call_test_release)"))
    func testRunRelease() throws {
        try Self.compare(.packets("net_kfuncs", "nk_test_ref", [Frames.ipv4(length: 54)]))
    }

    static func compare(_ c: DifferentialCase) throws {
        let object = try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/\(c.fixture).o"))
        let kconfig = ["LINUX_KERNEL_VERSION": Self.version]
        try cancelUnlessTheKernelOffersTheirHelpers(object, programs: [c.program])
        let runtime = try BPFCollection(object, backend: .runtime, programs: [c.program], kconfig: kconfig)
        let kernel = try BPFCollection(object, backend: .kernel, programs: [c.program], kconfig: kconfig)
        let r = try #require(runtime.program(named: c.program))
        let k = try #require(kernel.program(named: c.program))
        #expect(!c.inputs.isEmpty)
        for (i, input) in c.inputs.enumerated() {
            let a = try r.testRun(packet: input.packet, context: input.context, repeat: c.repetitions)
            let b = try k.testRun(packet: input.packet, context: input.context, repeat: c.repetitions)
            #expect(UInt32(truncatingIfNeeded: a.returnValue) == UInt32(truncatingIfNeeded: b.returnValue), "input \(i): return value")
            if c.program == "xdp_meta" {
                // Known difference: the kernel's output starts at data_meta (the 4 metadata bytes the
                // program wrote, 0xC0FFEE), the runtime's at data.
                #expect(b.packetOut == [0xee, 0xff, 0xc0, 0x00] + a.packetOut, "input \(i): packet out")
            } else {
                #expect(a.packetOut == b.packetOut, "input \(i): packet out")
            }
            // The kernel returns no context for raw tracepoints; skb programs get a zeroed context on both.
            if (input.context != nil || SKBAccess(k.type) != nil) && k.type != .rawTracepoint {
                #expect(a.contextOut == b.contextOut, "input \(i): context out")
            }
        }
        for map in runtime.maps where !c.ignoredMaps.contains(map.name) {
            guard let other = kernel.map(named: map.name) else {
                Issue.record("map \(map.name) is missing from the kernel backend")
                continue
            }
            let (left, right) = (try MapContents(map), try MapContents(other))
            #expect(left == right, "map \(map.name)")
        }
    }
}

/// A map's contents in a form that compares across backends: entries sorted by key; per-CPU values
/// summed over the CPUs; queues and stacks by their values in pop order (the map is emptied); maps
/// whose values are ids (program arrays, maps of maps) by their keys alone; ring buffers, perf event
/// arrays and bloom filters not at all (user space cannot list them through the map API).
struct MapContents: Equatable {
    var entries: [[UInt8]: [UInt8]] = [:]
    var sequence: [[UInt8]] = []

    init(_ map: AnyBPFMap) throws {
        switch map.spec.type {
        case .ringBuffer, .perfEventArray, .bloomFilter, .userRingBuffer:
            return
        case .queue, .stack:
            while let value = try map.pop() { sequence.append(value) }
        case .programArray, .arrayOfMaps, .hashOfMaps:
            for key in try map.keys() { entries[key] = [] }
        default:
            for (key, value) in try map.entries() {
                if map.spec.type.isPerCPU {
                    let slot = (map.spec.valueSize + 7) & ~7
                    var sum: UInt64 = 0
                    for cpu in 0..<(value.count / slot) {
                        for (i, byte) in value[(cpu * slot)..<(cpu * slot + min(map.spec.valueSize, 8))].enumerated() {
                            sum &+= UInt64(byte) << (8 * UInt64(i))
                        }
                    }
                    entries[key] = withUnsafeBytes(of: sum) { Array($0) }
                } else {
                    entries[key] = value
                }
            }
        }
    }
}
