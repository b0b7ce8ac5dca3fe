import BPFCore
import BPFLinux
import BPFObject
import Foundation
import Testing

/// A veth pair: `outside` in this network namespace (10.213.N.1), `inside` in a namespace the test
/// creates (10.213.N.2). Made with `ip`; removed (with the namespace) on `remove()`.
struct VethPair {
    let namespace: String
    let outside: String
    let inside: String
    let outsideAddress: String
    let insideAddress: String
    static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func make(tag: Int) throws(TestSkip) -> VethPair {
        guard let ip else { throw TestSkip("the `ip` command is not installed") }
        let id = Int(getpid()) % 10000
        let pair = VethPair(namespace: "swiftbpf-\(id)-\(tag)", outside: "sbpf\(id)o\(tag)", inside: "sbpf\(id)i\(tag)",
                            outsideAddress: "10.213.\(tag).1", insideAddress: "10.213.\(tag).2")
        let steps: [[String]] = [
            ["netns", "add", pair.namespace],
            ["link", "add", pair.outside, "type", "veth", "peer", "name", pair.inside],
            ["link", "set", pair.inside, "netns", pair.namespace],
            ["addr", "add", pair.outsideAddress + "/24", "dev", pair.outside],
            ["link", "set", pair.outside, "up"],
            ["-n", pair.namespace, "addr", "add", pair.insideAddress + "/24", "dev", pair.inside],
            ["-n", pair.namespace, "link", "set", pair.inside, "up"],
            ["-n", pair.namespace, "link", "set", "lo", "up"],
        ]
        for step in steps where run(ip, step) != 0 {
            pair.remove()
            throw TestSkip("`ip \(step.joined(separator: " "))` failed (needs root and veth/netns support)")
        }
        return pair
    }

    func remove() {
        guard let ip = Self.ip else { return }
        run(ip, ["link", "del", outside])
        run(ip, ["netns", "del", namespace])
    }

    /// Sends `count` UDP datagrams from inside the namespace to `outsideAddress:port`.
    func sendFromInside(port: Int, count: Int) throws -> Int32 {
        guard let ip = Self.ip else { return -1 }
        return run(ip, ["netns", "exec", namespace, try TracedChild.binary.get(), "send", outsideAddress, String(port), String(count)])
    }
}

/// A non-blocking UDP socket bound to `address:port`, counting what arrives.
final class UDPReceiver {
    let fd: Int32

    init(address: String, port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        let bound = Self.bind(fd, address: address, port: port)
        guard fd >= 0, bound == 0 else { throw TestSkip("cannot bind UDP \(address):\(port): errno \(errno)") }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    static func bind(_ fd: Int32, address: String, port: Int) -> Int32 {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        _ = inet_pton(AF_INET, address, &addr.sin_addr)
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafeBytes(of: addr) { raw in
            Glibc.bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), size)
        }
    }

    /// Datagrams waiting now.
    func drain() -> Int {
        var n = 0
        var buffer = [UInt8](repeating: 0, count: 2048)
        while buffer.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) >= 0 { n += 1 }
        return n
    }

    deinit { close(fd) }
}

/// Packet attachments against the running kernel: socket filters, XDP and tcx on a veth pair in a
/// network namespace the test creates. Skipped with the reason printed where bpf() or `ip` is missing.
@Suite(.serialized, .enabled(if: Kernel.available, "bpf() is not usable here (needs Linux and root or CAP_BPF)"))
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
            mov %r2, 0
            stxw [%r10-4], %r2
            lddw %r1, MAP0
            mov %r2, %r10
            add %r2, -4
            call 1
            jeq %r0, 0, hit
            mov %r1, 1
            lock add [%r0+0], %r1
        hit:
            mov %r0, \(hit)
            exit
        miss:
            mov %r0, \(miss)
            exit
        """
    }

    func countMap(_ name: String) throws -> KernelMap {
        try KernelMap(MapSpec(name: name, type: .array, keySize: 4, valueSize: 8, maxEntries: 1))
    }

    @Test func socketFilterDropsUntilDetached() throws {
        let map = try countMap("sf_counts")
        // Count every datagram and drop it (a socket filter returns the bytes to keep).
        let program = try KernelProgram.load(type: .socketFilter, instructions: assemble("""
            mov %r2, 0
            stxw [%r10-4], %r2
            lddw %r1, MAP0
            mov %r2, %r10
            add %r2, -4
            call 1
            jeq %r0, 0, out
            mov %r1, 1
            lock add [%r0+0], %r1
            out:
            mov %r0, 0
            exit
            """, maps: [map]), name: "sf_drop")
        let (sender, receiver) = try #require(datagramSocketPair())
        defer { close(sender); close(receiver) }
        let link = try program.attachSocketFilter(socket: receiver)
        #expect(sendAndReceive(4, from: sender, to: receiver) == 0)
        #expect(try map.lookup(key: UInt32(0), as: UInt64.self) == 4)
        link.close()
        #expect(sendAndReceive(3, from: sender, to: receiver) == 3)
        #expect(try map.lookup(key: UInt32(0), as: UInt64.self) == 4)
    }

    @Test func xdpOnAVethCountsAndDropsUDP() throws {
        guard case .success = TracedChild.binary else { return skipped("XDP veth test", "\(TracedChild.binary)") }
        let pair: VethPair
        do { pair = try VethPair.make(tag: 1) } catch { return skipped("XDP veth test", error.description) }
        defer { pair.remove() }
        let map = try countMap("xdp_udp")
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

    @Test func tcxIngressCountsAndPasses() throws {
        guard case .success = TracedChild.binary else { return skipped("tcx test", "\(TracedChild.binary)") }
        let pair: VethPair
        do { pair = try VethPair.make(tag: 2) } catch { return skipped("tcx test", error.description) }
        defer { pair.remove() }
        let map = try countMap("tcx_udp")
        // TCX_PASS (0) for UDP after counting; TCX_NEXT (-1) otherwise.
        let program = try KernelProgram.load(type: .schedCls, instructions: assemble(Self.udpCounter(dataOffset: 76, endOffset: 80, hit: 0, miss: -1), maps: [map]),
                                             expectedAttachType: .tcxIngress, name: "tcx_udp")
        let receiver = try UDPReceiver(address: pair.outsideAddress, port: 9998)
        let link: KernelLink
        do { link = try program.attachTCX(to: NetworkInterface(named: pair.outside), direction: .ingress) } catch {
            return skipped("tcx test", "this kernel has no tcx (6.6+): " + (try skipReason(error, [.EINVAL])))
        }
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

    @Test func cgroupSkbLinkCountsEgress() throws {
        guard let root = Cgroup.unifiedMountPoint() else { return skipped("cgroup test", "no cgroup2 mount") }
        let map = try countMap("cg_counts")
        let program = try KernelProgram.load(type: .cgroupSkb, instructions: assemble("""
            mov %r2, 0
            stxw [%r10-4], %r2
            lddw %r1, MAP0
            mov %r2, %r10
            add %r2, -4
            call 1
            jeq %r0, 0, out
            mov %r1, 1
            lock add [%r0+0], %r1
            out:
            mov %r0, 1
            exit
            """, maps: [map]), expectedAttachType: .cgroupInetEgress, name: "cg_egress")
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
