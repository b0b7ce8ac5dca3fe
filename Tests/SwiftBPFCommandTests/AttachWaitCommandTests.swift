import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// `attach --wait`: the process holds the link until it is signalled (issue 16: the link was
/// released before the wait, so the program was detached while the command said it held it).
@Suite("swiftbpf attach --wait", .requires(KernelForCommands.bpffs))
struct AttachWaitCommandTests {
    /// Starts `swiftbpf attach … --wait --json`, reads its JSON line, and returns the process and the link id.
    func startWaiting(_ arguments: [String]) throws -> (process: Process, linkID: UInt32) {
        let process = Process()
        process.executableURL = try #require(SwiftBPFTool.executable)
        process.arguments = arguments + ["--wait", "--json"]
        process.currentDirectoryURL = SwiftBPFTool.repository
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The JSON line, read on another thread so a command that never prints it fails the test in 10 s.
        let box = LineBox()
        let reader = Thread {
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                line.append(chunk)
            }
            box.set(line)
        }
        reader.start()
        guard box.done.wait(timeout: .now() + 10) == .success else {
            kill(process.processIdentifier, SIGKILL)
            throw LineTimeout()
        }
        let line = box.get()
        let object = try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any], "no JSON line: \(String(decoding: line, as: UTF8.self))")
        let id = try #require(object["link_id"] as? Int)
        return (process, UInt32(id))
    }

    func linkExists(_ id: UInt32) throws -> Bool { try KernelObjects.linkIDs().contains(id) }

    func holdsUntilSignalled(_ arguments: [String], signal: Int32) throws {
        let (process, id) = try startWaiting(arguments)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        // Still attached a while later: the process owns the link.
        for _ in 0..<5 {
            usleep(100_000)
            #expect(try linkExists(id), "link \(id) is gone while swiftbpf says it holds it")
        }
        #expect(process.isRunning)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        // Detached once the process is gone.
        var gone = false
        for _ in 0..<50 where !gone {
            gone = try !linkExists(id)
            if !gone { usleep(20_000) }
        }
        #expect(gone, "link \(id) outlived the process")
    }

    @Test("a raw tracepoint link stays while the process waits, and goes at SIGTERM")
    func rawTracepoint() throws {
        let program = try KernelProgram.load(type: .rawTracepoint, instructions: Assembler().assemble("mov %r0, 0\nexit"), name: "cli_wait_rawtp")
        try holdsUntilSignalled(["attach", "raw-tracepoint", "sys_enter", "--prog-id", String(try program.info().id)], signal: SIGTERM)
    }

    @Test("an XDP link on a veth stays while the process waits, and goes at SIGTERM",
          .requires(IPRoute2.veth))
    func xdpOnVeth() throws {
        let name = "sbw\(getpid() % 100000)"
        let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
        func run(_ arguments: [String]) throws -> Int32 {
            let process = try Process.run(URL(fileURLWithPath: ip), arguments: arguments)
            process.waitUntilExit()
            return process.terminationStatus
        }
        try #require(try run(["link", "add", name, "type", "veth", "peer", "name", name + "p"]) == 0, "ip link add \(name) type veth failed")
        defer { _ = try? run(["link", "del", name]) }
        let program = try KernelProgram.load(type: .xdp, instructions: Assembler().assemble("mov %r0, 2\nexit"), name: "cli_wait_xdp")
        try holdsUntilSignalled(["attach", "xdp", name, "--mode", "skb", "--prog-id", String(try program.info().id)], signal: SIGTERM)
    }

    @Test("a tracepoint (perf) link stays while the process waits, and goes at SIGINT")
    func tracepoint() throws {
        let program = try KernelProgram.load(type: .tracepoint, instructions: Assembler().assemble("mov %r0, 0\nexit"), name: "cli_wait_tp")
        try holdsUntilSignalled(["attach", "tracepoint", "syscalls:sys_enter_getppid", "--prog-id", String(try program.info().id)], signal: SIGINT)
    }
}

struct LineTimeout: Error, CustomStringConvertible {
    var description: String { "swiftbpf attach --wait --json printed no line within 10 s (stdout not flushed?)" }
}

final class LineBox: @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var line = Data()
    func set(_ data: Data) { lock.withLock { line = data }; done.signal() }
    func get() -> Data { lock.withLock { line } }
}
