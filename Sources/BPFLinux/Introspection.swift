import BPFObject
import CBPFLinuxSupport

/// What `BPF_OBJ_GET_INFO_BY_FD` says about a program.
///
/// ```swift
/// let info = try program.info()
/// print(info.id, info.type, info.name, info.tag)   // 42 xdp pass 3b185187f1855c4c
/// ```
public struct ProgramInfo: Sendable, Hashable {
    public var id: UInt32
    /// The type, or nil for a number this build does not know.
    public var type: ProgramType?
    public var rawType: UInt32
    public var name: String
    /// The program's tag (a hash of its instructions), as 16 hex digits.
    public var tag: String
    public var xlatedLength: Int
    public var jitedLength: Int
    /// Total run time and count (only counted while `BPF_ENABLE_STATS` or the sysctl is on).
    public var runTimeNanoseconds: UInt64
    public var runCount: UInt64
    public var verifiedInstructions: UInt32
    public var mapCount: Int
    public var createdByUID: UInt32
    /// Nanoseconds since boot when the program was loaded.
    public var loadTime: UInt64 = 0
    public var gplCompatible: Bool = false
    /// The id of the program's BTF object (0: none).
    public var btfID: UInt32 = 0
}

/// What `BPF_OBJ_GET_INFO_BY_FD` says about a map.
///
/// ```swift
/// let info = try map.info()
/// print(info.id, info.type, info.keySize, info.valueSize, info.maxEntries, info.name)
/// ```
public struct MapInfo: Sendable, Hashable {
    public var id: UInt32
    /// The type, or nil for a number this build does not know.
    public var type: MapType?
    public var rawType: UInt32
    public var keySize: Int
    public var valueSize: Int
    public var maxEntries: Int
    public var flags: UInt32
    public var name: String
    public var mapExtra: UInt64
    public var btfID: UInt32
    /// The key and value types in the map's BTF (0: none).
    public var btfKeyTypeID: UInt32 = 0
    public var btfValueTypeID: UInt32 = 0
}

/// Kernel-wide object ids and opening objects by id (`BPF_*_GET_NEXT_ID`, `BPF_*_GET_FD_BY_ID`).
///
/// ```swift
/// for id in try KernelObjects.programIDs() { print(try KernelProgram.open(id: id).info().name) }
/// ```
public enum KernelObjects {
    /// The ids of every program in the kernel, ascending.
    public static func programIDs() throws(BPFError) -> [UInt32] { try ids(.progGetNextID) }
    /// The ids of every map in the kernel, ascending.
    public static func mapIDs() throws(BPFError) -> [UInt32] { try ids(.mapGetNextID) }
    /// The ids of every link in the kernel, ascending.
    public static func linkIDs() throws(BPFError) -> [UInt32] { try ids(.linkGetNextID) }
    /// The ids of every BTF object in the kernel, ascending.
    public static func btfIDs() throws(BPFError) -> [UInt32] { try ids(.btfGetNextID) }

    static func ids(_ command: BPFCommand) throws(BPFError) -> [UInt32] {
        var result: [UInt32] = []
        var attr = cbpf_get_id_attr()
        while true {
            do { try BPFSyscall.call(command, &attr) } catch where error.errno == .ENOENT { return result }
            result.append(attr.next_id)
            attr.id = attr.next_id
        }
    }

    /// Opens an fd on the object `id` (`command` is one of the GET_FD_BY_ID commands).
    static func fd(_ command: BPFCommand, id: UInt32) throws(BPFError) -> BPFFileDescriptor {
        var attr = cbpf_get_id_attr()
        attr.id = id
        return try BPFSyscall.callReturningFD(command, &attr)
    }

    /// Fills `info` for `fd` with `BPF_OBJ_GET_INFO_BY_FD`.
    static func info<Info>(fd: BPFFileDescriptor, _ info: inout Info) throws(BPFError) {
        var attr = cbpf_info_attr()
        attr.bpf_fd = try fd.checked(.objGetInfoByFD)
        let result = withUnsafeMutableBytes(of: &info) { raw in
            attr.info_len = UInt32(raw.count)
            attr.info = address(raw.baseAddress)
            return capture { () throws(BPFError) in try BPFSyscall.call(.objGetInfoByFD, &attr) }
        }
        try result.get()
    }
}

/// A fixed 16-byte name field as a String.
func nameString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = Array(raw)
        return String(decoding: bytes[..<(bytes.firstIndex(of: 0) ?? bytes.count)], as: UTF8.self)
    }
}

extension KernelProgram {
    /// `BPF_OBJ_GET_INFO_BY_FD` for this program.
    public func info() throws(BPFError) -> ProgramInfo {
        var raw = cbpf_prog_info()
        try KernelObjects.info(fd: fd, &raw)
        let tag = withUnsafeBytes(of: raw.tag) { $0.map { String($0, radix: 16).leftPadded(2) }.joined() }
        return ProgramInfo(id: raw.id, type: ProgramType(rawValue: raw.type), rawType: raw.type, name: nameString(raw.name),
                           tag: tag, xlatedLength: Int(raw.xlated_prog_len), jitedLength: Int(raw.jited_prog_len),
                           runTimeNanoseconds: raw.run_time_ns, runCount: raw.run_cnt,
                           verifiedInstructions: raw.verified_insns, mapCount: Int(raw.nr_map_ids),
                           createdByUID: raw.created_by_uid, loadTime: raw.load_time,
                           gplCompatible: raw.gpl_compatible & 1 != 0, btfID: raw.btf_id)
    }

    /// Opens the program with kernel id `id` (`BPF_PROG_GET_FD_BY_ID`).
    public static func open(id: UInt32) throws(BPFError) -> KernelProgram {
        try KernelProgram(fd: KernelObjects.fd(.progGetFDByID, id: id))
    }

    /// Wraps an fd on a program, reading its type and name from the kernel.
    public convenience init(fd: BPFFileDescriptor) throws(BPFError) {
        var raw = cbpf_prog_info()
        try KernelObjects.info(fd: fd, &raw)
        self.init(fd: fd, type: ProgramType(rawValue: raw.type) ?? .unspecified, name: nameString(raw.name))
    }
}

extension KernelMap {
    /// `BPF_OBJ_GET_INFO_BY_FD` for this map.
    public func info() throws(BPFError) -> MapInfo {
        try Self.info(fd: fd)
    }

    static func info(fd: BPFFileDescriptor) throws(BPFError) -> MapInfo {
        var raw = cbpf_map_info()
        try KernelObjects.info(fd: fd, &raw)
        return MapInfo(id: raw.id, type: MapType(rawValue: raw.type), rawType: raw.type, keySize: Int(raw.key_size),
                       valueSize: Int(raw.value_size), maxEntries: Int(raw.max_entries), flags: raw.map_flags,
                       name: nameString(raw.name), mapExtra: raw.map_extra, btfID: raw.btf_id,
                       btfKeyTypeID: raw.btf_key_type_id, btfValueTypeID: raw.btf_value_type_id)
    }

    /// Opens the map with kernel id `id` (`BPF_MAP_GET_FD_BY_ID`).
    public static func open(id: UInt32) throws(BPFError) -> KernelMap {
        try KernelMap(fd: KernelObjects.fd(.mapGetFDByID, id: id))
    }

    /// Wraps an fd on a map, reading its type and sizes from the kernel.
    public convenience init(fd: BPFFileDescriptor) throws(BPFError) {
        let info = try Self.info(fd: fd)
        try self.init(fd: fd, type: info.type ?? .unspecified, keySize: info.keySize, valueSize: info.valueSize,
                      maxEntries: info.maxEntries, flags: info.flags, name: info.name)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
