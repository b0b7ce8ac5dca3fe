import BPFCore
import BPFObject

// Exception callbacks: `__exception_cb(fn)` tags a program's function with the BTF decl tag
// `exception_callback:fn`; after a `bpf_throw`, the kernel returns what `fn(cookie)` returns. Its
// checks, from the program's own BTF (``VerifierProgram/programBTF``): one such tag at most; `fn` a
// function returning a number and taking one integer argument; the program never calls `fn` itself.
// The loader links `fn` into the program (as libbpf does); it is verified as a second entry, from
// the cookie in R1 to a return value the program type allows, and may not throw. (`bpf_throw`
// itself is checked in `throwException`.)
extension Analysis {
    /// The exception callback's name, when the program's BTF tags one; throws for the kernel's refusals.
    @discardableResult
    func checkExceptionCallback() throws(VerifierError) -> String? {
        guard let btf = program.programBTF else { return nil }
        let tags = btf.functionTags(of: program.name, prefix: BTF.exceptionCallbackTag)
        guard let name = tags.first else { return nil }
        if tags.count > 1 {
            throw fail(.invalidProgram, nil, "\(program.name) names \(tags.count) exception callbacks (exception_callback: BTF tags)",
                       "tag the program with one __exception_cb")
        }
        guard let function = btf.typeID(named: name, kind: .function), let f = btf[function], let proto = btf[f.referencedType],
              case .parameters(let parameters) = proto.detail else {
            throw fail(.invalidProgram, nil, "the exception callback '\(name)' is not a function of the object")
        }
        let returned = btf[btf.resolve(proto.referencedType)]
        guard let returned, returned.kind == .int || returned.kind == .enumeration || returned.kind == .enumeration64 else {
            throw fail(.invalidProgram, nil, "the exception callback '\(name)' returns \(btf.typeName(proto.referencedType)), not a number",
                       "declare it as int \(name)(u64 cookie)")
        }
        guard parameters.count == 1, let argument = btf[btf.resolve(parameters[0].type)], argument.kind == .int else {
            throw fail(.invalidProgram, nil, "the exception callback '\(name)' takes \(parameters.count) arguments; it takes one integer (the cookie)",
                       "declare it as int \(name)(u64 cookie)")
        }
        // The program may not call it: only the kernel does, after a throw.
        let starts = Set(program.functionInfos.filter { btf[$0.typeID]?.name == name }.map(\.instruction))
        exceptionCallbackStart = starts.min()
        for (pc, ins) in insns.enumerated() where ins.opcode == Opcode.call && ins.src == CallKind.local.rawValue {
            if starts.contains(pc + 1 + Int(ins.imm)) {
                throw fail(.invalidProgram, pc, "the program calls its exception callback '\(name)' itself",
                           "only the kernel calls it, after bpf_throw")
            }
        }
        return name
    }
}
