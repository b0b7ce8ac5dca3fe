import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// `load --pin` with global data, its rollback and its refusals (issue 16).
@Suite("swiftbpf load --pin", .requires(KernelForCommands.bpffs))
struct PinCommandTests {
    static let object = "Tests/Fixtures/bpf/obj/global_data.o"

    @Test("global data maps are pinned under libbpf's names with '.' replaced, and the pins work")
    func globalDataPins() throws {
        let dir = "/sys/fs/bpf/swiftbpf-pin-test-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try SwiftBPFTool.run(["load", Self.object, "--pin", dir, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let maps = try #require(object["maps"] as? [[String: Any]])
        let pins = Dictionary(uniqueKeysWithValues: maps.compactMap { map in (map["name"] as? String).map { ($0, map["pinned"] as? String) } })
        // libbpf: object "global_data" → internal map "global_d.rodata" (8 + 7 characters) → pin "global_d_rodata".
        #expect(pins[".rodata"] == dir + "/maps/global_d_rodata")
        #expect(pins[".data"] == dir + "/maps/global_d_data")
        #expect(pins[".bss"] == dir + "/maps/global_d_bss")
        #expect(pins[".kconfig"] == dir + "/maps/global__kconfig")
        #expect(pins[".data.custom"] == dir + "/maps/_data_custom")
        let rodata = try KernelMap.pinned(at: dir + "/maps/global_d_rodata")
        #expect(try rodata.info().name == ".rodata")
    }

    @Test("libbpf's internal map names, sanitized for bpffs")
    func pinNames() {
        func spec(_ name: String) -> MapSpec {
            MapSpec(name: name, type: .array, keySize: 4, valueSize: 4, maxEntries: 1, origin: .globalData(section: name))
        }
        #expect(KernelObject.pinName(forMap: spec(".rodata"), objectName: "my_object_name") == "my_objec_rodata")
        #expect(KernelObject.pinName(forMap: spec(".bss"), objectName: "my_object_name") == "my_objec_bss")
        #expect(KernelObject.pinName(forMap: spec(".kconfig"), objectName: "xdp") == "xdp_kconfig")
        #expect(KernelObject.pinName(forMap: spec(".rodata.str1.1"), objectName: "xdp") == "_rodata_str1_1")
        #expect(KernelObject.pinName(forMap: spec(".data"), objectName: nil) == "_data")
        #expect(KernelObject.pinName(forMap: MapSpec(name: "counts", type: .hash, keySize: 4, valueSize: 8, maxEntries: 4),
                                     objectName: "xdp") == "counts")
        #expect(KernelObject.objectName(forPath: "/a/b/global_data.bpf.o") == "global_data")
    }

    @Test("a pin that fails part-way removes the pins already made, and the error names the path and errno")
    func rollback() throws {
        let dir = "/sys/fs/bpf/swiftbpf-pin-rollback-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The program's pin path is taken: the maps pin first, then the program fails with EEXIST.
        try FileManager.default.createDirectory(atPath: dir + "/progs", withIntermediateDirectories: true)
        let blocker = try KernelMap(MapSpec(name: "blocker", type: .array, keySize: 4, valueSize: 4, maxEntries: 1))
        try blocker.pin(at: dir + "/progs/global_update")
        let failed = try SwiftBPFTool.run(["load", Self.object, "--pin", dir])
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("EEXIST") && failed.stderr.contains(dir + "/progs/global_update"), "\(failed.stderr)")
        #expect(failed.stderr.contains("removed the 5 pins"), "\(failed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/maps"), "the map pins and their directory stay")
        // With the path free again, a rerun succeeds: nothing was left behind to collide with.
        try BPFFileSystem.unpin(dir + "/progs/global_update")
        let again = try SwiftBPFTool.run(["load", Self.object, "--pin", dir])
        #expect(again.status == 0, "\(again.stderr)")
    }

    @Test("a pin path off bpffs is refused before anything is made; EPERM for a '.' name does not blame privileges")
    func refusals() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-pin-\(UUID())").path
        let result = try SwiftBPFTool.run(["load", Self.object, "--pin", dir])
        #expect(result.status != 0)
        #expect(result.stderr.contains("is not on a BPF filesystem") && result.stderr.contains("0xcafe4a11"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir))

        let map = try KernelMap(MapSpec(name: "dotted", type: .array, keySize: 4, valueSize: 4, maxEntries: 1))
        let path = "/sys/fs/bpf/swiftbpf.dotted.\(getpid())"
        defer { try? BPFFileSystem.unpin(path) }
        let error = try #require(throws: BPFError.self) { try map.pin(at: path) }
        #expect(error.errno == .EPERM)
        #expect(error.description.contains(path) && error.description.contains("refuses names with a '.'"), "\(error)")
        #expect(!error.description.contains("needs root"))
    }
}
