import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// A small host program the attach tests trace: it waits for a byte on stdin, then calls getppid(2)
/// and the function `swiftbpf_probed` N times each. Built once per test run with the toolchain's clang.
enum TracedChild {
    static let source = """
        #include <stdio.h>
        #include <stdlib.h>
        #include <unistd.h>
        #include <string.h>
        #include <sys/syscall.h>
        #include <sys/socket.h>
        #include <netinet/in.h>
        #include <arpa/inet.h>
        __attribute__((noinline)) int swiftbpf_probed(int x) { __asm__ volatile("" ::: "memory"); return x * 3 + 1; }
        static int send_udp(const char *ip, int port, int n) {
            int fd = socket(AF_INET, SOCK_DGRAM, 0);
            if (fd < 0) return 3;
            struct sockaddr_in to;
            memset(&to, 0, sizeof(to));
            to.sin_family = AF_INET;
            to.sin_port = htons(port);
            if (inet_pton(AF_INET, ip, &to.sin_addr) != 1) return 4;
            for (int i = 0; i < n; i++) {
                char payload[16] = "swiftbpf";
                if (sendto(fd, payload, sizeof(payload), 0, (struct sockaddr *)&to, sizeof(to)) < 0) return 5;
                usleep(1000);
            }
            return 0;
        }
        int main(int argc, char **argv) {
            if (argc > 4 && strcmp(argv[1], "send") == 0) return send_udp(argv[2], atoi(argv[3]), atoi(argv[4]));
            int n = argc > 1 ? atoi(argv[1]) : 5;
            char c;
            if (read(0, &c, 1) != 1) return 2;
            int s = 0;
            for (int i = 0; i < n; i++) { syscall(SYS_getppid); s += swiftbpf_probed(i); }
            printf("%d\\n", s);
            return 0;
        }
        """

    static let clangCandidates = [ProcessInfo.processInfo.environment["CLANG"], "/opt/swift/usr/bin/clang", "/usr/bin/clang", "/usr/bin/cc"]

    /// The built binary's path, or why it could not be built.
    static let binary: Result<String, TestSkip> = {
        guard let clang = clangCandidates.compactMap({ $0 }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failure(TestSkip("no host C compiler (clang) to build the traced child"))
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-traced-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let src = dir.appendingPathComponent("child.c"), out = dir.appendingPathComponent("child")
        do { try source.write(to: src, atomically: true, encoding: .utf8) } catch { return .failure(TestSkip("cannot write \(src.path): \(error)")) }
        let status = run(clang, ["-O1", "-g0", src.path, "-o", out.path])
        guard status == 0 else { return .failure(TestSkip("\(clang) could not build the traced child (exit \(status))")) }
        return .success(out.path)
    }()

    /// The child could be built (tests that trace it require this).
    static var built: Availability {
        if case .failure(let why) = binary { return .missing(why.description) }
        return .available
    }

    /// A started child: `go()` lets it run, `wait()` returns its output.
    final class Running {
        let process: Process
        let input = Pipe()
        let output = Pipe()
        var pid: Int32 { process.processIdentifier }

        init(iterations: Int) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: try binary.get())
            process.arguments = [String(iterations)]
            process.standardInput = input
            process.standardOutput = output
            try process.run()
        }

        func go() throws {
            try input.fileHandleForWriting.write(contentsOf: [0x2a])
        }

        func wait() -> (status: Int32, output: String) {
            process.waitUntilExit()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            return (process.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }
}

/// What this machine lacks for a test (a compiler, the `ip` command, veth support); a condition's
/// reason when probed (`TracedChild.built`, `VethPair.available`), a failure when thrown from a test.
struct TestSkip: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a command; its exit status (-1 when it cannot start).
@discardableResult
func run(_ executable: String, _ arguments: [String], quiet: Bool = true) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if quiet {
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
    }
    do { try process.run() } catch { return -1 }
    process.waitUntilExit()
    return process.terminationStatus
}

/// Assembles `source`, replacing `MAP0`, `MAP1`, ... with `lddw ..., map_fd N` of `maps`.
func assemble(_ source: String, maps: [KernelMap] = []) throws -> [Instruction] {
    var text = source
    for (i, map) in maps.enumerated().reversed() {
        text = text.replacingOccurrences(of: "MAP\(i)", with: "map_fd \(map.fd.rawValue)")
    }
    return try Assembler().assemble(text)
}

/// Looks up `slot` of MAP0 (its u32 key at fp-4), leaving the value's address in r0; jumps to
/// `label` when the lookup finds nothing.
func lookupSource(slot: Int = 0, orJumpTo label: String = "out") -> String {
    """
        mov %r2, \(slot)
        stxw [%r10-4], %r2
        lddw %r1, MAP0
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, \(label)
    """
}

/// The program many attach tests share: adds 1 (atomically) to `slot` of MAP0, an array of u64,
/// and returns `verdict`. Its `out` label is where it returns.
func slotCounterSource(slot: Int = 0, verdict: Int) -> String {
    lookupSource(slot: slot) + "\n" + """
        mov %r1, 1
        lock add [%r0+0], %r1
    out:
        mov %r0, \(verdict)
        exit
    """
}

/// The program the counting tests share: if the current tgid equals slot 0 of `map` (an array of
/// two u64), add 1 to slot 1. Returns `verdict`.
func pidCounterSource(verdict: Int = 0) -> String {
    lookupSource(slot: 0) + "\n" + """
        ldxdw %r6, [%r0]
        call 14
        rsh %r0, 32
        jne %r0, %r6, out
    """ + "\n" + slotCounterSource(slot: 1, verdict: verdict)
}

/// An array map of `slots` u64 counters, all 0.
func counterMap(_ name: String, slots: Int = 1) throws -> KernelMap {
    try KernelMap(MapSpec(name: name, type: .array, keySize: 4, valueSize: 8, maxEntries: slots))
}

/// An array map of two u64 slots: [target pid, count].
func pidCounterMap(_ name: String) throws -> KernelMap {
    try counterMap(name, slots: 2)
}

/// A connected AF_UNIX datagram socket pair; the second end non-blocking.
func datagramSocketPair() -> (Int32, Int32)? {
    var fds: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0, &fds) == 0 else { return nil }
    _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
    return (fds[0], fds[1])
}

/// Sends `count` datagrams from `sender`; returns how many `receiver` gets.
func sendAndReceive(_ count: Int, from sender: Int32, to receiver: Int32) -> Int {
    let message: [UInt8] = Array("hello".utf8)
    for _ in 0..<count { _ = message.withUnsafeBytes { send(sender, $0.baseAddress, $0.count, 0) } }
    var received = 0
    var buffer = [UInt8](repeating: 0, count: 64)
    while buffer.withUnsafeMutableBytes({ recv(receiver, $0.baseAddress, $0.count, 0) }) > 0 { received += 1 }
    return received
}

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

    /// Whether this machine makes veth pairs in a new network namespace (the `ip` command, root,
    /// veth and netns support): probed once by making one (tag 0) and removing it.
    static let available: Availability = {
        do {
            try make(tag: 0).remove()
            return .available
        } catch {
            return .missing("cannot make a veth pair in a network namespace: \(error)")
        }
    }()

    /// Runs `body` with a new pair (tagged `tag`: each test its own), removed afterwards. Tests that
    /// use it require `VethPair.available` (and `TracedChild.built`, which sends the packets).
    static func with(tag: Int, _ body: (VethPair) throws -> Void) throws {
        let pair = try make(tag: tag)
        defer { pair.remove() }
        try body(pair)
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
