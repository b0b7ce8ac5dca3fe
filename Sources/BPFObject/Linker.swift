import BPFCore

/// Turns the functions of an object's code sections into linked programs: each program's own
/// instructions followed by every subprogram it reaches, with calls, map references, global-data
/// references and function pointers rewritten the way the kernel expects them.
struct Linker {
    let elf: ELFFile
    let btf: BTF?
    let btfExt: BTFExt?
    let maps: MapReader
    let license: String
    let kernelVersion: UInt32?

    /// A function inside a code section.
    struct Function {
        var name: String
        var section: ELFSection
        var start: Int   // instruction index in the section
        var end: Int
        /// A static function: in a program's section it is a piece of that program (clang's
        /// outlined `<name>.cold.N`), not a program of its own.
        var isLocal = false
    }

    var functionsBySection: [Int: [Function]] = [:]
    var slotsBySection: [Int: [Instruction]] = [:]
    var relocationsBySection: [Int: [Int: ELFRelocation]] = [:]

    init(elf: ELFFile, btf: BTF?, btfExt: BTFExt?, maps: MapReader, license: String, kernelVersion: UInt32?) {
        self.elf = elf
        self.btf = btf
        self.btfExt = btfExt
        self.maps = maps
        self.license = license
        self.kernelVersion = kernelVersion
    }

    mutating func linkAll() throws(ObjectError) -> [ProgramSpec] {
        for section in elf.sections where section.isExecutable && section.size > 0 {
            let data = elf.contents(of: section)
            guard data.count % 8 == 0 else {
                throw ObjectError(section.label, "code size \(data.count) is not a multiple of 8")
            }
            let slots: [Instruction]
            do { slots = try Instruction.slots(fromBytes: data) } catch {
                throw ObjectError(section.label, "\(error)")
            }
            slotsBySection[section.index] = slots
            var functions = elf.symbols
                .filter { Int($0.sectionIndex) == section.index && $0.type == ELFSymbol.typeFunc }
                .sorted { $0.value < $1.value }
                .map { Function(name: $0.name, section: section, start: Int($0.value) / 8, end: Int($0.value + $0.size) / 8,
                                isLocal: $0.binding == ELFSymbol.bindingLocal) }
            if functions.isEmpty {
                functions = [Function(name: section.name, section: section, start: 0, end: slots.count)]
            }
            for i in functions.indices {
                guard functions[i].start >= 0 && functions[i].start < slots.count else {
                    throw ObjectError(section.label, "function '\(functions[i].name)' starts at instruction \(functions[i].start), past the section's \(slots.count) instructions")
                }
                if functions[i].end <= functions[i].start || functions[i].end > slots.count {
                    // A symbol without a size: it runs to the next function or the section end.
                    functions[i].end = i + 1 < functions.count ? max(functions[i + 1].start, functions[i].start + 1) : slots.count
                    functions[i].end = min(functions[i].end, slots.count)
                }
            }
            functionsBySection[section.index] = functions
            var relocations: [Int: ELFRelocation] = [:]
            for relocation in elf.relocations[section.index] ?? [] {
                guard relocation.offset % 8 == 0, Int(relocation.offset / 8) < slots.count else {
                    throw ObjectError(section.label, "relocation at offset \(relocation.offset) is not on an instruction")
                }
                relocations[Int(relocation.offset / 8)] = relocation
            }
            relocationsBySection[section.index] = relocations
        }
        var programs: [ProgramSpec] = []
        for section in elf.sections where section.isExecutable && section.name != ".text" {
            let functions = functionsBySection[section.index] ?? []
            let entries = functions.contains { !$0.isLocal } ? functions.filter { !$0.isLocal } : functions
            for function in entries {
                programs.append(try link(function))
            }
        }
        return programs
    }

    /// The global functions of `.text`, linked as entry points of no type: an older loader's
    /// programs, or functions a caller runs by name with a type it gives.
    /// A function that cannot be linked on its own is left out (it stays a subprogram).
    mutating func linkTextFunctions() -> [ProgramSpec] {
        guard let text = elf.sections.first(where: { $0.name == ".text" && $0.isExecutable }) else { return [] }
        var programs: [ProgramSpec] = []
        for function in functionsBySection[text.index] ?? [] where !function.isLocal {
            if let linked = try? link(function) { programs.append(linked) }
        }
        return programs
    }

    /// Finds the function of a section containing an instruction index.
    func function(in section: Int, containing index: Int) -> Function? {
        functionsBySection[section]?.first { index >= $0.start && index < $0.end }
    }

    mutating func link(_ entry: Function) throws(ObjectError) -> ProgramSpec {
        let kind = SectionKind(section: entry.section.name)
        var output: [Instruction] = []
        var references: [Int: ProgramReference] = [:]
        var lines: [Int: SourceLine] = [:]
        var funcInfos: [FunctionInfo] = []
        var coreRelocations: [CORERelocation] = []
        // (section index, function start) → output offset
        var placed: [String: Int] = [:]
        var queue: [Function] = []
        var plannedLength = 0

        func key(_ f: Function) -> String { "\(f.section.index):\(f.start)" }
        func place(_ f: Function) -> Int {
            if let at = placed[key(f)] { return at }
            let at = plannedLength
            plannedLength += f.end - f.start
            placed[key(f)] = at
            queue.append(f)
            return at
        }
        _ = place(entry)
        // The exception callback the program names (`__exception_cb`): the kernel finds it among the
        // program's functions, so it is linked in though nothing calls it (as libbpf does).
        if let name = btf?.functionTags(of: entry.name, prefix: BTF.exceptionCallbackTag).first,
           let callback = functionsBySection.values.lazy.flatMap({ $0 }).first(where: { $0.name == name }) {
            _ = place(callback)
        }
        var cursor = 0
        while cursor < queue.count {
            let function = queue[cursor]
            cursor += 1
            let base = output.count
            let sectionSlots = slotsBySection[function.section.index]!
            output += sectionSlots[function.start..<function.end]
            let sectionName = function.section.name
            for line in btfExt?.lines[sectionName] ?? [] where line.instruction >= function.start && line.instruction < function.end {
                var moved = line
                moved.instruction = base + line.instruction - function.start
                lines[moved.instruction] = moved
            }
            for info in btfExt?.functions[sectionName] ?? [] where info.instruction >= function.start && info.instruction < function.end {
                funcInfos.append(FunctionInfo(instruction: base + info.instruction - function.start, typeID: info.typeID))
            }
            for relocation in btfExt?.coreRelocations[sectionName] ?? [] where relocation.instruction >= function.start && relocation.instruction < function.end {
                var moved = relocation
                moved.instruction = base + relocation.instruction - function.start
                coreRelocations.append(moved)
            }
            // Rewrite this function's instructions.
            var local = function.start
            while local < function.end {
                let out = base + local - function.start
                let ins = output[out]
                let location = "program '\(entry.name)' in \(function.section.label), instruction \(out)"
                let relocation = relocationsBySection[function.section.index]?[local]
                if ins.opcode == Opcode.call && ins.src == CallKind.local.rawValue || (ins.opcode == Opcode.call && relocation != nil) {
                    var targetSection = function.section.index
                    var target = local + 1 + Int(ins.imm)
                    if let relocation {
                        let symbol = elf.symbols[relocation.symbolIndex]
                        if symbol.sectionIndex == ELFSymbol.undefinedSection {
                            output[out].src = CallKind.kfunc.rawValue
                            output[out].imm = 0
                            references[out] = .kfunc(symbol.name)
                            local += 1
                            continue
                        }
                        targetSection = Int(symbol.sectionIndex)
                        target = Int(symbol.value) / 8 + Int(ins.imm) + 1
                    }
                    guard let callee = self.function(in: targetSection, containing: target) else {
                        throw ObjectError(location, "call target \(target) in section index \(targetSection) is not inside any function")
                    }
                    let calleeBase = place(callee)
                    output[out].src = CallKind.local.rawValue
                    output[out].imm = Int32(calleeBase + (target - callee.start) - (out + 1))
                } else if ins.opcode == Opcode.lddw, let relocation {
                    guard out + 1 < base + (function.end - function.start) else {
                        throw ObjectError(location, "lddw is the last slot of function '\(function.name)'; its second half is missing")
                    }
                    try resolveLoad(at: out, relocation: relocation, output: &output, references: &references, place: location) { callee, target in
                        place(callee) + (target - callee.start)
                    }
                } else if let relocation, relocation.type != ELFRelocation.bpfNone {
                    throw ObjectError(location, "relocation of type \(relocation.type) on opcode 0x\(String(ins.opcode, radix: 16)) is not supported")
                }
                local += ins.opcode == Opcode.lddw ? 2 : 1
            }
        }
        return ProgramSpec(
            name: entry.name, section: entry.section.name, type: kind?.type ?? .unspecified, attachType: kind?.attachType,
            attachTarget: kind?.attachTarget ?? "", isReturnProbe: kind?.isReturnProbe ?? false,
            instructions: output, references: references, sourceLines: lines, functionInfos: funcInfos,
            license: license, kernelVersion: kernelVersion, coreRelocations: coreRelocations)
    }

    func resolveLoad(at out: Int, relocation: ELFRelocation, output: inout [Instruction], references: inout [Int: ProgramReference],
                     place: String, functionOffset: (Function, Int) -> Int) throws(ObjectError) {
        let symbol = elf.symbols[relocation.symbolIndex]
        let sectionIndex = Int(symbol.sectionIndex)
        let addend = Int(output[out].imm)
        if symbol.sectionIndex == ELFSymbol.undefinedSection {
            if let entry = maps.kconfig[symbol.name] {
                output[out].src = LoadImmediateSource.mapValue.rawValue
                output[out].imm = 0
                output[out + 1].imm = Int32(entry.offset)
                references[out] = .mapValue(".kconfig", offset: entry.offset)
            } else {
                output[out].src = LoadImmediateSource.btfID.rawValue
                output[out].imm = 0
                references[out] = .external(symbol.name)
            }
            return
        }
        guard sectionIndex < elf.sections.count else {
            throw ObjectError(place, "relocation names symbol '\(symbol.name)' in a section that does not exist")
        }
        let section = elf.sections[sectionIndex]
        if maps.mapSectionIndices.contains(sectionIndex) {
            var name = symbol.name
            if symbol.type == ELFSymbol.typeSection || name.isEmpty {
                // A section symbol plus an offset: find the map defined there.
                let offset = Int(symbol.value) + addend
                guard let variable = maps.btfMapVariables.first(where: { offset >= $0.start && offset < $0.end }) else {
                    throw ObjectError(place, "reference to offset \(offset) of \(section.label) is not a map")
                }
                name = variable.name
            }
            guard maps.maps.contains(where: { $0.name == name }) else {
                throw ObjectError(place, "relocation names symbol '\(name)', which is not a map of \(section.label)")
            }
            output[out].src = LoadImmediateSource.mapFD.rawValue
            output[out].imm = 0
            references[out] = .map(name)
        } else if let mapName = maps.globalDataMaps[sectionIndex] {
            let offset = Int(symbol.value) + addend
            output[out].src = LoadImmediateSource.mapValue.rawValue
            output[out].imm = 0
            output[out + 1].imm = Int32(truncatingIfNeeded: offset)
            references[out] = .mapValue(mapName, offset: offset)
        } else if section.isExecutable {
            let target = (Int(symbol.value) + addend) / 8
            guard let callee = function(in: sectionIndex, containing: target) else {
                throw ObjectError(place, "function pointer to instruction \(target) of \(section.label) is not inside any function")
            }
            let at = functionOffset(callee, target)
            output[out].src = LoadImmediateSource.function.rawValue
            output[out].imm = Int32(at - (out + 1))
            output[out + 1].imm = 0
        } else {
            throw ObjectError(place, "relocation names symbol '\(symbol.name)' in \(section.label), which holds no maps, data or code")
        }
    }
}
