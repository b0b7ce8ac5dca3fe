// opensnoop: which processes open which files. `swift run OpenSnoop [--pid PID] [--count N]` as root.
import Foundation
import SwiftBPF

var targetPID: UInt32 = 0
var limit = Int.max
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--pid": targetPID = arguments.popFirst().flatMap { UInt32($0) } ?? 0
    case "--count": limit = arguments.popFirst().flatMap { Int($0) } ?? .max
    default:
        FileHandle.standardError.write(Data("usage: OpenSnoop [--pid PID] [--count N]\n".utf8))
        exit(2)
    }
}

/// A C string of a fixed-size char array.
func text<let N: Int>(_ chars: InlineArray<N, Int8>) -> String {
    withUnsafeBytes(of: chars) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

do {
    var skeleton = try Opensnoop()                    // generated from opensnoop.bpf.c by the plugin
    skeleton.target_pid = targetPID                    // a constant: 0 traces every process
    let bpf = try skeleton.load(backend: .kernel)
    try bpf.collection.attachAll()                     // tp/syscalls/sys_enter_openat
    print("PID     UID    COMM             FILE")
    var seen = 0
    for try await event in try bpf.events(of: open_event.self) {
        let pid = String(event.pid).padding(toLength: 7, withPad: " ", startingAt: 0)
        let uid = String(event.uid).padding(toLength: 6, withPad: " ", startingAt: 0)
        print("\(pid) \(uid) \(text(event.comm).padding(toLength: 16, withPad: " ", startingAt: 0)) \(text(event.filename))")
        seen += 1
        if seen >= limit { break }
    }
    for (pid, count) in try bpf.opens.entries().sorted(by: { $0.value > $1.value }).prefix(5) {
        print("pid \(pid): \(count) opens")
    }
} catch {
    FileHandle.standardError.write(Data("opensnoop: \(error)\n".utf8))
    exit(1)
}
