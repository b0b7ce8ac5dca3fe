import BPFCore

/// What a `lddw` or `call` in a linked program refers to, to be resolved when the program loads.
public enum ProgramReference: Hashable, Sendable {
    /// The map itself (`lddw` with src 1): a map handle or fd.
    case map(String)
    /// An address inside the map's first value (`lddw` with src 2): global data.
    case mapValue(String, offset: Int)
    /// A `.kconfig` or `.ksyms` extern the loader must supply.
    case external(String)
    /// A call to a kernel function (kfunc) by name.
    case kfunc(String)
}

/// A program as an object describes it: its linked instructions (subprograms appended), its type
/// from the section name, and the references the loader must resolve.
///
/// ```swift
/// let program = object.programs.first { $0.name == "xdp_counter" }!
/// print(program.type, program.section, program.instructions.count)
/// ```
public struct ProgramSpec: Hashable, Sendable {
    /// The function name.
    public var name: String
    /// The ELF section it came from.
    public var section: String
    public var type: ProgramType
    public var attachType: AttachType?
    /// The part of the section name after the convention's prefix (tracepoint, function, hook).
    public var attachTarget: String
    public var isReturnProbe: Bool
    /// The linked instructions: the program first, then every subprogram it calls.
    public var instructions: [Instruction]
    /// References by instruction index.
    public var references: [Int: ProgramReference]
    /// Source lines by instruction index (from `.BTF.ext`), after linking.
    public var sourceLines: [Int: SourceLine]
    /// Function BTF type ids by the instruction index each function starts at.
    public var functionInfos: [FunctionInfo]
    /// The object's license.
    public var license: String
    /// The object's `version` section value, if any.
    public var kernelVersion: UInt32?
    /// CO-RE relocations (from `.BTF.ext`), by their instruction index after linking; a loader
    /// resolves them against the target kernel's BTF.
    public var coreRelocations: [CORERelocation] = []
    /// For a struct_ops program, the struct_ops map, type and member it implements (from the map
    /// that names it); nil for other programs and for struct_ops programs no map names.
    public var structOps: StructOpsImplementation?
    /// The object's global functions of hidden or internal visibility (`__hidden`), which loaders
    /// send as static (see ``ObjectFile/hiddenFunctions``): verified with their caller's arguments.
    public var hiddenFunctions: Set<String> = []

    /// Instructions a CO-RE relocation could not resolve against the target BTF, poisoned as
    /// libbpf poisons them (a call to helper `0xbad2310`, refused where it is reached), and why.
    public var poisoned: [Int: String] = [:]

    /// The source line nearest at or before `instruction`.
    public func sourceLine(at instruction: Int) -> SourceLine? {
        var i = instruction
        while i >= 0 {
            if let line = sourceLines[i] { return line }
            i -= 1
        }
        return nil
    }
}

extension ProgramSpec {
    /// Sleepable, as libbpf loads it (`BPF_F_SLEEPABLE`): `syscall` programs, and sections whose
    /// prefix ends in `.s` (`fentry.s/`, `lsm.s/`, `uprobe.multi.s/`, `iter.s/`...).
    public var isSleepable: Bool {
        if type == .syscall { return true }
        let convention = SectionKind(section: section)?.convention ?? ""
        if convention.hasSuffix(".s/") || convention.hasSuffix(".s") { return true }
        let prefix = section.hasPrefix("?") ? section.dropFirst() : Substring(section)
        return prefix.split(separator: "/").first.map { $0.hasSuffix(".s") } ?? false
    }
}

extension ProgramSpec {
    /// A program made in memory rather than read from an ELF object: assembled instructions, with
    /// `references` naming the map each `lddw` of a map loads (by instruction index). The section
    /// names the libbpf convention a loader reads flags from (`xdp`, `syscall`, ...).
    ///
    /// ```swift
    /// let spec = ProgramSpec(name: "count", section: "xdp", type: .xdp, attachType: .xdp,
    ///                        instructions: try Assembler().assemble(source), references: [4: .map("counts")])
    /// ```
    public init(name: String, section: String, type: ProgramType, attachType: AttachType? = nil,
                instructions: [Instruction], references: [Int: ProgramReference] = [:], license: String = "GPL") {
        self.init(name: name, section: section, type: type, attachType: attachType, attachTarget: "", isReturnProbe: false,
                  instructions: instructions, references: references, sourceLines: [:], functionInfos: [],
                  license: license, kernelVersion: nil)
    }
}
