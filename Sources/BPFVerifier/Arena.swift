import BPFCore
import BPFObject

// Arena maps (BPF_MAP_TYPE_ARENA) and their pointers, as the kernel verifies them: a program uses
// at most one arena; `addr_space_cast(r, 0, 1)` turns a user-space arena address (a number) into an
// arena pointer (`PTR_TO_ARENA`) that reads and writes anywhere in the arena and stays one through
// any arithmetic; `addr_space_cast(r, 1, 0)` turns it back into a number. Arena globals' addresses
// (`lddw` of the arena's value) are numbers, and the arena kfuncs return numbers.
extension Analysis {
    /// The arena maps the program uses (its `lddw`s of a map or map value).
    var programArenas: Set<Int> {
        Set(program.mapReferences.values.map(\.map).filter { $0 >= 0 && $0 < maps.count && maps[$0].type == .arena })
    }

    /// An `lddw` of arena map `map` (or of its globals): one arena per program.
    func useArena(_ st: VerifierState, _ pc: Int, map: Int) throws(VerifierError) {
        let arenas = programArenas
        if arenas.count > 1 {
            let names = arenas.sorted().map { "'\(maps[$0].name)'" }.joined(separator: ", ")
            throw fail(.invalidProgram, pc, "the program uses more than one arena (\(names)): a program has at most one",
                       "keep the program's arena data in one arena map", state: st)
        }
    }

    /// `addr_space_cast`: 0x1 (address space 1 → 0) makes an arena pointer, 0x10000 (0 → 1) a number.
    func addressSpaceCast(_ st: inout VerifierState, _ pc: Int, _ ins: Instruction) throws(VerifierError) {
        let d = Int(ins.dst)
        guard !programArenas.isEmpty else {
            throw fail(.invalidProgram, pc, "addr_space_cast is only allowed in a program that uses an arena map",
                       "declare a BPF_MAP_TYPE_ARENA map and use it (bpf_arena_alloc_pages, or an __arena global)", state: st)
        }
        if ins.imm == 1 {
            var r = Register()
            r.kind = .arena
            st[d] = r
        } else {
            st[d] = .unknownScalar
        }
    }
}
