import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// The tracing and XDP examples of Docs/kernel.md, compiled and run against the kernel. Skipped, with the
/// reason, where bpf() is not usable.
@Suite(.requires(Kernel.bpf))
struct ReadmeAttachExampleTests {
    @Test func tracingExample() async throws {
        let events = try KernelMap(MapSpec(name: "events", type: .ringBuffer, keySize: 0, valueSize: 0, maxEntries: 1 << 16))
        let program = try KernelProgram.load(type: .tracepoint, instructions: Assembler().assemble("""
            call 14                       # bpf_get_current_pid_tgid
            rsh %r0, 32
            stxw [%r10-4], %r0
            lddw %r1, map_fd \(events.fd.rawValue)
            mov %r2, %r10
            add %r2, -4
            mov %r3, 4
            mov %r4, 0
            call 130                      # bpf_ringbuf_output(&events, &pid, 4, 0)
            mov %r0, 0
            exit
            """), name: "openat_pids")
        let link = try program.attachTracepoint(category: "syscalls", name: "sys_enter_openat")
        let ring = try RingBuffer(map: events)
        let watchdog = Task {
            try await Task.sleep(for: .seconds(20))
            ring.close()
        }
        defer { watchdog.cancel() }
        // Our own openat must come through.
        let me = UInt32(getpid())
        let opener = Task.detached {
            for _ in 0..<50 {
                _ = FileManager.default.contents(atPath: "/proc/self/stat")
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        var sawOurs = false
        for try await record in ring.records() {
            #expect(record.count == 4)
            if record.withUnsafeBytes({ $0.loadUnaligned(as: UInt32.self) }) == me { sawOurs = true; break }
        }
        opener.cancel()
        #expect(sawOurs)
        link.close()
    }

    @Test func xdpExampleProgramDropsAndCountsUDP() throws {
        let drops = try KernelMap(MapSpec(name: "udp_drops", type: .array, keySize: 4, valueSize: 8, maxEntries: 1))
        let xdp = try KernelProgram.load(type: .xdp, instructions: Assembler().assemble("""
            ldxw %r2, [%r1+0]             # data
            ldxw %r3, [%r1+4]             # data_end
            mov %r4, %r2
            add %r4, 34
            jgt %r4, %r3, pass            # Ethernet + IPv4 header present?
            ldxh %r5, [%r2+12]
            jne %r5, 8, pass              # ETH_P_IP (big-endian 0x0800)
            ldxb %r5, [%r2+23]
            jne %r5, 17, pass             # IPPROTO_UDP
            mov %r2, 0
            stxw [%r10-4], %r2
            lddw %r1, map_fd \(drops.fd.rawValue)
            mov %r2, %r10
            add %r2, -4
            call 1
            jeq %r0, 0, drop
            mov %r1, 1
            lock add [%r0+0], %r1
            drop:
            mov %r0, 1                    # XDP_DROP
            exit
            pass:
            mov %r0, 2                    # XDP_PASS
            exit
            """), expectedAttachType: .xdp, name: "xdp_drop_udp")
        var udp = [UInt8](repeating: 0, count: 64)
        udp[12] = 0x08; udp[13] = 0x00; udp[14] = 0x45; udp[23] = 17
        var tcp = udp
        tcp[23] = 6
        #expect(try xdp.testRun(data: udp, repeat: 3).returnValue == 1)
        #expect(try xdp.testRun(data: tcp).returnValue == 2)
        #expect(try drops.lookup(key: UInt32(0), as: UInt64.self) == 3)
    }
}
