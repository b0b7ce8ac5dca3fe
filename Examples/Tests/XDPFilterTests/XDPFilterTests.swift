import Foundation
import SwiftBPF
import Testing
import XDPFilterCore

/// The sample capture of the xdp-counter example: 20 frames, 8 of them IPv4 UDP (4 to port 9), 3 ICMP.
let samplePcap = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("xdp-counter/sample.pcap").path

/// What the filter should do to a frame, computed here from the bytes: the reference.
func expectedDrop(_ frame: [UInt8], ports: Set<UInt16>, icmp: Bool) -> Bool {
    guard frame.count >= 34, frame[12] == 0x08, frame[13] == 0x00 else { return false }
    let ihl = Int(frame[14] & 0x0f) * 4
    guard ihl >= 20 else { return false }
    if frame[23] == 1 { return icmp }
    guard frame[23] == 17, frame.count >= 14 + ihl + 8 else { return false }
    return ports.contains(UInt16(frame[14 + ihl + 2]) << 8 | UInt16(frame[14 + ihl + 3]))
}

@Suite("xdp-filter in the Swift runtime (no root)")
struct XDPFilterTests {
    @Test("UDP to a blocked port is dropped, everything else passes: the sample capture frame by frame")
    func blockedPort() throws {
        let filter = try Filter(blockedPorts: [9], backend: .runtime)
        let actions = try filter.run(pcap: samplePcap)
        let frames = try PacketCapture(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: samplePcap)))).packets.map(\.data)
        #expect(actions.count == 20)
        #expect(actions == frames.map { expectedDrop($0, ports: [9], icmp: false) ? 1 : 2 })
        #expect(try filter.verdicts() == Filter.Verdicts(passed: 16, dropped: 4))
    }

    @Test("the block_icmp constant, set before loading, drops ICMP too")
    func icmpConstant() throws {
        let filter = try Filter(blockedPorts: [], blockICMP: true, backend: .runtime)
        let actions = try filter.run(pcap: samplePcap)
        #expect(actions.filter { $0 == 1 }.count == 3)
        #expect(try filter.verdicts() == Filter.Verdicts(passed: 17, dropped: 3))
    }

    @Test("an IPv4 frame cut short before its UDP header passes")
    func truncated() throws {
        let filter = try Filter(blockedPorts: [9], backend: .runtime)
        var frame = [UInt8](repeating: 0, count: 14 + 20 + 4)
        frame[12] = 0x08
        frame[14] = 0x45
        frame[23] = 17
        #expect(try filter.run(frame: frame) == 2)
        #expect(try filter.verdicts() == Filter.Verdicts(passed: 1, dropped: 0))
    }
}
