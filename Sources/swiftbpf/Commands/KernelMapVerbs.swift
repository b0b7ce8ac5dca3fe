import ArgumentParser
import BPFCore
import BPFLinux
import BPFObject
import Foundation

/// bpftool's selectors for a kernel map: `id N`, `pinned PATH`, `name NAME`.
struct MapSelector: ParsableArguments {
    @Argument(help: "How the map is named: id, pinned or name.") var kind: String
    @Argument(help: "The map's id, pin path or name.") var target: String

    /// Opens the map; the label names it in messages.
    func open() throws -> (map: KernelMap, label: String) {
        switch kind {
        case "id":
            guard let id = UInt32(target) else { throw CLIError("id \(target): expected a map id (a number up to \(UInt32.max))") }
            do { return (try KernelMap.open(id: id), "map \(id)") } catch { throw CLIError("map \(id): \(error)") }
        case "pinned":
            do { return (try KernelMap.pinned(at: target), "map pinned at \(target)") } catch { throw CLIError("pinned \(target): \(error)") }
        case "name":
            let id = try uniqueKernelObject(kind: "map", selector: "name", target, ids: { () throws(BPFError) in try KernelObjects.mapIDs() }) {
                (try? KernelMap.open(id: $0).info().name) == target
            }
            do { return (try KernelMap.open(id: id), "map '\(target)' (id \(id))") } catch { throw CLIError("map \(id): \(error)") }
        default:
            throw CLIError("'\(kind)': a map is selected by id N, pinned PATH or name NAME")
        }
    }
}

/// The one kernel object whose id `matches` accepts, among `ids()`: an error names the selector
/// when none or several match (several: their ids, to choose one with `id N`).
func uniqueKernelObject(kind: String, selector: String, _ target: String, ids: () throws(BPFError) -> [UInt32],
                        matches: (UInt32) -> Bool) throws -> UInt32 {
    let all: [UInt32]
    do { all = try ids() } catch { throw CLIError("listing \(kind)s: \(error)") }
    let found = all.filter(matches)
    guard let id = found.first else { throw CLIError("\(selector) \(target): no loaded \(kind) has that \(selector)") }
    guard found.count == 1 else {
        throw CLIError("\(selector) \(target): \(found.count) \(kind)s match (ids \(found.map(String.init).joined(separator: ", "))); choose one with id N")
    }
    return id
}

/// Hex bytes from an option, sized for the map.
func mapBytes(_ text: String, option: String, size: Int, label: String) throws -> [UInt8] {
    let bytes: [UInt8]
    do { bytes = try Hex.bytes(text) } catch { throw CLIError("\(option) \(text): \(error)") }
    guard bytes.count == size else { throw CLIError("\(option): \(label) takes \(size) bytes, given \(bytes.count)") }
    return bytes
}

/// A key or value given as hex bytes of the map's size, or — when the map has BTF and the type is
/// an integer or enum (through typedefs and qualifiers) — as a number (`--key 6`, `--value 0x10`, `-3`),
/// encoded little-endian in the type's size, as `bpftool map` takes typed values.
func mapBytes(_ text: String, option: String, size: Int, label: String, map: KernelMap, value: Bool) throws -> [UInt8] {
    if let bytes = try? Hex.bytes(text), bytes.count == size { return bytes }
    let trimmed = text.trimmingCharacters(in: .whitespaces)
    let negative = trimmed.hasPrefix("-")
    let digits = negative ? String(trimmed.dropFirst()) : trimmed
    let magnitude = digits.lowercased().hasPrefix("0x") ? UInt64(digits.dropFirst(2), radix: 16) : UInt64(digits)
    guard let magnitude, let info = try? map.info(), info.btfID != 0,
          let btfObject = try? KernelBTF.open(id: info.btfID), let raw = try? btfObject.bytes(), let btf = try? BTF(bytes: raw) else {
        return try mapBytes(text, option: option, size: size, label: label)
    }
    btfObject.close()
    var id = Int(value ? info.btfValueTypeID : info.btfKeyTypeID)
    while let type = btf[id], [.typedef, .const, .volatile, .restrict, .typeTag].contains(type.kind) { id = type.referencedType }
    guard let type = btf[id], [.int, .enumeration, .enumeration64].contains(type.kind), type.sizeOrType == size else {
        throw CLIError("\(option) \(text): \(label)'s \(value ? "value" : "key") is not an integer type; give \(size) hex bytes")
    }
    let encoded = negative ? UInt64(bitPattern: -Int64(bitPattern: magnitude)) : magnitude
    if size < 8 {
        let limit = UInt64(1) << UInt64(size * 8)
        guard negative ? magnitude <= limit / 2 : magnitude < limit else {
            throw CLIError("\(option) \(text): does not fit the \(size)-byte \(value ? "value" : "key") of \(label)")
        }
    }
    return (0..<size).map { UInt8(truncatingIfNeeded: encoded >> (8 * UInt64($0))) }
}

/// `swiftbpf map lookup|update|delete|getnext|push|pop|peek|freeze|show SELECTOR ...`.
struct MapLookupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lookup", abstract: "Look a key up in a kernel map (id N | pinned PATH | name NAME).")
    @OptionGroup var map: MapSelector
    @Option(help: "The key, as hex bytes (e.g. 06000000), or a number when the key's BTF type is an integer.") var key: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let (m, label) = try map.open()
        let key = try mapBytes(self.key, option: "--key", size: m.keySize, label: label, map: m, value: false)
        let value: [UInt8]?
        do { value = try m.lookup(key: key) } catch { throw CLIError("\(label): lookup: \(error)") }
        // Per-CPU maps: one value per possible CPU (8-byte-aligned slots).
        let slot = (m.valueSize + 7) & ~7
        let perCPU = m.type.isPerCPU ? value.map { v in stride(from: 0, to: v.count, by: slot).map { Array(v[$0..<min($0 + m.valueSize, v.count)]) } } : nil
        if json {
            var fields: [(String, JSONOutput)] = [("key", .string(hexString(key))), ("value", value.map { .string(hexString($0)) } ?? .null)]
            if let perCPU { fields.append(("values", .array(perCPU.map { .string(hexString($0)) }))) }
            print(JSONOutput.object(fields))
        } else if let perCPU {
            print("key: \(hexString(key))  " + perCPU.enumerated().map { "cpu\($0.offset) \(hexString($0.element))" }.joined(separator: "  "))
        } else if let value {
            print("key: \(hexString(key))  value: \(hexString(value))")
        } else {
            print("key: \(hexString(key))  not found")
        }
        if value == nil { throw ExitCode(1) }
    }
}

struct MapUpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Set a key's value in a kernel map.")
    @OptionGroup var map: MapSelector
    @Option(help: "The key, as hex bytes.") var key: String
    @Option(help: "The value, as hex bytes (per-CPU maps: one 8-byte-aligned slot per possible CPU).") var value: String
    @Option(help: "any (create or replace), noexist (create only) or exist (replace only).") var flags: String = "any"
    @Flag(help: "Print JSON: {\"key\", \"value\"} as stored.") var json = false

    func run() throws {
        let (m, label) = try map.open()
        let key = try mapBytes(self.key, option: "--key", size: m.keySize, label: label, map: m, value: false)
        let slots = m.type.isPerCPU ? ((m.valueSize + 7) & ~7) * (try PossibleCPUs.count) : m.valueSize
        let value = m.type.isPerCPU ? try mapBytes(self.value, option: "--value", size: slots, label: label)
            : try mapBytes(self.value, option: "--value", size: slots, label: label, map: m, value: true)
        let mode: KernelMap.UpdateFlags
        switch flags {
        case "any": mode = .any
        case "noexist": mode = .noExist
        case "exist": mode = .exist
        default: throw CLIError("--flags \(flags): expected any, noexist or exist")
        }
        do { try m.update(key: key, value: value, flags: mode) } catch { throw CLIError("\(label): update: \(error)") }
        if json { print(JSONOutput.object([("key", .string(hexString(key))), ("value", .string(hexString(value)))])) }
    }
}

struct MapDeleteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a key from a kernel map.")
    @OptionGroup var map: MapSelector
    @Option(help: "The key, as hex bytes.") var key: String
    @Flag(help: "Print JSON: {\"key\"} deleted.") var json = false

    func run() throws {
        let (m, label) = try map.open()
        let key = try mapBytes(self.key, option: "--key", size: m.keySize, label: label, map: m, value: false)
        do { try m.delete(key: key) } catch { throw CLIError("\(label): delete: \(error)") }
        if json { print(JSONOutput.object([("key", .string(hexString(key)))])) }
    }
}

struct MapGetNextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "getnext", abstract: "The key after --key in a kernel map (the first key without one).")
    @OptionGroup var map: MapSelector
    @Option(help: "The key, as hex bytes.") var key: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let (m, label) = try map.open()
        let key = try self.key.map { try mapBytes($0, option: "--key", size: m.keySize, label: label, map: m, value: false) }
        let next: [UInt8]?
        do { next = try m.nextKey(after: key) } catch { throw CLIError("\(label): getnext: \(error)") }
        if json {
            print(JSONOutput.object([("key", key.map { .string(hexString($0)) } ?? .null), ("next_key", next.map { .string(hexString($0)) } ?? .null)]))
        } else {
            print(next.map { "next key: \(hexString($0))" } ?? "no next key")
        }
    }
}

struct MapPushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "push", abstract: "Push a value onto a kernel queue or stack map.")
    @OptionGroup var map: MapSelector
    @Option(help: "The value, as hex bytes.") var value: String
    @Flag(help: "Print JSON: {\"value\"} pushed.") var json = false

    func run() throws {
        let (m, label) = try map.open()
        let value = try mapBytes(self.value, option: "--value", size: m.valueSize, label: label)
        do { try m.push(value) } catch { throw CLIError("\(label): push: \(error)") }
        if json { print(JSONOutput.object([("value", .string(hexString(value)))])) }
    }
}

struct MapPopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pop", abstract: "Pop a value from a kernel queue or stack map.")
    @OptionGroup var map: MapSelector
    @Flag(help: "Print JSON.") var json = false

    func run() throws { try MapPeekCommand.show(map, remove: true, json: json) }
}

struct MapPeekCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "peek", abstract: "The value a pop would take from a kernel queue or stack map.")
    @OptionGroup var map: MapSelector
    @Flag(help: "Print JSON.") var json = false

    func run() throws { try Self.show(map, remove: false, json: json) }

    static func show(_ selector: MapSelector, remove: Bool, json: Bool) throws {
        let (m, label) = try selector.open()
        let value: [UInt8]?
        do { value = remove ? try m.pop() : try m.peek() } catch { throw CLIError("\(label): \(remove ? "pop" : "peek"): \(error)") }
        if json {
            print(JSONOutput.object([("value", value.map { .string(hexString($0)) } ?? .null)]))
        } else {
            print(value.map { "value: \(hexString($0))" } ?? "empty")
        }
    }
}

struct MapFreezeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "freeze", abstract: "Freeze a kernel map: user space may no longer change it.")
    @OptionGroup var map: MapSelector
    @Flag(help: "Print JSON: {\"frozen\": true}.") var json = false

    func run() throws {
        let (m, label) = try map.open()
        do { try m.freeze() } catch { throw CLIError("\(label): freeze: \(error)") }
        if json { print(JSONOutput.object([("frozen", .bool(true))])) }
    }
}

struct MapShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one kernel map's type, sizes, flags and BTF id.")
    @OptionGroup var map: MapSelector
    @Flag(help: "Print JSON (the fields of map list).") var json = false

    func run() throws {
        let (m, label) = try map.open()
        let info: MapInfo
        do { info = try m.info() } catch { throw CLIError("\(label): \(error)") }
        if json {
            print(KernelMapDump.json(info))
        } else {
            print("\(info.id): \(info.typeName)  name \(info.name.isEmpty ? "-" : info.name)  flags 0x\(String(info.flags, radix: 16))")
            print("\tkey \(info.keySize)B  value \(info.valueSize)B  max_entries \(info.maxEntries)" + (info.btfID != 0 ? "  btf_id \(info.btfID)" : ""))
        }
    }
}

/// `swiftbpf map create PATH --type T --key N --value N --entries N [--name NAME] [--flags N] [--inner-map SELECTOR...]`.
struct MapCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a kernel map and pin it at PATH (as bpftool map create).",
        discussion: "Types as the kernel spells them (hash, array, percpu_hash, lru_hash, ringbuf, queue, ...; BPF_MAP_TYPE_ and case optional). --json prints the fields of map list. Maps of maps take their inner map's shape from --inner-map (id N | pinned PATH | name NAME)."
    )
    @Argument(help: "The pin path (on a bpffs).") var path: String
    @Option(help: "The map type (hash, array, percpu_array, ringbuf, ...).") var type: String
    @Option(help: "The key size in bytes.") var key: Int = 4
    @Option(help: "The value size in bytes.") var value: Int = 4
    @Option(help: "max_entries.") var entries: Int
    @Option(help: "The map's name (at most 15 characters).") var name: String = ""
    @Option(help: "map_flags (BPF_F_*), as a number.") var flags: UInt32 = 0
    @Option(parsing: .upToNextOption, help: "For maps of maps: the inner map, id N | pinned PATH | name NAME.") var innerMap: [String] = []
    @Flag(help: "Print JSON: the fields of map list.") var json = false

    func run() throws {
        guard let mapType = MapType.parse(type) else {
            throw CLIError("--type \(type): not a map type (\(MapType.kernelNames.joined(separator: ", ")))")
        }
        guard key >= 0, value >= 0, entries >= 0, key <= Int(UInt32.max), value <= Int(UInt32.max), entries <= Int(UInt32.max) else {
            throw CLIError("--key, --value and --entries are sizes from 0 to \(UInt32.max)")
        }
        var inner: KernelMap?
        if mapType == .arrayOfMaps || mapType == .hashOfMaps {
            guard innerMap.count == 2 else { throw CLIError("--inner-map: a \(mapType) needs its inner map: id N | pinned PATH | name NAME") }
            inner = try MapSelector.parse(innerMap).open().map
        }
        try PinLocation.prepare((path as NSString).deletingLastPathComponent, option: "pin path")
        let spec = MapSpec(name: name.isEmpty ? (path as NSString).lastPathComponent : name, type: mapType, keySize: key,
                           valueSize: value, maxEntries: entries, flags: flags)
        let map: KernelMap
        do { map = try KernelMap(spec, innerMap: inner) } catch { throw CLIError("creating \(mapType) map: \(error)") }
        do { try map.pin(at: path) } catch { throw CLIError("pin at \(path): \(error)") }
        if json, let info = try? map.info() { print(KernelMapDump.json(info)) }
    }
}
