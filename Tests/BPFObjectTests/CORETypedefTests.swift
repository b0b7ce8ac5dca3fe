import BPFCore
import BPFObject
import Testing

/// CO-RE relocations whose root type is a typedef of an anonymous struct
/// (`typedef struct { __u64 key[2]; } siphash_key_t`): the target's typedef of that name is the
/// candidate, as libbpf finds it.
struct CORETypedefTests {
    /// A BTF with `typedef struct { __u64 key[2]; } siphash_key_t`, the struct `padding` bytes in
    /// (the target's layout may differ from the program's); returns the BTF and the typedef's id.
    static func keyBTF(padding: Int, name: String = "siphash_key_t") throws -> (BTF, Int) {
        var b = BTFBuilder()
        let u64 = b.int("unsigned long long", size: 8)
        let index = b.int("int", size: 4, signed: true)
        let array = b.array(u64, index: index, count: 2)
        let anonymous = b.structure("", size: 16 + padding, [("key", array, padding * 8, 0)])
        let typedef = b.typedef(name, anonymous)
        return (try BTF(bytes: b.bytes), typedef)
    }

    @Test func typedefOfAnonymousStructResolvesThroughTheTargetsTypedef() throws {
        let (local, root) = try Self.keyBTF(padding: 0)
        let (target, _) = try Self.keyBTF(padding: 8)
        let relocator = CORERelocator(local: local, target: target, index: CORERelocator.CandidateIndex(target))
        // key[1]: access string 0:0:1, a field byte offset.
        let resolution = try relocator.resolve(CORERelocation(instruction: 0, typeID: root, accessString: "0:0:1", kind: 0))
        guard case .value(let offset, _) = resolution else {
            Issue.record("key[1] did not resolve: \(resolution)")
            return
        }
        #expect(offset == 16, "key[1] is at 8 (padding) + 8 in the target")
    }

    @Test func aTypedefTheTargetLacksPoisonsTheInstructionWithTheReason() throws {
        let (local, root) = try Self.keyBTF(padding: 0)
        let (target, _) = try Self.keyBTF(padding: 0, name: "other_key_t")
        let relocator = CORERelocator(local: local, target: target, index: CORERelocator.CandidateIndex(target))
        var spec = ProgramSpec(name: "p", section: "xdp", type: .xdp, instructions: [
            Instruction(opcode: 0x79, dst: 2, src: 1, offset: 8), Instruction(opcode: 0xb7, dst: 0, imm: 0), Instruction(opcode: 0x95),
        ])
        spec.coreRelocations = [CORERelocation(instruction: 0, typeID: root, accessString: "0:0:1", kind: 0)]
        let relocated = spec.relocated(with: relocator).spec
        #expect(relocated.instructions[0].opcode == Opcode.call && relocated.instructions[0].imm == CORERelocator.poisonHelper)
        #expect(relocated.poisoned[0]?.contains("siphash_key_t.key[1]") == true, "\(relocated.poisoned)")
    }
}
