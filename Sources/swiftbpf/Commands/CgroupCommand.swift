import ArgumentParser
import BPFLinux
import BPFObject
import Foundation

/// `swiftbpf cgroup show PATH | tree [ROOT]`: programs attached to cgroups, as bpftool cgroup.
struct CgroupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cgroup",
        abstract: "Show the programs attached to cgroups (attach with swiftbpf attach cgroup).",
        subcommands: [CgroupShowCommand.self, CgroupTreeCommand.self]
    )

    /// One cgroup's attachments as text lines or JSON objects.
    static func attachments(_ path: String) throws -> [(attachType: String, id: UInt32, name: String)] {
        let cgroup: Cgroup
        do { cgroup = try Cgroup(path: path) } catch { throw CLIError("\(path): \(error)") }
        let programs: [(attachType: AttachType, programID: UInt32)]
        do { programs = try cgroup.attachedPrograms() } catch { throw CLIError("\(path): \(error)") }
        return programs.map { entry in
            let name = (try? KernelProgram.open(id: entry.programID).info().name) ?? ""
            return (entry.attachType.kernelName, entry.programID, name)
        }
    }

    static func json(_ rows: [(attachType: String, id: UInt32, name: String)]) -> [JSONOutput] {
        rows.map { .object([("id", .number(UInt64($0.id))), ("attach_type", .string($0.attachType)), ("name", .string($0.name))]) }
    }
}

struct CgroupShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "The programs attached to one cgroup (not those it inherits).")
    @Argument(help: "The cgroup directory (cgroup v2).") var path: String
    @Flag(help: "Print a JSON array of {id, attach_type, name}.") var json = false

    func run() throws {
        let rows = try CgroupCommand.attachments(path)
        if json { print(JSONOutput.array(CgroupCommand.json(rows))); return }
        for row in rows { print("\(row.id)  \(row.attachType)  \(row.name)") }
    }
}

struct CgroupTreeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tree", abstract: "Every cgroup under ROOT (default: the cgroup2 mount) that has programs attached.")
    @Argument(help: "The root cgroup directory.") var root: String?
    @Flag(help: "Print a JSON array of {cgroup, programs: [{id, attach_type, name}]}.") var json = false

    func run() throws {
        guard let root = root ?? Cgroup.unifiedMountPoint() else { throw CLIError("no cgroup2 mount found in /proc/self/mounts; give the root directory") }
        var stack = [root]
        var found: [(String, [(attachType: String, id: UInt32, name: String)])] = []
        while let path = stack.popLast() {
            if let rows = try? CgroupCommand.attachments(path), !rows.isEmpty { found.append((path, rows)) }
            let children = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            for child in children.sorted().reversed() {
                var isDirectory: ObjCBool = false
                let full = path + "/" + child
                if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), isDirectory.boolValue { stack.append(full) }
            }
        }
        if json {
            print(JSONOutput.array(found.map { .object([("cgroup", .string($0.0)), ("programs", .array(CgroupCommand.json($0.1)))]) }))
            return
        }
        print("CgroupPath\nID       AttachType      Name")
        for (path, rows) in found {
            print(path)
            for row in rows { print("    \(row.id)  \(row.attachType)  \(row.name)") }
        }
    }
}
