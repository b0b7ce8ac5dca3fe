import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// struct_ops against the running kernel: a TCP congestion control written in BPF
/// (Tests/Fixtures/bpf/kernel/tcp_cc.c) loaded, registered, selected on a loopback TCP connection with
/// `TCP_CONGESTION` and seen to run, then unregistered; the `.struct_ops.link` form; bad maps refused.
@Suite(.requires(Kernel.bpf), .serialized)
struct KernelStructOpsTests {
    static func object(_ name: String) throws -> ObjectFile {
        try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/kernel/\(name).o"))
    }

    /// The kernel registers TCP congestion controls from BPF: its BTF has the struct_ops value type.
    static let tcpCongestionOps: Availability = {
        guard let btf = try? KernelBTF.vmlinux() else { return .missing("the kernel has no readable BTF at \(KernelBTF.vmlinuxPath)") }
        return Availability(btf.typeID(named: "bpf_struct_ops_tcp_congestion_ops", kind: .structure) != nil,
                            else: "the kernel's BTF has no struct bpf_struct_ops_tcp_congestion_ops: it does not register TCP congestion controls written in BPF")
    }()

    /// The kernel has sched_ext (`CONFIG_SCHED_CLASS_EXT`): its BTF has `struct bpf_struct_ops_sched_ext_ops`.
    static let schedExt: Availability = {
        guard let btf = try? KernelBTF.vmlinux() else { return .missing("the kernel has no readable BTF at \(KernelBTF.vmlinuxPath)") }
        return Availability(btf.typeID(named: "bpf_struct_ops_sched_ext_ops", kind: .structure) != nil,
                            else: "this kernel has no sched_ext: no struct bpf_struct_ops_sched_ext_ops in its BTF (CONFIG_SCHED_CLASS_EXT is off)")
    }()

    static let availablePath = "/proc/sys/net/ipv4/tcp_available_congestion_control"

    /// The congestion controls the kernel lists as available.
    static func availableAlgorithms() -> Set<String> {
        let text = (try? String(contentsOfFile: availablePath, encoding: .utf8)) ?? ""
        return Set(text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init))
    }

    /// Waits up to a second for `name` to be listed (or not).
    static func waitUntil(_ name: String, listed: Bool) -> Bool {
        for _ in 0..<100 {
            if availableAlgorithms().contains(name) == listed { return true }
            usleep(10_000)
        }
        return false
    }

    /// A `__u64` global of `.bss`, read from the loaded map.
    static func counter(_ name: String, in loaded: KernelObject) throws -> UInt64 {
        let variable = try #require(loaded.object.global(named: name))
        let bss = try #require(loaded.map(named: variable.section))
        let value = try #require(try bss.lookup(key: [0, 0, 0, 0]))
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(value[variable.offset + $1]) << (8 * $1) }
    }

    @Test(.requires(KernelStructOpsTests.tcpCongestionOps))
    func bpfCongestionControlIsRegisteredSelectedOnASocketAndUnregistered() throws {
        try KernelLocks.tcpCongestionControl.withLock { _ in try registeredSelectedAndUnregistered() }
    }

    func registeredSelectedAndUnregistered() throws {
        let loaded = try KernelObject(try Self.object("tcp_cc"))
        let layout = try #require(loaded.structOpsLayouts["swiftbpf_cc"])
        #expect(loaded.map(named: "swiftbpf_cc")?.valueSize == layout.value.count, "the map takes the kernel's value type")
        #expect(!Self.availableAlgorithms().contains("swiftbpf_cc"), "not registered before registerStructOps")

        let registration = try loaded.registerStructOps("swiftbpf_cc")
        #expect(registration.kind == .structOpsMap)
        #expect(Self.availableAlgorithms().contains("swiftbpf_cc"), "listed in \(Self.availablePath)")

        let bytes = 4 << 20
        let transfer = try LoopbackTCP.transfer(congestionControl: "swiftbpf_cc", bytes: bytes)
        #expect(transfer.algorithm == "swiftbpf_cc", "the socket runs the BPF congestion control")
        #expect(transfer.received == bytes)
        #expect(try Self.counter("init_calls", in: loaded) >= 1, "the kernel called the BPF init")
        #expect(try Self.counter("cong_avoid_calls", in: loaded) >= 1, "the kernel called the BPF cong_avoid on ACKs")

        registration.close()
        #expect(Self.waitUntil("swiftbpf_cc", listed: false), "unregistered on release")
        #expect(throws: BPFError.self) { _ = try LoopbackTCP.transfer(congestionControl: "swiftbpf_cc", bytes: 1) }
    }

    @Test(.requires(KernelStructOpsTests.tcpCongestionOps))
    func structOpsLinkRegistersUntilClosed() throws {
        try KernelLocks.tcpCongestionControl.withLock { _ in try linkRegistersUntilClosed() }
    }

    func linkRegistersUntilClosed() throws {
        let loaded = try KernelObject(try Self.object("tcp_cc"))
        let link = try loaded.registerStructOps("swiftbpf_cc_link")
        #expect(link.kind == .bpfLink)
        #expect(try link.info().type == .structOps)
        #expect(Self.availableAlgorithms().contains("swiftbpf_link"), "map swiftbpf_cc_link registers algorithm swiftbpf_link")
        let transfer = try LoopbackTCP.transfer(congestionControl: "swiftbpf_link", bytes: 1 << 16)
        #expect(transfer.algorithm == "swiftbpf_link")
        link.close()
        #expect(Self.waitUntil("swiftbpf_link", listed: false), "unregistered when its link is closed")
    }

    @Test(.requires(KernelStructOpsTests.tcpCongestionOps))
    func unknownMapAndBadMapsAreRefusedNamingThem() throws {
        let loaded = try KernelObject(try Self.object("tcp_cc"))
        let unknown = #expect(throws: BPFError.self) { _ = try loaded.registerStructOps("no_such_map") }
        #expect(unknown?.message.contains("swiftbpf_cc, swiftbpf_cc_link") == true)
        let bad = #expect(throws: BPFError.self) { _ = try KernelObject(try Self.object("struct_ops_bad")) }
        #expect(bad?.message.contains("struct_ops map 'wrong_type'") == true)
        #expect(bad?.message.contains("member 'ssthresh'") == true)
        #expect(bad?.message.contains("wrong type") == true)
    }

    @Test(.requires(KernelStructOpsTests.schedExt))
    func schedExtOpsHasTheCallbacksASchedulerImplements() throws {
        let kernel = try KernelBTF.vmlinux()
        for member in ["select_cpu", "enqueue", "dispatch", "init", "exit"] {
            #expect(kernel.structOpsPrototype(type: "sched_ext_ops", member: member) != nil, "sched_ext_ops.\(member)")
        }
    }
}

/// A TCP connection over loopback whose client selects a congestion control (`TCP_CONGESTION`).
enum LoopbackTCP {
    /// `TCP_CONGESTION` from <netinet/tcp.h>.
    static let tcpCongestion: Int32 = 13

    final class Count: @unchecked Sendable { var value = 0 }

    /// Sends `bytes` bytes from a client that selected `congestionControl` to a server on 127.0.0.1;
    /// returns the algorithm the client socket reports afterwards and what the server received.
    static func transfer(congestionControl: String, bytes: Int) throws(BPFError) -> (algorithm: String, received: Int) {
        func fail(_ what: String) -> BPFError {
            BPFError(command: nil, errno: BPFLinux.Errno(rawValue: errno), message: "loopback TCP: \(what)")
        }
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw fail("socket") }
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        _ = inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutableBytes(of: &address) { raw in
            let sa = raw.baseAddress!.assumingMemoryBound(to: sockaddr.self)
            return Glibc.bind(listener, sa, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, sa, &length) == 0
        }
        guard bound else { throw fail("bind/listen on 127.0.0.1") }
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard client >= 0 else { throw fail("socket") }
        defer { close(client) }
        let set = congestionControl.withCString { setsockopt(client, Int32(IPPROTO_TCP), tcpCongestion, $0, socklen_t(strlen($0))) }
        guard set == 0 else { throw fail("setsockopt(TCP_CONGESTION, \"\(congestionControl)\")") }
        let connected = withUnsafeBytes(of: address) { raw in
            connect(client, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_in>.size))
        }
        guard connected == 0 else { throw fail("connect") }
        let server = accept(listener, nil, nil)
        guard server >= 0 else { throw fail("accept") }
        defer { close(server) }

        let received = Count()
        let done = DispatchSemaphore(value: 0)
        Thread {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            var total = 0
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(server, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                total += n
            }
            received.value = total
            done.signal()
        }.start()
        let chunk = [UInt8](repeating: 0x5a, count: 1 << 16)
        var sent = 0
        while sent < bytes {
            let n = chunk.withUnsafeBytes { send(client, $0.baseAddress, min($0.count, bytes - sent), 0) }
            guard n > 0 else { break }
            sent += n
        }
        shutdown(client, Int32(SHUT_WR))
        guard done.wait(timeout: .now() + 30) == .success else { throw fail("the server did not receive everything in 30 s") }
        var name = [CChar](repeating: 0, count: 16)
        var nameLength = socklen_t(name.count)
        guard getsockopt(client, Int32(IPPROTO_TCP), tcpCongestion, &name, &nameLength) == 0 else { throw fail("getsockopt(TCP_CONGESTION)") }
        let algorithm = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return (algorithm, received.value)
    }
}
