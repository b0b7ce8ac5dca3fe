import BPFObject
import CBPFLinuxSupport
import Foundation

extension KernelObject {
    /// Pins every map at `DIR/maps/NAME` and every program at `DIR/progs/NAME` (creating the
    /// directories; `directory` must be on a BPF filesystem), so they outlive the process. Maps that
    /// were reused from a pin-by-name are pinned again under `DIR` too. Names are made ones bpffs
    /// takes as libbpf makes them (see ``pinName(forMap:objectName:)``). When a pin fails, the pins
    /// and directories already made are removed before the error is thrown. Returns the paths by name.
    ///
    /// ```swift
    /// let paths = try loaded.pinAll(in: "/sys/fs/bpf/myapp", objectName: "myapp")
    /// print(paths.programs["xdp_counter"]!)   // /sys/fs/bpf/myapp/progs/xdp_counter
    /// print(paths.maps[".rodata"]!)           // /sys/fs/bpf/myapp/maps/myapp_rodata
    /// ```
    @discardableResult
    public func pinAll(in directory: String, objectName: String? = nil) throws(BPFError) -> (maps: [String: String], programs: [String: String]) {
        let mapsDirectory = directory + "/maps", programsDirectory = directory + "/progs"
        // Refuse before creating anything when the directory would not be on a bpffs.
        try BPFFileSystem.checkPinDirectory(directory)
        var created: [String] = [], pinned: [String] = []
        func rollback() {
            for path in pinned.reversed() { _ = path.withCString { cbpf_unlink($0) } }
            for path in created.reversed() { _ = rmdir(path) }
        }
        for path in [directory, mapsDirectory, programsDirectory] {
            // Each missing component, outermost first, so the rollback removes exactly what was made.
            var missing: [String] = []
            var current = (path as NSString).standardizingPath
            while !current.isEmpty && current != "/" && !FileManager.default.fileExists(atPath: current) {
                missing.insert(current, at: 0)
                current = (current as NSString).deletingLastPathComponent
            }
            for dir in missing {
                guard mkdir(dir, 0o755) == 0 || errno == EEXIST else {
                    let code = errno
                    rollback()
                    throw BPFError(command: nil, errno: Errno(rawValue: code), message: "cannot create the directory \(dir)")
                }
                created.append(dir)
            }
        }
        var maps: [String: String] = [:], programs: [String: String] = [:]
        func pin(_ what: String, at path: String, _ body: () throws(BPFError) -> Void) throws(BPFError) {
            do { try body() } catch {
                let count = pinned.count
                rollback()
                var failure = error
                failure.message = "\(what): " + failure.message
                    + (count > 0 || !created.isEmpty ? " (removed the \(count) pins and \(created.count) directories made before it)" : "")
                throw failure
            }
            pinned.append(path)
        }
        for (spec, map) in self.maps {
            let path = mapsDirectory + "/" + Self.pinName(forMap: spec, objectName: objectName)
            try pin("map '\(spec.name)'", at: path) { () throws(BPFError) in try map.pin(at: path) }
            maps[spec.name] = path
        }
        for (name, program) in self.programs.sorted(by: { $0.key < $1.key }) {
            let path = programsDirectory + "/" + Self.pinName(name)
            try pin("program '\(name)'", at: path) { () throws(BPFError) in try program.pin(at: path) }
            programs[name] = path
        }
        return (maps, programs)
    }

    /// The name a map is pinned under, as libbpf pins it: a global data map (`.rodata`, `.data`,
    /// `.bss`, `.kconfig`, `.data.NAME`) gets libbpf's internal map name — as much of the object
    /// name as fits before the section name in 15 characters (`my_objec.rodata`; none for a section
    /// with a second dot such as `.rodata.str1.1`) — and then every character bpffs refuses
    /// (`.`, `/`, anything but letters, digits and `_`) becomes `_`: `my_objec_rodata`. `objectName`
    /// is the object file's name up to its first dot (libbpf's object name); nil leaves the prefix out.
    public static func pinName(forMap spec: MapSpec, objectName: String?) -> String {
        guard spec.isGlobalData else { return pinName(spec.name) }
        let section = Array(spec.name.utf8)
        let suffixLength = min(max(7, section.count), 15)
        let prefix = Array((objectName ?? "").utf8)
        let prefixLength = section.dropFirst().contains(UInt8(ascii: ".")) ? 0 : min(16 - suffixLength - 1, prefix.count)
        return pinName(String(decoding: prefix.prefix(prefixLength) + section.prefix(suffixLength), as: UTF8.self))
    }

    /// A file name bpffs takes: `.` (bpffs reserves it: EPERM), `/` and anything else but ASCII
    /// letters, digits and `_` become `_`.
    public static func pinName(_ name: String) -> String {
        String(name.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_") ? Character(scalar) : "_"
        })
    }

    /// libbpf's object name for an object file: its file name up to the first `.`.
    public static func objectName(forPath path: String) -> String {
        let base = (path as NSString).lastPathComponent
        return String(base.prefix { $0 != "." })
    }
}

extension BPFFileSystem {
    /// Throws unless pins under `directory` would land on a BPF filesystem: the directory, or the
    /// nearest existing directory above it, must be on a bpffs (statfs magic `BPF_FS_MAGIC`,
    /// 0xcafe4a11). Nothing is created.
    public static func checkPinDirectory(_ directory: String) throws(BPFError) {
        var existing = (directory as NSString).standardizingPath
        while !existing.isEmpty && existing != "/" && !FileManager.default.fileExists(atPath: existing) {
            existing = (existing as NSString).deletingLastPathComponent
        }
        if existing.isEmpty { existing = FileManager.default.currentDirectoryPath }
        let found = cbpf_fs_magic(existing)
        guard found != magic else { return }
        let what = found < 0 ? "statfs failed: \(Errno(rawValue: Int32(-found)).name)" : "filesystem magic 0x\(String(found, radix: 16)), not BPF_FS_MAGIC 0xcafe4a11"
        throw BPFError.invalidArgument("\(directory) is not on a BPF filesystem (\(existing): \(what)); pins must go in a bpffs, e.g. under /sys/fs/bpf (mount one with: mount -t bpf bpf /sys/fs/bpf)")
    }
}
