import BPFCore
import BPFObject
import BPFTestSupport
import BPFVerifier
import Testing

/// Objects built for loaders older than libbpf 1.0 (Fixtures/legacy/legacy_loaders.c): legacy map
/// layouts, per-map sections, loosely named program sections, and a section naming no type.
struct LegacyObjectTests {
    static func object() throws -> ObjectFile {
        try ObjectFile(bytes: TestPaths.bytes("Tests/BPFVerifierTests/Fixtures/legacy/legacy_loaders.o"))
    }

    @Test func mapsOfEveryLegacyLayoutAreRead() throws {
        let object = try Self.object()
        let packets = try #require(object.map(named: "packets"))        // 20-byte bpf_map_def
        #expect(packets.type == .array && packets.keySize == 4 && packets.valueSize == 8 && packets.maxEntries == 2)
        let byProto = try #require(object.map(named: "by_proto"))       // 36-byte bpf_elf_map
        #expect(byProto.type == .hash && byProto.maxEntries == 256 && byProto.pinning == 2)
        let totals = try #require(object.map(named: "totals"))          // 28-byte samples/bpf layout
        #expect(totals.type == .array && totals.maxEntries == 4)
        let sizes = try #require(object.map(named: "sizes"))            // its own "maps/sizes" section
        #expect(sizes.type == .array && sizes.maxEntries == 16)
    }

    @Test func looselyNamedSectionsGetTheirTypes() throws {
        let object = try Self.object()
        #expect(object.program(named: "count_socket")?.type == .socketFilter)
        #expect(object.program(named: "count_xdp")?.type == .xdp)
        #expect(object.program(named: "count_tc")?.type == .schedCls)
        #expect(SectionKind(section: "socket1")?.isLegacyPrefix == true)
        #expect(SectionKind(section: "socket")?.isLegacyPrefix == false)
        #expect(SectionKind(section: "prog") == nil)
    }

    @Test func legacyProgramsVerify() throws {
        let object = try Self.object()
        for name in ["count_socket", "count_xdp", "count_tc"] {
            let spec = try #require(object.program(named: name))
            let result = Verifier().verify(VerifierProgram(spec: spec, maps: object.maps))
            #expect(result.verdict == .accept, "\(name): \(result.error?.detailed ?? "")")
            #expect(result.inferredType == nil)
        }
    }

    /// `prog` reads data and data_end at offsets 0 and 4 and compares them: only XDP's context
    /// makes that safe, so the type is inferred.
    @Test func typeInferredFromTheContext() throws {
        let object = try Self.object()
        let spec = try #require(object.program(named: "parse_packet"))
        let result = Verifier().verify(VerifierProgram(spec: spec, maps: object.maps))
        #expect(result.verdict == .accept, "\(result.error?.detailed ?? "")")
        #expect(result.inferredType == .xdp)
    }

    /// `prog_any` only returns 0: every type accepts it, so the verifier says it cannot decide.
    @Test func undecidableTypeIsSaidSo() throws {
        let object = try Self.object()
        let spec = try #require(object.program(named: "any_context"))
        let result = Verifier().verify(VerifierProgram(spec: spec, maps: object.maps))
        #expect(result.verdict == .undecided)
        let error = try #require(result.error)
        #expect(error.kind == .undecided)
        #expect(error.description.contains("cannot decide: section 'prog_any' names no program type, and the program is safe as any of socket_filter, kprobe"),
                "\(error.description)")
    }

    /// A program unsafe as every type is still undecided (its type decides which error applies),
    /// and says what the first type found.
    @Test func unsafeUnderEveryTypeIsUndecided() throws {
        var input = VerifierProgram(instructions: try Assembler().assemble("ldxdw %r0, [%r10-8]\nexit"))
        input.section = "custom"
        input.typeUndetermined = true
        let result = Verifier().verify(input)
        #expect(result.verdict == .undecided)
        #expect(result.error?.description.contains("no type it could be accepts it (as socket_filter: read of 8 bytes at fp-8 reads uninitialized stack") == true,
                "\(result.error?.description ?? "")")
    }

    /// Definitions of differing sizes without symbol sizes fall back to the distance between
    /// symbols; too-small ones are refused, naming the map.
    @Test func tooSmallDefinitionsAreRefused() throws {
        var bytes = try TestPaths.bytes("Tests/BPFVerifierTests/Fixtures/legacy/legacy_loaders.o")
        let elf = try ELFFile(bytes: bytes)
        let symbol = try #require(elf.symbols.first { $0.name == "sizes" })
        // Shrink the symbol's recorded size to 12 bytes (st_size is at +16 of the 24-byte entry).
        let symtab = try #require(elf.sections.first { $0.type == 2 })
        let entry = symtab.offset + symbol.index * 24 + 16
        bytes[entry] = 12
        #expect(throws: ObjectError.self) { try ObjectFile(bytes: bytes) }
        do {
            _ = try ObjectFile(bytes: bytes)
        } catch {
            #expect("\(error)".contains("legacy map 'sizes'") && "\(error)".contains("12 bytes is too small"), "\(error)")
        }
    }
}
