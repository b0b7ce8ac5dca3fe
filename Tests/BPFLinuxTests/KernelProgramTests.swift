import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// Programs loaded into and run by the running kernel. Skipped, with the reason, where bpf() is not usable.
@Suite(.requires(Kernel.bpf))
struct KernelProgramTests {
    static let packet: [UInt8] = (0..<64).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }

    func xdpPass(name: String = "swiftbpf_pass") throws -> KernelProgram {
        try KernelProgram.load(type: .xdp, instructions: Assembler().assemble("mov %r0, 2\nexit"),
                               expectedAttachType: .xdp, name: name)
    }

    @Test func xdpTestRun() throws {
        let program = try xdpPass()
        let run = try program.testRun(data: Self.packet, repeat: 10)
        #expect(run.returnValue == 2)
        #expect(run.packetOut == Self.packet)
        #expect(program.verifierLog == nil)
    }

    @Test func mapLookupThroughPatchedFD() throws {
        let counts = try KernelMap(MapSpec(name: "counts", type: .array, keySize: 4, valueSize: 8, maxEntries: 1))
        try counts.update(key: UInt32(0), value: UInt64(41))
        // The lddw's src 1 (BPF_PSEUDO_MAP_FD) and imm carry the map's fd.
        let instructions = try Assembler().assemble("""
            mov %r2, 0
            stxw [%r10-4], %r2
            mov %r2, %r10
            add %r2, -4
            lddw %r1, map_fd \(counts.fd.rawValue)
            call 1
            jeq %r0, 0, +3
            ldxdw %r1, [%r0]
            add %r1, 1
            stxdw [%r0], %r1
            mov %r0, 2
            exit
            """)
        #expect(instructions[4].src == 1 && instructions[4].imm == counts.fd.rawValue)
        let program = try KernelProgram.load(type: .xdp, instructions: instructions, name: "count")
        #expect(try program.testRun(data: Self.packet).returnValue == 2)
        #expect(try counts.lookup(key: UInt32(0), as: UInt64.self) == 42)
        _ = try program.testRun(data: Self.packet, repeat: 8)
        #expect(try counts.lookup(key: UInt32(0), as: UInt64.self) == 50)
        #expect(try program.info().mapCount == 1)
    }

    @Test func rejectedProgramCarriesTheVerifierLog() throws {
        let instructions = try Assembler().assemble("mov %r0, %r5\nexit")
        let error = #expect(throws: BPFError.self) {
            try KernelProgram.load(type: .xdp, instructions: instructions, name: "bad")
        }
        #expect(error?.command == .progLoad)
        #expect(error?.errno == .EACCES)
        #expect(error?.verifierLog?.contains("R5 !read_ok") == true)
        #expect(error?.description.contains("R5 !read_ok") == true)
        #expect(error?.description.contains("BPF_PROG_LOAD failed: EACCES") == true)
    }

    @Test func verifierLogGrowsWhenTooSmall() throws {
        let source = (0..<50).map { "add %r0, \($0)" }.joined(separator: "\n")
        let program = try KernelProgram.load(type: .xdp, instructions: Assembler().assemble("mov %r0, 0\n" + source + "\nexit"),
                                             name: "logged", logLevel: 2, logSize: 64)
        let log = try #require(program.verifierLog)
        #expect(log.utf8.count > 64)
        #expect(log.contains("processed"))
    }

    @Test func invalidFlagsGiveEINVAL() throws {
        let error = #expect(throws: BPFError.self) {
            try KernelProgram.load(type: .xdp, instructions: Assembler().assemble("mov %r0, 2\nexit"), license: "Proprietary",
                                   name: "x", flags: 1 << 31)
        }
        #expect(error?.errno == .EINVAL)
        #expect(error?.command == .progLoad)
    }

    @Test func infoAndIDs() throws {
        let program = try xdpPass(name: "swiftbpf_info")
        let info = try program.info()
        #expect(info.name == "swiftbpf_info")
        #expect(info.type == .xdp)
        #expect(info.tag.count == 16)
        #expect(info.xlatedLength == 16)
        #expect(try KernelObjects.programIDs().contains(info.id))
        let reopened = try KernelProgram.open(id: info.id)
        #expect(reopened.type == .xdp && reopened.name == "swiftbpf_info")
        #expect(try reopened.testRun(data: Self.packet).returnValue == 2)

        let map = try KernelMap(MapSpec(name: "info-map!", type: .hash, keySize: 4, valueSize: 16, maxEntries: 8))
        let mapInfo = try map.info()
        #expect(mapInfo.name == "info_map_")
        #expect(mapInfo.type == .hash && mapInfo.keySize == 4 && mapInfo.valueSize == 16 && mapInfo.maxEntries == 8)
        #expect(try KernelObjects.mapIDs().contains(mapInfo.id))
        let again = try KernelMap.open(id: mapInfo.id)
        try again.update(key: [1, 0, 0, 0], value: [UInt8](repeating: 9, count: 16))
        #expect(try map.lookup(key: [1, 0, 0, 0]) == [UInt8](repeating: 9, count: 16))
    }

    // Pinning needs a bpffs at /sys/fs/bpf; it is mounted when missing, and the test is skipped (saying
    // why) when that fails.
    @Test(.requires(Kernel.bpffs))
    func pinAndGet() throws {
        let directory = "\(BPFFileSystem.defaultPath)/swiftbpf-test-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let map = try KernelMap(MapSpec(name: "pinned", type: .array, keySize: 4, valueSize: 4, maxEntries: 1))
        try map.update(key: UInt32(0), value: UInt32(77))
        try map.pin(at: "\(directory)/map")
        let pinned = try KernelMap.pinned(at: "\(directory)/map")
        #expect(try pinned.lookup(key: UInt32(0), as: UInt32.self) == 77)
        let program = try xdpPass()
        try program.pin(at: "\(directory)/prog")
        #expect(try KernelProgram.pinned(at: "\(directory)/prog").info().id == (try program.info().id))
        let taken = #expect(throws: BPFError.self) { try map.pin(at: "\(directory)/map") }
        #expect(taken?.errno == .EEXIST)
        let missing = #expect(throws: BPFError.self) { try KernelMap.pinned(at: "\(directory)/nothing") }
        #expect(missing?.errno == .ENOENT)
        #expect(missing?.command == .objGet)
    }
}
