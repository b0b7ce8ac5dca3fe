import BPFCore
import BPFObject
import BPFTestSupport
import BPFVerifier
import Testing

/// Arena maps and their pointers (Fixtures/arena/arena.c), verified as the kernel verifies them.
/// The arena kfuncs are typed by the object's own declarations (the kernel's parameter names), so
/// this runs on any machine; the kernel refuses arena maps on some, so there is no agreement test.
@Suite("arena maps and pointers")
struct ArenaVerifierTests {
    static let path = "Tests/BPFVerifierTests/Fixtures/arena/arena.o"

    static func verify(_ name: String, target: VerificationTarget = .kernel) throws -> VerificationResult {
        let object = try ObjectFile(bytes: TestPaths.bytes(path))
        let spec = try #require(object.program(named: name))
        var input = VerifierProgram(spec: spec, maps: object.maps, license: object.license)
        input.programBTF = object.btf
        return Verifier(options: VerifierOptions(target: target)).verify(input)
    }

    @Test("the object: the arena map with its map_extra (an enum-encoded 64-bit value), globals in it")
    func object() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes(Self.path))
        let arena = try #require(object.map(named: "arena"))
        #expect(arena.type == .arena && arena.maxEntries == 16 && arena.mapExtra == 1 << 44)
        let push = try #require(object.program(named: "list_push"))
        #expect(push.references.values.contains(.mapValue("arena", offset: 0)), "\(push.references)")
        #expect(push.instructions.contains { $0.isAddressSpaceCast && $0.imm == 1 })
        #expect(push.isSleepable)   // SEC("syscall"), as libbpf loads it
    }

    @Test("arena pointers: allocated pages, linked nodes, globals, any offset and arithmetic", arguments: ["list_push", "free_page", "walk_pages"])
    func accepted(_ name: String) throws {
        let result = try Self.verify(name)
        #expect(result.accepted, "\(name): \(result.error?.detailed ?? "")")
    }

    @Test("refused: a cast with no arena, a non-sleepable allocation, a user address read directly")
    func refused() throws {
        let cases: [String: String] = [
            "cast_without_arena": "addr_space_cast is only allowed in a program that uses an arena map",
            "alloc_not_sleepable": "kfunc 'bpf_arena_alloc_pages' may sleep",
            "deref_user_address": "R1 is a scalar, not a pointer",
        ]
        for (name, reason) in cases {
            let result = try Self.verify(name)
            let error = try #require(result.error, "\(name) must be refused")
            #expect(error.description.contains(reason), "\(name): \(error.detailed)")
            #expect(error.instruction != nil && error.sourceLine != nil, "\(name): the refusal names the instruction and C line")
        }
    }
}
