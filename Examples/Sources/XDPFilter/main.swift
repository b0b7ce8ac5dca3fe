// xdp-filter: drop UDP to blocked ports. `swift run XDPFilter --block-port 9 --pcap FILE` runs
// rootless in the Swift runtime; `--interface IF [--seconds N]` attaches in the kernel (root).
import Foundation
import SwiftBPF
import XDPFilterCore

var ports: [UInt16] = []
var blockICMP = false
var pcap: String?
var interface: String?
var seconds = 10
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--block-port": if let port = arguments.popFirst().flatMap({ UInt16($0) }) { ports.append(port) }
    case "--block-icmp": blockICMP = true
    case "--pcap": pcap = arguments.popFirst()
    case "--interface": interface = arguments.popFirst()
    case "--seconds": seconds = arguments.popFirst().flatMap { Int($0) } ?? seconds
    default:
        FileHandle.standardError.write(Data("usage: XDPFilter [--block-port P]... [--block-icmp] (--pcap FILE | --interface IF [--seconds N])\n".utf8))
        exit(2)
    }
}

do {
    if let pcap {
        let filter = try Filter(blockedPorts: ports, blockICMP: blockICMP, backend: .runtime)
        let actions = try filter.run(pcap: pcap)
        for (i, action) in actions.enumerated() where action == 1 { print("frame \(i + 1): dropped") }
        let verdicts = try filter.verdicts()
        print("passed \(verdicts.passed), dropped \(verdicts.dropped)")
    } else if let interface {
        let filter = try Filter(blockedPorts: ports, blockICMP: blockICMP, backend: .kernel)
        let link = try filter.attach(interface: interface)
        print("attached to \(link.target); counting for \(seconds) s")
        for _ in 0..<seconds {
            Thread.sleep(forTimeInterval: 1)
            let verdicts = try filter.verdicts()
            print("passed \(verdicts.passed), dropped \(verdicts.dropped)")
        }
    } else {
        FileHandle.standardError.write(Data("xdp-filter: give --pcap FILE or --interface IF\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("xdp-filter: \(error)\n".utf8))
    exit(1)
}
