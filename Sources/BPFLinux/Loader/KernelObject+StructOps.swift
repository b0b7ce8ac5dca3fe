import BPFObject
import CBPFLinuxSupport

/// A struct_ops map as the loader prepared it: laid out for the running kernel, its programs loaded,
/// the value that registers it ready (program fds in place).
struct PreparedStructOps: Sendable {
    var layout: StructOpsKernelLayout
    /// The value for `BPF_MAP_UPDATE_ELEM`, or nil when one of its programs was refused.
    var value: [UInt8]?
    /// Why `value` is nil.
    var missing: String?
}

extension KernelObject {
    /// Lays out every struct_ops map of `object` against `kernel`'s BTF (see
    /// `StructOpsSpec.kernelLayout(in:map:)`), and checks that a program two maps share implements
    /// the same member of the same kernel type in both (it is loaded once, for one member).
    static func structOpsLayouts(_ object: ObjectFile, kernel: BTF) throws(BPFError) -> [String: StructOpsKernelLayout] {
        var layouts: [String: StructOpsKernelLayout] = [:]
        var implemented: [String: (map: String, member: String, typeID: Int, index: Int)] = [:]
        for map in object.maps {
            guard let spec = map.structOps else { continue }
            let layout: StructOpsKernelLayout
            do { layout = try spec.kernelLayout(in: kernel, map: map.name) } catch {
                throw BPFError.invalidArgument(error.description, command: .mapCreate)
            }
            for function in layout.functions {
                if let earlier = implemented[function.program] {
                    guard earlier.typeID == layout.typeID, earlier.index == function.memberIndex else {
                        throw BPFError.invalidArgument("struct_ops map '\(map.name)', member '\(function.member)': program '\(function.program)' already implements member '\(earlier.member)' of struct_ops map '\(earlier.map)'; a program implements one member of one struct type", command: .progLoad)
                    }
                } else {
                    implemented[function.program] = (map.name, function.member, layout.typeID, function.memberIndex)
                }
            }
            layouts[map.name] = layout
        }
        return layouts
    }

    /// The attach BTF id (the kernel struct) and member index (the expected attach type) a struct_ops
    /// program is loaded with, from the first map that names it.
    static func structOpsTarget(of spec: ProgramSpec, layouts: [String: StructOpsKernelLayout], object: ObjectFile) throws(BPFError) -> (typeID: Int, memberIndex: Int) {
        for map in object.maps {
            guard let layout = layouts[map.name], let function = layout.functions.first(where: { $0.program == spec.name }) else { continue }
            return (layout.typeID, function.memberIndex)
        }
        if let implementation = spec.structOps {
            throw BPFError.invalidArgument("program '\(spec.name)' (section '\(spec.section)'): it implements member '\(implementation.member)' of struct_ops map '\(implementation.map)', which the kernel's struct \(implementation.kernelTypeName) lacks", command: .progLoad)
        }
        throw BPFError.invalidArgument("program '\(spec.name)' (section '\(spec.section)'): no struct_ops map names it, so nothing says which kernel struct and member it implements (set it in a SEC(\".struct_ops\") variable)", command: .progLoad)
    }

    /// The values that register each struct_ops map: the layout's value with each program's fd at
    /// its member. A map whose program was not loaded gets none, and says which.
    static func prepareStructOps(_ layouts: [String: StructOpsKernelLayout], programs: [String: KernelProgram]) -> [String: PreparedStructOps] {
        var prepared: [String: PreparedStructOps] = [:]
        for (name, layout) in layouts {
            var value: [UInt8]? = layout.value
            var missing: String?
            for function in layout.functions {
                guard let program = programs[function.program] else {
                    value = nil
                    missing = "program '\(function.program)' (member '\(function.member)') was not loaded"
                    break
                }
                let fd = UInt64(UInt32(bitPattern: program.fd.rawValue))
                let bytes = withUnsafeBytes(of: fd.littleEndian) { Array($0) }
                value?.replaceSubrange(function.valueOffset..<(function.valueOffset + 8), with: bytes)
            }
            prepared[name] = PreparedStructOps(layout: layout, value: value, missing: missing)
        }
        return prepared
    }
}

extension KernelMap {
    /// Creates a struct_ops map (`BPF_MAP_TYPE_STRUCT_OPS`) for `layout`: 4-byte key, one entry, the
    /// kernel's value type (`btf_vmlinux_value_type_id`) and size, `BPF_F_LINK` for a
    /// `.struct_ops.link` map, the object's BTF fd when it has one (no key or value type ids: the
    /// kernel takes the value type from its own BTF).
    static func structOps(_ spec: MapSpec, layout: StructOpsKernelLayout, btf: KernelBTF?) throws(BPFError) -> KernelMap {
        var attr = cbpf_map_create_attr()
        attr.map_type = MapType.structOps.rawValue
        attr.key_size = 4
        attr.value_size = UInt32(layout.value.count)
        attr.max_entries = 1
        attr.map_flags = spec.flags
        attr.btf_vmlinux_value_type_id = UInt32(layout.valueTypeID)
        if let btf { attr.btf_fd = try btf.fd.checked(.mapCreate) }
        let name = sanitisedName(spec.name)
        withUnsafeMutableBytes(of: &attr.map_name) { raw in
            cbpf_set_name(raw.baseAddress!.assumingMemoryBound(to: CChar.self), name)
        }
        let typeName = spec.structOps?.kernelTypeName ?? "?"
        let fd: BPFFileDescriptor
        do { fd = try BPFSyscall.callReturningFD(.mapCreate, &attr) } catch {
            var failure = error
            failure.message = "struct_ops map '\(spec.name)' (struct \(typeName), value \(layout.value.count) bytes, kernel value type id \(layout.valueTypeID)): " + failure.message
            throw failure
        }
        return try KernelMap(fd: fd, type: .structOps, keySize: 4, valueSize: layout.value.count, maxEntries: 1, flags: spec.flags, name: name)
    }
}
