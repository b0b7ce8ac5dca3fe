import ArgumentParser
import BPFLinux
import BPFObject
import Foundation

/// `swiftbpf map list [--json]`: every map in the running kernel.
struct MapListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List every map in the running kernel.")
    @Flag(help: "Print a JSON array of map objects.") var json = false

    func run() throws {
        let ids: [UInt32]
        do { ids = try KernelObjects.mapIDs() } catch { throw CLIError("listing maps: \(error)") }
        let infos = forEachKernelObject(ids) { id -> MapInfo? in try? KernelMap.open(id: id).info() }
        if json {
            print(JSONOutput.array(infos.map(KernelMapDump.json)))
        } else {
            for info in infos {
                var line = "\(info.id): \(info.typeName)  name \(info.name.isEmpty ? "-" : info.name)  flags 0x\(String(info.flags, radix: 16))"
                line += "\n\tkey \(info.keySize)B  value \(info.valueSize)B  max_entries \(info.maxEntries)"
                if info.btfID != 0 { line += "  btf_id \(info.btfID)" }
                print(line)
            }
        }
    }
}

/// `swiftbpf map dump ID` / `map dump --id ID`: a kernel map's entries in hex.
struct KernelMapDump {
    let id: UInt32
    let json: Bool

    static func json(_ info: MapInfo) -> JSONOutput {
        .object([
            ("id", .number(UInt64(info.id))),
            ("type", .string(info.typeName)),
            ("name", .string(info.name)),
            ("key_size", .number(UInt64(info.keySize))),
            ("value_size", .number(UInt64(info.valueSize))),
            ("max_entries", .number(UInt64(info.maxEntries))),
            ("flags", .number(UInt64(info.flags))),
            ("btf_id", .number(UInt64(info.btfID))),
        ])
    }

    func run() throws {
        let map: KernelMap
        do { map = try KernelMap.open(id: id) } catch { throw CLIError("map \(id): \(error)") }
        let dump = try Self.dump(map, label: "map \(id)")
        print(json ? dump.json.description : dump.text)
    }

    /// The entries of `map` as the JSON object `{"map": {...}, "entries": [...]}` and as text lines;
    /// `label` names the map in errors.
    static func dump(_ map: KernelMap, label: String) throws -> (json: JSONOutput, text: String) {
        let info: MapInfo
        do { info = try map.info() } catch { throw CLIError("\(label): \(error)") }
        var entries: [(key: [UInt8]?, value: [UInt8]?, error: String?)] = []
        switch info.type {
        case .queue, .stack:
            if let value = try? map.peek() { entries.append((nil, value, nil)) }
        case .ringBuffer, .perfEventArray, .userRingBuffer:
            break   // records, not entries: read them with a RingBuffer / PerfBuffer
        default:
            let keys: [[UInt8]]
            do { keys = try map.keys() } catch { throw CLIError("\(label) (\(info.name)): \(error)") }
            for key in keys {
                do { entries.append((key, try map.lookup(key: key), nil)) } catch { entries.append((key, nil, "\(error)")) }
            }
        }
        let perCPU = info.type?.isPerCPU == true
        let slot = (info.valueSize + 7) & ~7
        // Maps created with BTF key and value types are also printed by them, as the runtime's are.
        var formatter: BTFValueFormatter?
        if info.btfID != 0, info.btfValueTypeID != 0, let btf = try? KernelBTF.open(id: info.btfID),
           let bytes = try? btf.bytes(), let parsed = try? BTF(bytes: bytes) {
            formatter = BTFValueFormatter(btf: parsed)
            btf.close()
        }
        func formatted(_ bytes: [UInt8], _ type: UInt32) -> String? {
            guard let formatter, type != 0 else { return nil }
            return formatter.format(bytes, type: Int(type))
        }
        func split(_ value: [UInt8]) -> [[UInt8]] {
            stride(from: 0, to: value.count, by: slot).map { Array(value[$0..<min($0 + info.valueSize, value.count)]) }
        }
        let items: [JSONOutput] = entries.map { entry in
            var fields: [(String, JSONOutput)] = [("key", entry.key.map { .string(hexString($0)) } ?? .null)]
            if let value = entry.value {
                if perCPU {
                    fields.append(("values", .array(split(value).map { .string(hexString($0)) })))
                } else {
                    fields.append(("value", .string(hexString(value))))
                }
            }
            if formatter != nil {
                var text: [String] = []
                if let key = entry.key, let k = formatted(key, info.btfKeyTypeID) { text.append("key: \(k)") }
                if let value = entry.value {
                    let values = perCPU ? split(value) : [value]
                    text.append("value: " + values.compactMap { formatted($0, info.btfValueTypeID) }.joined(separator: ", "))
                }
                fields.append(("formatted", .string("{" + text.joined(separator: ", ") + "}")))
            }
            if let error = entry.error { fields.append(("error", .string(error))) }
            return .object(fields)
        }
        var lines = ["map \(info.id) \(info.name.isEmpty ? "-" : info.name) (\(info.typeName)): \(entries.count) entries"]
        for entry in entries {
            if formatter != nil, let value = entry.value, !perCPU, let v = formatted(value, info.btfValueTypeID) {
                let k = entry.key.flatMap { formatted($0, info.btfKeyTypeID) }
                lines.append("  {" + (k.map { "key: \($0), " } ?? "") + "value: \(v)}")
                continue
            }
            let key = entry.key.map { "key \(hexString($0))" } ?? "head"
            if let value = entry.value {
                if perCPU {
                    lines.append("\(key): " + split(value).enumerated().map { "cpu\($0.offset) \(hexString($0.element))" }.joined(separator: "  "))
                } else {
                    lines.append("\(key): value \(hexString(value))")
                }
            } else {
                lines.append("\(key): \(entry.error ?? "no value")")
            }
        }
        return (.object([("map", json(info)), ("entries", .array(items))]), lines.joined(separator: "\n"))
    }
}
