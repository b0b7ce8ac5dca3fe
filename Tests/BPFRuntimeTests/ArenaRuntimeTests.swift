import BPFCore
import BPFObject
import BPFRuntime
import BPFTestSupport
import Testing

/// Arena maps in the Swift runtime (Tests/BPFVerifierTests/Fixtures/arena/arena.c): pages handed out
/// and freed by the arena kfuncs, arena pointers and globals, user space reading the arena at the
/// addresses the program used; on the interpreter and both JIT tiers. (The kernel refuses arena maps
/// on some machines of this kind, so there is no differential test against it.)
@Suite("arena maps in the runtime")
struct ArenaRuntimeTests {
    static let engines: [(ExecutionEngine, JITTier)] = {
        JITProgram.isSupported ? [(.interpreter, .baseline), (.jit, .baseline), (.jit, .optimizing)] : [(.interpreter, .baseline)]
    }()

    static func load(_ engine: ExecutionEngine, _ tier: JITTier) throws -> LoadedObject {
        let object = try ObjectFile(bytes: TestPaths.bytes("Tests/BPFVerifierTests/Fixtures/arena/arena.o"))
        return try LoadedObject(object, programs: ["list_push", "free_page", "walk_pages"], engine: engine, jitTier: tier)
    }

    @Test("programs link nodes in allocated pages and count them in an arena global user space reads")
    func programsRun() throws {
        for (engine, tier) in Self.engines {
            let object = try Self.load(engine, tier)
            let label: Comment = "\(engine) \(tier)"
            let arena = try #require(object.map(named: "arena")?.arenaMemory, label)
            #expect(arena.count == 16 * 4096, label)
            func run(_ name: String) throws {
                let result = try #require(object.program(named: name)).testRun(context: nil)
                #expect(result.returnValue == 0, "\(engine) \(tier) \(name)")
            }
            try run("list_push")
            try run("free_page")
            // free_page wrote 7 into its page (the second after the globals), then freed it: zeroed.
            #expect((arena.baseAddress! + 2 * 4096).load(as: UInt64.self) == 0, label)
            try run("walk_pages")
            // walk_pages got that page again (the first two free ones) and wrote i at i * 1024.
            #expect((arena.baseAddress! + 2 * 4096 + 1024).load(as: UInt8.self) == 1, label)
            // node_count, the arena's one global, sits at its start: list_push added 2.
            #expect(arena.load(as: UInt64.self) == 2, label)
            // list_push's page (the first after the globals) holds its two nodes; the second's
            // `next` is NULL and its value 2, and the first points at the second by its address.
            let page = arena.baseAddress! + 4096
            #expect(page.load(fromByteOffset: 8, as: UInt64.self) == 1, label)
            #expect(page.load(fromByteOffset: 24, as: UInt64.self) == 2, label)
            #expect(page.load(as: UInt64.self) == UInt64(UInt(bitPattern: page)) + 16, label)
        }
    }

    @Test("an arena without BPF_F_MMAPABLE, or larger than the runtime reserves, is refused with its name")
    func badArenas() {
        var spec = MapSpec(name: "bad", type: .arena, keySize: 0, valueSize: 0, maxEntries: 4)
        #expect(throws: MapError.self) { _ = try RuntimeMap.make(spec) }
        spec.flags = 1 << 10
        spec.maxEntries = 1 << 22
        do {
            _ = try RuntimeMap.make(spec)
            Issue.record("a 16 GiB arena was made")
        } catch {
            #expect(error.description.contains("arena 'bad'"), "\(error)")
        }
    }
}
