import BPFCore
import BPFTestSupport
import Foundation
import Testing

@Suite("swiftbpf map dump")
struct MapDumpCommandTests {
    static let frame = String(repeating: "ee", count: 60)

    @Test("after a run: ring buffer and perf records, in text and JSON")
    func afterRun() throws {
        let text = try SwiftBPFTool.run(["map", "dump", "Tests/Fixtures/bpf/obj/maps_all.o", "--program", "maps_events",
                                         "--packet-hex", Self.frame])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("map events_rb (ringbuf, 2 records pending):"))
        #expect(text.stdout.contains("  01 00 00 00 3c 00 00 00 88 77 66 55 44 33 22 11"))
        #expect(text.stdout.contains("{cpu: 0, record: 03 00 00 00 3c 00 00 00 2a 00 00 00 00 00 00 00}")
                || text.stdout.contains("{cpu: 1, record: 03 00 00 00 3c 00 00 00 2a 00 00 00 00 00 00 00}"))
        let json = try SwiftBPFTool.run(["map", "dump", "Tests/Fixtures/bpf/obj/maps_all.o", "--program", "maps_events",
                                         "--packet-hex", Self.frame, "--map", "events_rb", "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(Array(object.keys) == ["events_rb"])
        let records = try #require(object["events_rb"] as? [[String: Any]])
        #expect(records.map { $0["value"] as? String } == ["010000003c0000008877665544332211", "020000003c000000ddccbbaa00000000"])
    }

    @Test("without a run: maps as loaded, with program-array and map-of-maps slots by name")
    func asLoaded() throws {
        let chain = try SwiftBPFTool.run(["map", "dump", "Tests/Fixtures/bpf/obj/tail_calls.o", "--map", "chain"])
        #expect(chain.status == 0, "\(chain.stderr)")
        #expect(chain.stdout.contains("map chain (prog_array, 3 entries):"))
        #expect(chain.stdout.contains("program: tail_stage1"))
        #expect(chain.stdout.contains("program: tail_stage3"))
        let global = try SwiftBPFTool.run(["map", "dump", "Tests/Fixtures/bpf/obj/global_data.o"])
        #expect(global.status == 0, "\(global.stderr)")
        #expect(global.stdout.contains("data_counter: 100"))
        let missing = try SwiftBPFTool.run(["map", "dump", "Tests/Fixtures/bpf/obj/tail_calls.o", "--map", "nope"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no map 'nope'"))
    }
}
