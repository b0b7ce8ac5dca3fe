import BPFCore
import BPFLinux
import BPFObject
import BPFRuntime
import SwiftBPF

/// Shows the maps of a loaded object by their BTF types, for every map kind: keyed maps as
/// `{key: ..., value: ...}`, per-CPU maps with one value per CPU, queues and stacks by value, ring
/// buffers and perf event arrays by their pending records, program arrays and maps of maps by
/// what their slots hold. Kernel maps show the same, except ring buffers and perf event arrays
/// (their records are read by a reader, not through the map) and slots as kernel ids.
struct MapDump {
    let collection: BPFCollection

    /// One line or JSON entry.
    struct Entry {
        var key: [UInt8]?
        var value: [UInt8]
        var formatted: String
    }

    func format(_ bytes: [UInt8], _ type: Int?) -> String {
        if let type, let btf = collection.object.btf { return BTFValueFormatter(btf: btf).format(bytes, type: type) }
        return BTFValueFormatter.hex(bytes)
    }

    func u32(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }

    /// The entries of one map, formatted.
    func entries(_ map: AnyBPFMap) -> [Entry] {
        switch map.storage {
        case .runtime(let runtimeMap): return entries(runtimeMap)
        case .kernel(let kernelMap): return entries(kernelMap, spec: map.spec)
        }
    }

    /// A kernel map's entries: the same shapes as the runtime's, slots by kernel id.
    func entries(_ map: KernelMap, spec: MapSpec) -> [Entry] {
        switch spec.type {
        case .queue, .stack:
            // Read by popping everything, then put back in the same order.
            var values: [[UInt8]] = []
            while let value = try? map.pop() { values.append(value) }
            for value in spec.type == .stack ? values.reversed() : values { try? map.push(value) }
            return values.map { Entry(key: nil, value: $0, formatted: format($0, spec.valueType)) }
        case .ringBuffer, .perfEventArray, .bloomFilter, .userRingBuffer:
            return []
        default:
            break
        }
        let keys = (try? map.keys()) ?? []
        return keys.compactMap { key -> Entry? in
            guard let value = try? map.lookup(key: key) else { return nil }
            let keyText = format(key, spec.keyType)
            switch spec.type {
            case .programArray:
                let id = u32(value)
                let name = collection.programs.values.first { program in
                    if case .kernel(let p) = program.storage { return (try? p.info().id) == id }
                    return false
                }?.name ?? "?"
                return Entry(key: key, value: value, formatted: "{key: \(keyText), program: \(name) (id \(id))}")
            case .arrayOfMaps, .hashOfMaps:
                let id = u32(value)
                let name = collection.maps.first { other in
                    if case .kernel(let m) = other.storage { return (try? m.info().id) == id }
                    return false
                }?.name ?? "?"
                return Entry(key: key, value: value, formatted: "{key: \(keyText), map: \(name) (id \(id))}")
            default:
                return entry(key: key, value: value, spec: spec)
            }
        }
    }

    /// A plain entry: global data by value, per-CPU maps with one value per CPU, others key and value.
    func entry(key: [UInt8], value: [UInt8], spec: MapSpec) -> Entry {
        let keyText = format(key, spec.keyType)
        if spec.type.isPerCPU {
            let slot = (spec.valueSize + 7) & ~7
            let cpus = (0..<(value.count / slot)).map { cpu in
                "cpu\(cpu): " + format(Array(value[cpu * slot..<cpu * slot + spec.valueSize]), spec.valueType)
            }
            return Entry(key: key, value: value, formatted: "{key: \(keyText), values: [\(cpus.joined(separator: ", "))]}")
        }
        if spec.isGlobalData { return Entry(key: key, value: value, formatted: format(value, spec.valueType)) }
        return Entry(key: key, value: value, formatted: "{key: \(keyText), value: \(format(value, spec.valueType))}")
    }

    /// A runtime map's entries.
    func entries(_ map: RuntimeMap) -> [Entry] {
        let spec = map.spec
        switch spec.type {
        case .queue, .stack:
            guard let values = try? (map as RuntimeMap).queueValues() else { return [] }
            return values.map { Entry(key: nil, value: $0, formatted: format($0, spec.valueType)) }
        case .ringBuffer:
            return ((try? map.pendingRingBufferRecords()) ?? []).map { Entry(key: nil, value: $0, formatted: BTFValueFormatter.hex($0)) }
        case .perfEventArray:
            return (0..<spec.maxEntries).flatMap { cpu in
                ((try? map.pendingPerfEvents(cpu: cpu)) ?? []).map {
                    Entry(key: RuntimeMapBytes.u32(UInt32(cpu)), value: $0, formatted: "{cpu: \(cpu), record: \(BTFValueFormatter.hex($0))}")
                }
            }
        case .bloomFilter:
            return []
        default:
            break
        }
        return map.entries().map { key, value in
            let keyText = format(key, spec.keyType)
            switch spec.type {
            case .programArray:
                let name = (try? map.program(at: Int(u32(key))))??.spec.name ?? "?"
                return Entry(key: key, value: value, formatted: "{key: \(keyText), program: \(name) (id \(u32(value)))}")
            case .arrayOfMaps, .hashOfMaps:
                let name = (try? map.innerMap(key: key))??.spec.name ?? "?"
                return Entry(key: key, value: value, formatted: "{key: \(keyText), map: \(name) (id \(u32(value)))}")
            default:
                return entry(key: key, value: value, spec: spec)
            }
        }
    }

    /// A map's heading: name, kind and how much it holds.
    func heading(_ map: AnyBPFMap, count: Int) -> String {
        let kind = map.spec.type.kernelName
        let kernel = map.backend == .kernel
        switch map.spec.type {
        case .queue, .stack: return "map \(map.spec.name) (\(kind), \(count) values):"
        case .ringBuffer where kernel, .perfEventArray where kernel: return "map \(map.spec.name) (\(kind), records are read by a ring or perf buffer reader):"
        case .ringBuffer: return "map \(map.spec.name) (\(kind), \(count) records pending):"
        case .perfEventArray: return "map \(map.spec.name) (\(kind), \(count) records pending):"
        case .bloomFilter: return "map \(map.spec.name) (\(kind), contents cannot be listed):"
        default: return "map \(map.spec.name) (\(kind), \(count) entries):"
        }
    }

    func maps(named name: String?) -> [AnyBPFMap] {
        guard let name else { return collection.maps }
        return collection.maps.filter { $0.spec.name == name }
    }

    func printText(only name: String? = nil) {
        for map in maps(named: name) {
            let list = entries(map)
            print(heading(map, count: list.count))
            for entry in list { print("  \(entry.formatted)") }
        }
    }

    func json(only name: String? = nil) -> JSONOutput {
        .object(maps(named: name).map { map in
            (map.spec.name, .array(entries(map).map { entry in
                .object([
                    ("key", .string(Hex.string(entry.key ?? [], separator: ""))),
                    ("value", .string(Hex.string(entry.value, separator: ""))),
                    ("formatted", .string(entry.formatted)),
                ])
            }))
        })
    }
}

/// Little-endian bytes of integers.
enum RuntimeMapBytes {
    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}
