import BPFCore
import BPFObject
import BPFTestSupport
import Testing

/// Type-based CO-RE relocations of a type the target lacks resolve to 0, as libbpf's
/// bpf_core_calc_type_relo gives them (no poisoned instruction); a field of a missing type still
/// poisons its instruction.
@Suite(.requires(VMLinux.availability))
struct CORETypeRelocationTests {
    @Test func missingTypesGiveZero() throws {
        let vmlinux = try #require(VMLinux.btf)
        let object = try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/kernel/core_task.o"))
        let small = try #require(object.btf)
        // The kernel's sk_buff, relocated against the fixture's BTF, which has no sk_buff.
        let skb = try #require(vmlinux.typeID(named: "sk_buff", kind: .structure))
        #expect(small.typeID(named: "sk_buff", kind: .structure) == nil)
        let relocator = CORERelocator(local: vmlinux, target: small)
        func resolve(_ kind: CORERelocationKind, _ access: String = "0") throws -> CORERelocator.Resolution {
            try relocator.resolve(CORERelocation(instruction: 0, typeID: skb, accessString: access, kind: kind.rawValue))
        }
        #expect(try resolve(.typeIDTarget) == .value(0))
        #expect(try resolve(.typeSize) == .value(0))
        #expect(try resolve(.typeExists) == .value(0))
        #expect(try resolve(.typeIDLocal) == .value(UInt64(skb)))
        if case .poison = try resolve(.fieldByteOffset, "0:0") {} else { Issue.record("a field of a missing type must poison its instruction") }
    }
}
