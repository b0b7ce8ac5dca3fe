/// A global variable of an object: a C global in `.rodata`, `.data` or `.bss` (or one of their
/// `.rodata.*`, `.data.*`, `.bss.*` sections), which both backends keep as the single value of that
/// section's map. `const volatile` globals are the program's constants (`.rodata`): set them before
/// loading, as libbpf's skeletons and cilium/ebpf's `RewriteConstants` do; the others may also be
/// read and written once loaded.
///
/// ```swift
/// var object = try ObjectFile(contentsOf: "tracer.bpf.o")
/// print(object.globals.map(\.name))                    // ["target_pid", "events_seen"]
/// try object.setGlobal("target_pid", to: UInt32(42))   // size checked against BTF
/// ```
public struct GlobalVariable: Hashable, Sendable {
    /// The C name.
    public var name: String
    /// The data section, which is also the name of the map holding it (`.rodata`, `.bss`, ...).
    public var section: String
    /// Byte offset within the section.
    public var offset: Int
    /// Size in bytes.
    public var size: Int
    /// The variable's BTF type id (its `VAR`'s type), when the object has BTF.
    public var type: Int?
    /// The C type as BTF spells it (`u32`, `struct config`, ...), or nil without BTF.
    public var typeName: String?

    /// Whether the variable is a constant: in `.rodata*`, frozen once loaded.
    public var isConstant: Bool { section.hasPrefix(".rodata") }
}

extension ObjectFile {
    /// The global variable with this name.
    public func global(named name: String) -> GlobalVariable? { globals.first { $0.name == name } }

    /// Sets the initial bytes of a global variable before loading (the `.rodata` constants a program
    /// is configured with, or the first values of `.data`/`.bss` ones). `bytes` must be exactly the
    /// variable's size.
    ///
    /// ```swift
    /// try object.setGlobal("target_pid", bytes: [42, 0, 0, 0])
    /// ```
    public mutating func setGlobal(_ name: String, bytes: [UInt8]) throws(ObjectError) {
        guard let variable = global(named: name) else {
            let names = globals.map(\.name)
            throw ObjectError("global '\(name)'", names.isEmpty
                ? "no such global variable (the object has none)"
                : "no such global variable (globals: \(names.joined(separator: ", ")))")
        }
        guard bytes.count == variable.size else {
            throw ObjectError("global '\(name)'", "is \(variable.describedType) of \(variable.size) bytes; got \(bytes.count) bytes")
        }
        guard let i = maps.firstIndex(where: { $0.name == variable.section }) else {
            throw ObjectError("global '\(name)'", "its section \(variable.section) has no map")
        }
        var value = maps[i].initialValue ?? [UInt8](repeating: 0, count: maps[i].valueSize)
        guard variable.offset >= 0, variable.offset + variable.size <= value.count else {
            throw ObjectError("global '\(name)'", "lies outside its section \(variable.section) (\(value.count) bytes)")
        }
        value.replaceSubrange(variable.offset..<(variable.offset + variable.size), with: bytes)
        setInitialValue(value, ofMap: i)
    }

    /// Sets a global variable to `value`, whose type must be exactly the variable's size.
    ///
    /// ```swift
    /// try object.setGlobal("target_pid", to: UInt32(42))
    /// ```
    public mutating func setGlobal<T: BitwiseCopyable>(_ name: String, to value: T) throws(ObjectError) {
        if let variable = global(named: name), MemoryLayout<T>.size != variable.size {
            throw ObjectError("global '\(name)'", "is \(variable.describedType) of \(variable.size) bytes; \(T.self) is \(MemoryLayout<T>.size) bytes")
        }
        try setGlobal(name, bytes: withUnsafeBytes(of: value) { Array($0) })
    }

    /// The initial value of a global variable (what the object holds, or what `setGlobal` set).
    public func initialValue<T: BitwiseCopyable>(ofGlobal name: String, as type: T.Type = T.self) throws(ObjectError) -> T {
        guard let variable = global(named: name) else {
            throw ObjectError("global '\(name)'", "no such global variable")
        }
        guard MemoryLayout<T>.size == variable.size else {
            throw ObjectError("global '\(name)'", "is \(variable.describedType) of \(variable.size) bytes; \(T.self) is \(MemoryLayout<T>.size) bytes")
        }
        guard let spec = map(named: variable.section) else { throw ObjectError("global '\(name)'", "its section \(variable.section) has no map") }
        let value = spec.initialValue ?? [UInt8](repeating: 0, count: spec.valueSize)
        return value[variable.offset..<(variable.offset + variable.size)].withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }
}

extension GlobalVariable {
    /// The type for messages: `u32`, or "a variable" without BTF.
    var describedType: String { typeName.map { "'\($0)'" } ?? "a variable" }
}

extension MapReader {
    /// The named variables of every global-data map: from BTF's data sections when present (their
    /// offsets already fixed from the symbol table), else from the ELF symbols placed in the section.
    func globalVariables() -> [GlobalVariable] {
        var result: [GlobalVariable] = []
        for spec in maps {
            guard case .globalData(let section) = spec.origin, section != ".kconfig" else { continue }
            if let btf, let id = btf.typeID(named: section, kind: .dataSection), let datasec = btf[id],
               case let .variables(vars) = datasec.detail {
                for v in vars {
                    guard let variable = btf[v.type], variable.kind == .variable, !variable.name.isEmpty else { continue }
                    result.append(GlobalVariable(name: variable.name, section: section, offset: v.offset, size: v.size,
                                                 type: variable.referencedType, typeName: btf.typeName(variable.referencedType)))
                }
            } else if let elfSection = elf.section(named: section) {
                for symbol in elf.symbols where Int(symbol.sectionIndex) == elfSection.index
                    && symbol.type == ELFSymbol.typeObject && !symbol.name.isEmpty {
                    result.append(GlobalVariable(name: symbol.name, section: section, offset: Int(symbol.value),
                                                 size: Int(symbol.size), type: nil, typeName: nil))
                }
            }
        }
        return result
    }
}
