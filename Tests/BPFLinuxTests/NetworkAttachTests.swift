import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// Packet attachments against the running kernel: socket filters, XDP and tcx on a veth pair in a
/// network namespace the test creates. Skipped, with the reason, where bpf() is not usable, no veth pair
/// can be made, or the kernel does not attach the kind (tcx) or has no cgroup v2.
@Suite(.serialized, .requires(Kernel.bpf))
struct NetworkAttachTests {
    /// Counts IPv4 UDP packets into slot 0 of MAP0 and returns `hit`; everything else gets `miss`.
    /// `dataOffset`/`endOffset` locate data and data_end in the context (XDP: 0/4, __sk_buff: 76/80).
    static func udpCounter(dataOffset: Int, endOffset: Int, hit: Int, miss: Int) -> String {
        """
            ldxw %r2, [%r1+\(dataOffset)]
            ldxw %r3, [%r1+\(endOffset)]
            mov %r4, %r2
            add %r4, 34
            jgt %r4, %r3, miss
            ldxh %r5, [%r2+12]
            jne %r5, 8, miss
            ldxb %r5, [%r2+23]
            jne %r5, 17, miss
        """ + "\n" + slotCounterSource(verdict: hit) + "\n" + """
        miss:
            mov %r0, \(miss)
            exit
        """
    }

    @Test func socketFilterDropsUntilDetached() throws {
        let map = try counterMap("sf_counts")
        // Count every datagram and drop it (a socket filter returns the bytes to keep).
        let program = try KernelProgram.load(type: .socketFilter, instructions: assemble(slotCounterSource(verdict: 0), maps: [map]),
                                             name: "sf_drop")
        let (sender, receiver) = try #require(datagramSocketPair())
        defer { close(sender); close(receiver) }
        let link = try program.attachSocketFilter(socket: receiver)
        #expect(sendAndReceive(4, from: sender, to: receiver) == 0)
        #expect(try map.lookup(key: UInt32(0), as: UInt64.self) == 4)
        link.close()
        #expect(sendAndReceive(3, from: sender, to: receiver) == 3)
        #expect(try map.lookup(key: UInt32(0), as: UInt64.self) == 4)
    }

    @Test(.requires(TracedChild.built), .requires(VethPair.available))
    func xdpOnAVethCountsAndDropsUDP() throws {
        try VethPair.with(tag: 1) { pair in try xdpCountsAndDropsUDP(pair) }
    }

    func xdpCountsAndDropsUDP(_ pair: VethPair) throws {
        let map = try counterMap("xdp_udp")
        let program = try KernelProgram.load(type: .xdp, instructions: assemble(Self.udpCounter(dataOffset: 0, endOffset: 4, hit: 1, miss: 2), maps: [map]),
                                             expectedAttachType: .xdp, name: "xdp_udp_drop")
        let receiver = try UDPReceiver(address: pair.outsideAddress, port: 9999)
        let interface = try NetworkInterface(named: pair.outside)
        let link = try program.attachXDP(to: interface, mode: .generic)
        let info = try link.info()
        #expect(info.type == .xdp)
        #expect(info.ifindex == interface.index)

        #expect(try pair.sendFromInside(port: 9999, count: 5) == 0)
        #expect(try map.lookup(key: UInt32(0), as: UInt64.self) == 5)
        #expect(receiver.drain() == 0)

        link.close()
        #expect(try pair.sendFromInside(port: 9999, count: 3) == 0)
        usleep(50_000)
        #expect(receiver.drain() == 3)
        #expect(try map.lookup(key: UInt32(0), as: UInt64.self) == 5)
    }

    @Test(.requires(Kernel.attaches(.tcx)), .requires(TracedChild.built), .requires(VethPair.available))
    func tcxIngressCountsAndPasses() throws {
        try VethPair.with(tag: 2) { pair in try tcxCountsAndPasses(pair) }
    }

    func tcxCountsAndPasses(_ pair: VethPair) throws {
        let map = try counterMap("tcx_udp")
        // TCX_PASS (0) for UDP after counting; TCX_NEXT (-1) otherwise.
        let program = try KernelProgram.load(type: .schedCls, instructions: assemble(Self.udpCounter(dataOffset: 76, endOffset: 80, hit: 0, miss: -1), maps: [map]),
                                             expectedAttachType: .tcxIngress, name: "tcx_udp")
        let receiver = try UDPReceiver(address: pair.outsideAddress, port: 9998)
        let link = try program.attachTCX(to: NetworkInterface(named: pair.outside), direction: .ingress)
        #expect(try link.info().type == .tcx)
        #expect(try link.info().attachType == .tcxIngress)
        #expect(try pair.sendFromInside(port: 9998, count: 6) == 0)
        usleep(50_000)
        #expect(try map.lookup(key: UInt32(0), as: UInt64.self) == 6)
        #expect(receiver.drain() == 6)
        link.close()
        #expect(try pair.sendFromInside(port: 9998, count: 2) == 0)
        usleep(50_000)
        #expect(try map.lookup(key: UInt32(0), as: UInt64.self) == 6)
        #expect(receiver.drain() == 2)
    }

    @Test(.requires(Kernel.cgroup2))
    func cgroupSkbLinkCountsEgress() throws {
        let root = try #require(Cgroup.unifiedMountPoint())
        let map = try counterMap("cg_counts")
        let program = try KernelProgram.load(type: .cgroupSkb, instructions: assemble(slotCounterSource(verdict: 1), maps: [map]),
                                             expectedAttachType: .cgroupInetEgress, name: "cg_egress")
        // A child cgroup holding nothing: the link attaches and lists, and counts nothing.
        let path = root + "/swiftbpf-test-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        defer { rmdir(path) }
        let cgroup = try Cgroup(path: path)
        let link = try program.attachCgroup(cgroup, attachType: .cgroupInetEgress)
        let info = try link.info()
        #expect(info.type == .cgroup)
        #expect(info.attachType == .cgroupInetEgress)
        #expect(info.cgroupID != nil && info.cgroupID != 0)
        #expect(try map.lookup(key: UInt32(0), as: UInt64.self) == 0)

        // BPF_LINK_UPDATE: swap in another program, only if the expected one is current.
        let other = try KernelProgram.load(type: .cgroupSkb, instructions: Assembler().assemble("mov %r0, 1\nexit"),
                                           expectedAttachType: .cgroupInetEgress, name: "cg_allow")
        try link.update(program: other, expected: program)
        #expect(try link.info().programID == (try other.info().id))
        let stale = #expect(throws: BPFError.self) { try link.update(program: program, expected: program) }
        #expect(stale?.command == .linkUpdate)
        try link.detach()
        #expect(try !KernelObjects.linkIDs().contains(info.id))
    }
}
