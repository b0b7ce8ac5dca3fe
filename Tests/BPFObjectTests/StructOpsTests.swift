import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// struct_ops maps read from an object (pure) and laid out against a kernel's BTF (the running
/// kernel's, read from /sys/kernel/btf/vmlinux: no privileges needed). Fixtures:
/// Tests/Fixtures/bpf/kernel/tcp_cc.c and struct_ops_bad.c.
struct StructOpsTests {
    static func object(_ name: String) throws -> ObjectFile {
        try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/kernel/\(name).o"))
    }

    /// The running kernel's BTF, read once.
    static let vmlinux: Result<BTF, any Error> = Result {
        try BTF(fileBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/sys/kernel/btf/vmlinux"))))
    }

    static let kernelHasTCPStructOps = Availability(
        (try? vmlinux.get())?.typeID(named: "bpf_struct_ops_tcp_congestion_ops", kind: .structure) != nil,
        else: "no kernel BTF with struct bpf_struct_ops_tcp_congestion_ops at /sys/kernel/btf/vmlinux: \((try? vmlinux.get()) == nil ? "no readable BTF" : "the kernel does not register TCP congestion controls from BPF")")

    @Test func structOpsMapsAreReadWithTheirTypeDataAndPrograms() throws {
        let object = try Self.object("tcp_cc")
        #expect(object.structOpsMaps.map(\.name) == ["swiftbpf_cc", "swiftbpf_cc_link"])
        let plain = try #require(object.map(named: "swiftbpf_cc"))
        let link = try #require(object.map(named: "swiftbpf_cc_link"))
        #expect(plain.type == .structOps && plain.keySize == 4 && plain.maxEntries == 1)
        #expect(plain.origin == .structOps(section: ".struct_ops"))
        #expect(plain.flags == 0)
        #expect(link.flags == StructOpsSpec.linkFlag, "a .struct_ops.link map is created BPF_F_LINK")
        let spec = try #require(plain.structOps)
        #expect(spec.typeName == "tcp_congestion_ops" && spec.kernelTypeName == "tcp_congestion_ops")
        #expect(!spec.isLink && link.structOps?.isLink == true)
        #expect(spec.data.count == plain.valueSize && spec.data.count == 192)
        let programs = Dictionary(uniqueKeysWithValues: spec.members.compactMap { m in m.program.map { (m.name, $0) } })
        #expect(programs == ["init": "swiftbpf_cc_init", "ssthresh": "swiftbpf_cc_ssthresh",
                             "cong_avoid": "swiftbpf_cc_cong_avoid", "undo_cwnd": "swiftbpf_cc_undo_cwnd"])
        let name = try #require(spec.member(named: "name"))
        #expect(!name.isFunctionPointer && name.size == 16)
        #expect(String(decoding: spec.data[name.offset..<(name.offset + name.size)].prefix { $0 != 0 }, as: UTF8.self) == "swiftbpf_cc")
        #expect(spec.member(named: "set_state")?.isFunctionPointer == true && spec.member(named: "set_state")?.program == nil)
    }

    @Test func programsKnowTheMemberTheyImplement() throws {
        let object = try Self.object("tcp_cc")
        let ssthresh = try #require(object.program(named: "swiftbpf_cc_ssthresh"))
        #expect(ssthresh.type == .structOps)
        #expect(ssthresh.structOps == StructOpsImplementation(map: "swiftbpf_cc", typeName: "tcp_congestion_ops", member: "ssthresh"))
        #expect(object.structOpsImplementation(ofProgram: "swiftbpf_cc_cong_avoid")?.member == "cong_avoid")
        #expect(object.structOpsImplementation(ofProgram: "no_such_program") == nil)
        #expect(object.programs.filter { $0.structOps != nil }.count == 4)
    }

    @Test(.requires(StructOpsTests.kernelHasTCPStructOps))
    func layoutForTheKernelPutsDataAndFunctionsAtTheKernelsOffsets() throws {
        let kernel = try Self.vmlinux.get()
        let object = try Self.object("tcp_cc")
        let layout = try #require(object.map(named: "swiftbpf_cc")?.structOps).kernelLayout(in: kernel, map: "swiftbpf_cc")
        let valueType = try #require(kernel.typeID(named: "bpf_struct_ops_tcp_congestion_ops", kind: .structure))
        #expect(layout.valueTypeID == valueType)
        #expect(layout.typeID == kernel.typeID(named: "tcp_congestion_ops", kind: .structure))
        #expect(layout.value.count == kernel[valueType]!.sizeOrType)
        guard case .members(let members)? = kernel[layout.typeID]?.detail else {
            Issue.record("the kernel's tcp_congestion_ops has no members")
            return
        }
        for function in layout.functions {
            #expect(members[function.memberIndex].name == function.member)
            #expect(function.valueOffset == layout.dataOffset + members[function.memberIndex].bitOffset / 8)
        }
        #expect(Set(layout.functions.map(\.member)) == ["init", "ssthresh", "cong_avoid", "undo_cwnd"])
        let nameMember = try #require(members.first { $0.name == "name" })
        let at = layout.dataOffset + nameMember.bitOffset / 8
        #expect(Array(layout.value[at..<(at + 12)]) == Array("swiftbpf_cc\0".utf8))
        #expect(layout.value[0..<layout.dataOffset].allSatisfy { $0 == 0 }, "the kernel's common header starts zero")
        #expect(layout.skippedMembers.isEmpty)
    }

    @Test(.requires(StructOpsTests.kernelHasTCPStructOps))
    func badStructOpsMapsAreRefusedNamingTheMapAndMember() throws {
        let kernel = try Self.vmlinux.get()
        let object = try Self.object("struct_ops_bad")
        func failure(_ map: String) throws -> ObjectError? {
            let spec = try #require(object.map(named: map)?.structOps)
            do {
                _ = try spec.kernelLayout(in: kernel, map: map)
                return nil
            } catch { return error }
        }
        let wrong = try #require(try failure("wrong_type"))
        #expect(wrong.place.contains("struct_ops map 'wrong_type'") && wrong.place.contains("member 'ssthresh'"))
        #expect(wrong.message.contains("wrong type") && wrong.message.contains("function pointer"))
        let unknown = try #require(try failure("unknown_member"))
        #expect(unknown.place.contains("member 'swiftbpf_no_such_member'"))
        #expect(unknown.message.contains("has no member 'swiftbpf_no_such_member'"))
        let missing = try #require(try failure("no_such_ops"))
        #expect(missing.message.contains("no struct_ops type swiftbpf_no_such_ops"))
        // An unknown member left zero is skipped, as libbpf skips it.
        let zero = try #require(object.map(named: "zero_unknown")?.structOps).kernelLayout(in: kernel, map: "zero_unknown")
        #expect(zero.skippedMembers == ["swiftbpf_no_such_member"])
        #expect(zero.functions.map(\.member) == ["ssthresh"])
    }

    @Test(.requires(StructOpsTests.kernelHasTCPStructOps))
    func memberPrototypesComeFromTheKernelsBTF() throws {
        let kernel = try Self.vmlinux.get()
        let avoid = try #require(kernel.structOpsPrototype(type: "tcp_congestion_ops", member: "cong_avoid"))
        #expect(avoid.prototype.parameters.count == 3)
        #expect(kernel.typeName(avoid.prototype.parameters[0].type) == "struct sock *")
        #expect(avoid.prototype.returnType == 0, "cong_avoid returns void")
        #expect(avoid.memberIndex == 1 && avoid.structID == kernel.typeID(named: "tcp_congestion_ops", kind: .structure))
        #expect(kernel.structOpsPrototype(type: "tcp_congestion_ops___flavor", member: "ssthresh")?.memberIndex == 0)
        #expect(kernel.structOpsPrototype(type: "tcp_congestion_ops", member: "name") == nil, "a data member has no prototype")
        #expect(kernel.structOpsPrototype(type: "tcp_congestion_ops", member: "no_such_member") == nil)
    }
}
