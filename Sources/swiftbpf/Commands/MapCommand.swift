import ArgumentParser
import BPFObject
import BPFRuntime
import Foundation
import SwiftBPF

/// `swiftbpf map ...`: maps.
struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Show maps: an object's (in the Swift runtime) or the running kernel's.",
        subcommands: [MapDumpCommand.self, MapListCommand.self, MapShowCommand.self, MapLookupCommand.self, MapUpdateCommand.self,
                      MapDeleteCommand.self, MapGetNextCommand.self, MapPushCommand.self, MapPopCommand.self, MapPeekCommand.self,
                      MapFreezeCommand.self, MapPinCommand.self, MapCreateCommand.self]
    )
}

/// `swiftbpf map dump OBJ.o [--map NAME] [--json] [run options]`: an object's maps in the Swift
/// runtime, by their BTF types — as created (global data, program arrays and maps of maps filled),
/// or after a run when an input is given. `map dump id N | pinned PATH | name NAME` (or `--id N`)
/// dumps one map of the running kernel instead: the two forms never guess between a file and a map.
struct MapDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print an object's maps (map dump OBJ.o) or one kernel map's entries (map dump id N | pinned PATH | name NAME).",
        discussion: """
            Two forms. map dump OBJ.o: the object's maps in the Swift runtime (or the kernel with \
            --backend kernel) by their BTF types; without an input the maps are shown as the loader \
            creates them, with --packet-hex, --packet-file, --pcap or --ctx-file the program \
            (--program/--section) runs first, as with `swiftbpf run`. --json prints {name: [{"key": hex, \
            "value": hex, "formatted": text}]}, the "maps" field of `swiftbpf run --json`. \
            map dump id N | pinned PATH | name NAME (or --id N): a map of the running kernel, as bpftool \
            map dump; --json prints {"map": {the fields of map list}, "entries": [{"key": hex, "value": \
            hex}]} ("values": [hex per CPU] for per-CPU maps, "formatted" with BTF). A bare number that is \
            not a file is a kernel map id; an argument that could be both a file and a selector (a file \
            named id or 42) is refused: write ./id for the file, or --id N for the map.
            """
    )

    @Argument(help: "OBJ.o (an ELF object built by clang -target bpf), or a kernel map: id N | pinned PATH | name NAME.")
    var arguments: [String] = []
    @Option(help: "Dump the kernel map with this id (as `map dump id N`).") var id: UInt32?
    @Option(help: "With OBJ.o: show only this map.") var map: String?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var input: ObjectRunOptions

    /// What the arguments name: an object file, or a map of the running kernel.
    enum Target: Equatable {
        case object(String)
        case kernelID(UInt32)
        /// `pinned PATH` or `name NAME`, opened through ``MapSelector``.
        case kernelSelector(kind: String, target: String)
    }

    static let selectors = ["id", "pinned", "name"]

    /// Reads the arguments; `exists` tells whether a path names a file (the current directory's for
    /// a relative one). Ambiguous arguments are refused, naming both readings.
    static func target(_ arguments: [String], id: UInt32?, exists: (String) -> Bool) throws -> Target {
        if let id {
            guard arguments.isEmpty else {
                throw ValidationError("--id \(id) and '\(arguments.joined(separator: " "))': give either OBJ.o or a kernel map (--id N, id N), not both")
            }
            return .kernelID(id)
        }
        switch arguments.count {
        case 0:
            throw ValidationError("give an object file (map dump OBJ.o) or a kernel map (map dump id N | pinned PATH | name NAME, or --id N)")
        case 1:
            let argument = arguments[0]
            if selectors.contains(argument) {
                if exists(argument) {
                    throw ValidationError("'\(argument)' is both a file here and the kernel map selector \(argument): write ./\(argument) to dump the object's maps, or \(argument) VALUE for a kernel map")
                }
                throw ValidationError("\(argument): give the map's \(argument == "id" ? "id" : argument == "pinned" ? "pin path" : "name") (map dump \(argument) \(argument == "id" ? "N" : argument == "pinned" ? "PATH" : "NAME"))")
            }
            // A bare number names a kernel map, as `map dump ID` always has; a file with that name too is ambiguous.
            if !argument.isEmpty, argument.allSatisfy({ $0.isASCII && $0.isNumber }) {
                if exists(argument) {
                    throw ValidationError("'\(argument)' is both a file here and a kernel map id: write ./\(argument) to dump the object's maps, or id \(argument) (--id \(argument)) for the kernel map")
                }
                guard let number = UInt32(argument) else {
                    throw ValidationError("map id \(argument): expected an id from 0 to \(UInt32.max) (or an object file)")
                }
                return .kernelID(number)
            }
            return .object(argument)
        case 2:
            let (kind, value) = (arguments[0], arguments[1])
            guard selectors.contains(kind) else {
                throw ValidationError("'\(arguments.joined(separator: " "))': expected OBJ.o, or a kernel map selected by id N, pinned PATH or name NAME")
            }
            if exists(kind) {
                throw ValidationError("'\(kind)' is both a file here and the kernel map selector \(kind): write ./\(kind) to dump the object's maps, or --id N for a kernel map")
            }
            if kind == "id" {
                guard let number = UInt32(value) else { throw ValidationError("id \(value): expected a map id from 0 to \(UInt32.max)") }
                return .kernelID(number)
            }
            return .kernelSelector(kind: kind, target: value)
        default:
            throw ValidationError("'\(arguments.joined(separator: " "))': expected OBJ.o, or a kernel map selected by id N, pinned PATH or name NAME")
        }
    }

    /// The options only the object form takes, when given.
    var objectOptions: [String] {
        var given: [String] = []
        if map != nil { given.append("--map") }
        if input.program != nil { given.append("--program") }
        if input.section != nil { given.append("--section") }
        if input.packetHex != nil { given.append("--packet-hex") }
        if input.packetFile != nil { given.append("--packet-file") }
        if input.pcap != nil { given.append("--pcap") }
        if input.ctxFile != nil { given.append("--ctx-file") }
        if input.writeVerdicts != nil { given.append("--write-verdicts") }
        if input.backend != .runtime { given.append("--backend") }
        if !input.kconfig.isEmpty { given.append("--kconfig") }
        if input.type != nil { given.append("--type") }
        if !input.maxEntries.isEmpty { given.append("--max-entries") }
        if input.repeat != 1 { given.append("--repeat") }
        if input.engine != .default { given.append("--engine") }
        if input.noVerify { given.append("--no-verify") }
        return given
    }

    /// The arguments are read (and an ambiguous one refused) before anything runs.
    func validate() throws {
        if case .object = try resolvedTarget() { return }
        try refuseObjectOptions()
    }

    func resolvedTarget() throws -> Target {
        try Self.target(arguments, id: id) { FileManager.default.fileExists(atPath: $0) }
    }

    func run() throws {
        let target = try resolvedTarget()
        let file: String
        switch target {
        case .kernelID(let id):
            return try KernelMapDump(id: id, json: json).run()
        case .kernelSelector(let kind, let value):
            let (kernelMap, label) = try MapSelector.parse([kind, value]).open()
            let dump = try KernelMapDump.dump(kernelMap, label: label)
            print(json ? dump.json.description : dump.text)
            return
        case .object(let path):
            file = path
        }
        guard FileManager.default.fileExists(atPath: file) else {
            throw CLIError("\(file): no such file (map dump takes OBJ.o, or a kernel map: id N | pinned PATH | name NAME)")
        }
        guard ObjectRun.isELF(path: file) else { throw CLIError("\(file) is not an ELF object") }
        let runner = ObjectRun(path: file, options: input, json: json)
        let loaded: BPFCollection
        if runner.hasInput {
            loaded = try runner.run(quiet: true)
        } else {
            let object: ObjectFile
            do { object = try ObjectFile(bytes: try runner.read(file)) } catch let error as ObjectError { throw CLIError("\(file): \(error)") }
            do { loaded = try BPFCollection(object, backend: input.backend, programs: []) } catch { throw CLIError("\(file): \(error)") }
        }
        if let map, loaded.map(named: map) == nil {
            throw CLIError("\(file): no map '\(map)' (maps: \(loaded.maps.map(\.spec.name).joined(separator: ", ")))")
        }
        let dump = MapDump(collection: loaded)
        if json {
            print(dump.json(only: map))
        } else {
            dump.printText(only: map)
        }
    }

    /// A kernel map is dumped whole and nothing runs: the object form's options are refused, named.
    func refuseObjectOptions() throws {
        let given = objectOptions
        guard given.isEmpty else {
            throw ValidationError("\(given.joined(separator: ", ")) \(given.count == 1 ? "applies" : "apply") only to map dump OBJ.o; a kernel map (id N | pinned PATH | name NAME) is dumped whole")
        }
    }
}
