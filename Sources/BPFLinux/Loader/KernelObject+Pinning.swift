import BPFObject
import Foundation

extension KernelObject {
    /// Pins every map at `DIR/maps/NAME` and every program at `DIR/progs/NAME` (creating the
    /// directories; `directory` must be on a BPF filesystem), so they outlive the process. Maps that
    /// were reused from a pin-by-name are pinned again under `DIR` too. Returns the paths by name.
    ///
    /// ```swift
    /// let paths = try loaded.pinAll(in: "/sys/fs/bpf/myapp")
    /// print(paths.programs["xdp_counter"]!)   // /sys/fs/bpf/myapp/progs/xdp_counter
    /// ```
    @discardableResult
    public func pinAll(in directory: String) throws(BPFError) -> (maps: [String: String], programs: [String: String]) {
        let mapsDirectory = directory + "/maps", programsDirectory = directory + "/progs"
        for path in [directory, mapsDirectory, programsDirectory] {
            do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                throw BPFError.invalidArgument("cannot create \(path): \(error)")
            }
        }
        guard BPFFileSystem.isMounted(at: directory) else {
            throw BPFError.invalidArgument("\(directory) is not on a BPF filesystem (mount one with: mount -t bpf bpf /sys/fs/bpf)")
        }
        var maps: [String: String] = [:], programs: [String: String] = [:]
        for (spec, map) in self.maps {
            let path = mapsDirectory + "/" + Self.pinName(spec.name)
            try map.pin(at: path)
            maps[spec.name] = path
        }
        for (name, program) in self.programs.sorted(by: { $0.key < $1.key }) {
            let path = programsDirectory + "/" + Self.pinName(name)
            try program.pin(at: path)
            programs[name] = path
        }
        return (maps, programs)
    }

    /// A file name for a pin: `/` is not allowed in names.
    static func pinName(_ name: String) -> String {
        name.replacingOccurrences(of: "/", with: "_")
    }
}
