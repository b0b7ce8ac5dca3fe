import BPFCore
import BPFObject
import BPFRuntime
import BPFVerifier
import Testing

/// Constant data (`.rodata`, frozen once loaded) read at a known offset is a known value to the
/// verifier, as frozen read-only maps are to the kernel's; writable data is not.
struct ConstantDataTests {
    /// A global-data map named `section` whose first byte is `first`.
    static func globalData(_ section: String, first: UInt8) -> MapSpec {
        var spec = MapSpec(name: section, type: .array, keySize: 4, valueSize: 8, maxEntries: 1, origin: .globalData(section: section))
        spec.initialValue = [first, 0, 0, 0, 0, 0, 0, 0]
        spec.readOnly = section.hasPrefix(".rodata")
        return spec
    }

    /// Reads byte 0 of map 1 (the global data) and uses it as an offset into an 8-byte array value
    /// (map 2) for a 4-byte read: in bounds only when the byte is at most 4.
    static let source = """
        lddw %r6, map_value 1 0
        ldxb %r6, [%r6+0]

        """ + lookupWide + """

        jeq %r0, 0, +3
        add %r0, %r6
        ldxw %r0, [%r0+0]
        mov %r0, 0
        exit
        """

    static func verify(_ data: MapSpec) throws -> VerificationResult {
        let array = MapSpec(name: "values", type: .array, keySize: 4, valueSize: 8, maxEntries: 1)
        return Verifier().verify(VerifierProgram(instructions: try Assembler().assemble(source), type: .xdp,
                                                 mapsByHandle: [1: data, 2: array]))
    }

    @Test(".rodata bytes are known values: an offset of 3 is in bounds, 5 is not")
    func rodataIsKnown() throws {
        #expect(try Self.verify(Self.globalData(".rodata", first: 3)).accepted)
        let refused = try Self.verify(Self.globalData(".rodata", first: 5))
        #expect(refused.error?.description.contains("outside the map 'values' value") == true, "\(refused.error?.description ?? "accepted")")
    }

    @Test(".data may change at run time, so its bytes are any value and the read is refused")
    func writableDataIsUnknown() throws {
        let refused = try Self.verify(Self.globalData(".data", first: 3))
        #expect(refused.error?.description.contains("outside the map 'values' value") == true, "\(refused.error?.description ?? "accepted")")
    }

    @Test("the runtime freezes .rodata once loaded, so what the verifier read stays true")
    func runtimeFreezesConstantData() throws {
        let rodata = try RuntimeMap.make(Self.globalData(".rodata", first: 3))
        #expect(throws: MapError.self) { try rodata.update(key: [0, 0, 0, 0], value: [UInt8](repeating: 9, count: 8)) }
        #expect(throws: MapError.self) { try rodata.withMappedMemory { _ in } }
        #expect(try rodata.lookup(key: [0, 0, 0, 0]) == [3, 0, 0, 0, 0, 0, 0, 0])
        let data = try RuntimeMap.make(Self.globalData(".data", first: 3))
        try data.update(key: [0, 0, 0, 0], value: [UInt8](repeating: 9, count: 8))
        #expect(try data.lookup(key: [0, 0, 0, 0]) == [UInt8](repeating: 9, count: 8))
    }
}
