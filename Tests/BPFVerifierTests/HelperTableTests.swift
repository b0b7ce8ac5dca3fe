import BPFCore
import BPFObject
import BPFRuntime
import BPFVerifier
import Testing

/// The one helper table (BPFObject) and verification against a target.
@Suite("Helper table and verification targets")
struct HelperTableTests {
    @Test("every id of Linux 6.18 has a prototype with a unique bpf_ name; ids past the end have none")
    func complete() {
        let table = HelperPrototype.table
        #expect(table.count == Int(HelperPrototype.lastID))
        #expect(table.map(\.id) == Array(1...HelperPrototype.lastID))
        #expect(Set(table.map(\.name)).count == table.count)
        #expect(table.allSatisfy { $0.name.hasPrefix("bpf_") })
        #expect(HelperPrototype[0] == nil && HelperPrototype[HelperPrototype.lastID + 1] == nil)
        #expect(HelperPrototype.named("redirect")?.id == 23)
        #expect(HelperPrototype.named("bpf_set_hash")?.id == 48)
        #expect(HelperPrototype[12]?.returns == .void)
    }

    @Test("every helper the runtime implements is the table's helper of that id and name")
    func runtimeNamesMatch() {
        for helper in HelperRegistry.kernel.all where !HelperRegistry.kfuncIDs.contains(helper.id) {
            #expect(HelperPrototype[helper.id]?.name == helper.name, "helper \(helper.id) \(helper.name)")
        }
    }

    static let printk = VerifierProgram(instructions: try! Assembler().assemble("""
        stdw [%r10-8], 0
        mov %r1, %r10
        add %r1, -8
        mov %r2, 8
        call 6
        mov %r0, 0
        exit
        """), type: .xdp)

    @Test("GPL-only helpers are refused to programs whose license is not GPL-compatible")
    func gplOnly() {
        var program = Self.printk
        program.license = "Proprietary"
        let refused = Verifier().verify(program)
        #expect(refused.error?.kind == .helperUnavailable)
        #expect(refused.error?.summary.contains("bpf_trace_printk is GPL-only") == true, "\(String(describing: refused.error))")
        program.license = "Dual MIT/GPL"
        #expect(Verifier().verify(program).accepted)
    }

    @Test("the runtime target refuses what the kernel accepts but the runtime lacks, naming it; the kernel target accepts")
    func runtimeTarget() throws {
        // bpf_skb_get_tunnel_opt (29) from TC: a helper the runtime does not implement.
        let program = VerifierProgram(instructions: try Assembler().assemble("""
            stdw [%r10-8], 0
            mov %r2, %r10
            add %r2, -8
            mov %r3, 8
            call 29
            mov %r0, 0
            exit
            """), type: .schedCls)
        let kernel = Verifier().verify(program)
        #expect(kernel.accepted, "\(String(describing: kernel.error))")
        #expect(kernel.helpersCalled == [29])
        let runtime = Verifier(options: VerifierOptions(target: .runtime())).verify(program)
        #expect(runtime.error?.summary == "bpf_skb_get_tunnel_opt is not implemented by the Swift runtime")
        // A map type the runtime lacks is named too.
        let stack = MapSpec(name: "stacks", type: .stackTrace, keySize: 4, valueSize: 64, maxEntries: 4)
        let usesMap = VerifierProgram(instructions: try Assembler().assemble("lddw %r2, map_fd 1\nmov %r3, 0\ncall 27\nexit"),
                                      type: .kprobe, mapsByHandle: [1: stack], contextSize: nil)
        let refused = Verifier(options: VerifierOptions(target: .runtime())).verify(usesMap)
        #expect(refused.error?.summary.contains("map 'stacks' is a stack_trace map, which the Swift runtime does not implement") == true,
                "\(String(describing: refused.error))")
    }

    @Test("--type names: the kernel's names, bpftool's short ones and section names")
    func typeNames() throws {
        #expect(ProgramType.parse("sched_cls")?.type == .schedCls)
        #expect(ProgramType.parse("BPF_PROG_TYPE_XDP")?.type == .xdp)
        #expect(ProgramType.parse("socket")?.type == .socketFilter)
        #expect(ProgramType.parse("cgroup/connect4").map { $0.type == .cgroupSockAddr && $0.attach == .cgroupInet4Connect } == true)
        #expect(ProgramType.parse("nonsense") == nil)
        let spec = ProgramSpec(name: "f", section: "2/1", type: .unspecified, instructions: [])
        #expect(try spec.withType("classifier").type == .schedCls)
        #expect(throws: ObjectError.self) { try spec.withType("nonsense") }
    }
}
