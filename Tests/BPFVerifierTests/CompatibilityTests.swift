import BPFCore
import BPFObject
import BPFVerifier
import Testing

/// Kernel rules the rule cases cannot show in the kernel as written (they need the program's BTF).
struct CompatibilityTests {
    /// A function that loads a packet byte the legacy way returns 0 at once when the load fails;
    /// with `handled`, its caller copes with that 0.
    static func legacyLoadInFunction(handled: Bool) throws -> VerifierProgram {
        let main = handled ? "call local f\nmov %r0, 0\nexit" : "call local f\njne %r0, 0, +1\nadd %r0, %r9\nmov %r0, 0\nexit"
        let source = main + "\nf:\nmov %r6, %r1\nldabsb 14\nmov %r0, 1\nexit"
        var input = VerifierProgram(instructions: try Assembler().assemble(source), type: .socketFilter)
        // func_info for both functions (types are not looked up without the object's BTF).
        input.functionInfos = [FunctionInfo(instruction: 0, typeID: 1), FunctionInfo(instruction: handled ? 3 : 5, typeID: 2)]
        return input
    }

    @Test func legacyPacketLoadInAFunctionMayReturnZeroEarly() throws {
        #expect(Verifier().verify(try Self.legacyLoadInFunction(handled: true)).accepted)
        let result = Verifier().verify(try Self.legacyLoadInFunction(handled: false))
        let error = try #require(result.error)
        #expect(error.description.contains("R9 is read before it is set"), "\(error)")
    }
}
