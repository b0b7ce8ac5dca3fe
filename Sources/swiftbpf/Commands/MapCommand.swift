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
/// or after a run when an input is given.
struct MapDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print an object's maps by their BTF types, as loaded or after a run.",
        discussion: """
            Without an input the maps are shown as the loader creates them. With --packet-hex, \
            --packet-file, --pcap or --ctx-file the program (--program/--section) runs first, as with \
            `swiftbpf run`, and the maps are shown afterwards. --json prints {name: [{"key": hex, \
            "value": hex, "formatted": text}]}, the "maps" field of `swiftbpf run --json`. With a             kernel map id (a number that is not a file, or --id) the kernel's map is dumped instead:             --json prints {"map": {map list fields}, "entries": [{"key": hex, "value": hex}]}             ("values": [hex per CPU] for per-CPU maps).
            """
    )

    @Argument(help: "An ELF object built by clang -target bpf, or a kernel map id.") var file: String?
    @Option(help: "Dump the kernel map with this id (as `map dump ID`).") var id: UInt32?
    @Option(help: "Show only this map.") var map: String?
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var input: ObjectRunOptions

    func run() throws {
        // A number that is not a file names a kernel map.
        if let file, !FileManager.default.fileExists(atPath: file), !file.isEmpty, file.allSatisfy({ $0.isASCII && $0.isNumber }), UInt32(file) == nil {
            throw ValidationError("map id \(file): expected an id from 0 to \(UInt32.max) (or an object file)")
        }
        if let id = id ?? file.flatMap({ FileManager.default.fileExists(atPath: $0) ? nil : UInt32($0) }) {
            return try KernelMapDump(id: id, json: json).run()
        }
        guard let file else { throw ValidationError("give an object file, a kernel map id, or --id ID") }
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
}
