import ArgumentParser
import BPFLinux
import BPFObject
import Foundation

/// `swiftbpf load OBJ.o [--pin DIR] [--program NAME ...] [--kconfig NAME=VALUE ...] [--json]`.
struct LoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load an object into the Linux kernel (needs root or CAP_BPF) and show what was loaded.",
        discussion: """
            The object's BTF is uploaded, its maps created and filled, its programs relocated (map fds, \
            CO-RE against /sys/kernel/btf/vmlinux, .kconfig, ksyms) and loaded. With --pin DIR, maps are \
            pinned at DIR/maps/NAME and programs at DIR/progs/NAME (DIR on a bpffs), so they outlive the \
            command; without it they are unloaded when it exits. --json prints {"object", "programs": \
            [{"name", "section", "type", "id", "tag", "pinned", "attach_type"}], "maps": [{"name", "type", "id", \
            "key_size", "value_size", "max_entries", "pinned"}], "warnings"}.

            With --each, every program is loaded on its own (the object loaded once per program, only \
            that program enabled, as Scripts/corpus/kernel_verdicts.c does with libbpf), and one line is \
            printed per program; with --json each line is {"program", "section", "type", "attach_type", \
            "expected_attach_type" (the number sent in BPF_PROG_LOAD), "outcome": "accept" | "reject" (the kernel's verifier refused it) | "error" (it never reached \
            the verifier), "errno", "message", "tag", "maps": [{"name", "flags"}] (the flags each map was created with)}. --size-empty-maps gives maps the object leaves at \
            max_entries 0 for its user space to size (hashes, arrays, devmaps, program arrays, ...) one \
            entry per possible CPU first.
            """
    )

    @Argument(help: "An ELF object built by clang -target bpf.") var file: String
    @Option(help: "Pin maps and programs under this directory (on a bpffs, e.g. /sys/fs/bpf/NAME).") var pin: String?
    @Option(parsing: .upToNextOption, help: "Load only these programs (by function name).") var program: [String] = []
    @Option(parsing: .upToNextOption, help: "A .kconfig value over the running kernel's, NAME=VALUE: y, n, m, a number (decimal, 0x hex, 0 octal) or a \"string\", checked against the extern's type.") var kconfig: [String] = []
    @Option(help: "Where LIBBPF_PIN_BY_NAME maps are reused from and pinned.") var pinMapsBy: String = BPFFileSystem.defaultPath
    @Option(parsing: .upToNextOption, help: "Reuse a pinned map instead of creating one, NAME=PATH (its definition must match).")
    var reuseMap: [String] = []
    @Option(help: "The type of the --program programs, for sections that name none or global functions of .text (sched_cls, socket_filter, xdp, ... or a section name), as bpftool prog load ... type.")
    var type: String?
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Load each program on its own and report every program's outcome (accept, reject, error) and kernel tag.")
    var each = false
    @Flag(help: "Give maps left at max_entries 0 for user space to size one entry per possible CPU.")
    var sizeEmptyMaps = false

    /// Map types a tool's user space sizes when the object leaves `max_entries` 0 (local storage
    /// maps must stay at 0), as Scripts/corpus/kernel_verdicts.c sizes them.
    static let sizedByUserSpace: Set<MapType> = [.array, .perCPUArray, .hash, .perCPUHash, .lruHash, .lruPerCPUHash,
                                                 .devmap, .devmapHash, .cpumap, .xskmap, .programArray]

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read '\(file)'") }
        var object: ObjectFile
        do { object = try ObjectFile(bytes: [UInt8](data)) } catch { throw CLIError("\(file): \(error)") }
        if let type {
            guard !program.isEmpty else { throw CLIError("--type \(type): name the programs with --program") }
            for name in program {
                do { try object.setType(type, ofProgram: name) } catch { throw CLIError("\(file): \(error)") }
            }
        }
        var options = KernelLoadOptions()
        options.pinDirectory = pinMapsBy
        if !program.isEmpty {
            for name in program where object.program(named: name) == nil {
                throw CLIError("\(file): no program '\(name)' (programs: \(object.programs.map(\.name).joined(separator: ", ")))")
            }
            options.programs = Set(program)
        }
        options.kconfig = try KconfigOption.values(kconfig, object: object)
        for entry in reuseMap {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, object.map(named: parts[0]) != nil else {
                throw CLIError("--reuse-map \(entry): expected NAME=PATH with a map of the object (maps: \(object.maps.map(\.name).joined(separator: ", ")))")
            }
            options.reuseMaps[parts[0]] = parts[1]
        }
        if sizeEmptyMaps {
            let cpus = try PossibleCPUs.count
            for spec in object.maps where spec.maxEntries == 0 && !spec.isGlobalData && Self.sizedByUserSpace.contains(spec.type) {
                do { try object.setMaxEntries(ofMap: spec.name, to: cpus) } catch { throw CLIError("\(file): \(error)") }
            }
        }
        if each {
            guard pin == nil else { throw CLIError("--each loads and unloads each program; it does not pin (--pin)") }
            let names = options.programs.map { wanted in object.programs.filter { wanted.contains($0.name) } } ?? object.programs
            for spec in names {
                var one = options
                one.programs = [spec.name]
                var outcome = "accept", errno: Int32 = 0, message = "", tag: String?
                var maps: [JSONOutput] = []
                do {
                    let loaded = try KernelObject(object, options: one)
                    tag = try loaded.program(named: spec.name)?.info().tag
                    for (mapSpec, map) in loaded.maps {
                        maps.append(.object([("name", .string(mapSpec.name)), ("flags", .number(UInt64(try map.info().flags)))]))
                    }
                } catch {
                    errno = error.errno?.rawValue ?? 0
                    message = error.verifierLog.flatMap(KernelProgram.verifierSummary) ?? error.message
                    outcome = error.command == .progLoad && !(error.verifierLog ?? "").isEmpty ? "reject" : "error"
                }
                if json {
                    print(JSONOutput.object([
                        ("program", .string(spec.name)), ("section", .string(spec.section)), ("type", .string(spec.type.kernelName)),
                        ("attach_type", spec.attachType.map { .string($0.kernelName) } ?? .null),
                        ("expected_attach_type", .number(UInt64(KernelObject.expectedAttachType(for: spec)?.rawValue ?? 0))),
                        ("outcome", .string(outcome)), ("errno", .number(UInt64(errno))), ("message", .string(message)),
                        ("tag", tag.map(JSONOutput.string) ?? .null), ("maps", .array(maps)),
                    ]))
                } else {
                    print("\(spec.name) (\(spec.section)): \(outcome)" + (tag.map { ", tag \($0)" } ?? "") + (message.isEmpty ? "" : ": \(message)"))
                }
            }
            return
        }
        // Where the pins go is checked before anything is loaded.
        if let pin { try PinLocation.prepare(pin, option: "--pin") }
        let loaded: KernelObject
        do { loaded = try KernelObject(object, options: options) } catch { throw CLIError("\(file): \(error)") }
        var pinned: (maps: [String: String], programs: [String: String]) = ([:], [:])
        if let pin {
            do { pinned = try loaded.pinAll(in: pin, objectName: KernelObject.objectName(forPath: file)) } catch {
                throw CLIError("pinning under \(pin): \(error)")
            }
        }
        let programs = object.programs.compactMap { spec in loaded.program(named: spec.name).map { (spec, $0) } }
        if json {
            print(JSONOutput.object([
                ("object", .string(file)),
                ("programs", .array(try programs.map { spec, program in
                    let info = try program.info()
                    return .object([
                        ("name", .string(spec.name)), ("section", .string(spec.section)), ("type", .string(spec.type.kernelName)),
                        ("id", .number(UInt64(info.id))), ("tag", .string(info.tag)),
                        ("pinned", pinned.programs[spec.name].map(JSONOutput.string) ?? JSONOutput.null),
                        ("attach_type", spec.attachType.map { .string($0.kernelName) } ?? .null),
                    ])
                })),
                ("maps", .array(try loaded.maps.map { spec, map in
                    let info = try map.info()
                    return .object([
                        ("name", .string(spec.name)), ("type", .string(spec.type.kernelName)), ("id", .number(UInt64(info.id))),
                        ("key_size", .number(UInt64(info.keySize))), ("value_size", .number(UInt64(info.valueSize))),
                        ("max_entries", .number(UInt64(info.maxEntries))),
                        ("pinned", pinned.maps[spec.name].map(JSONOutput.string) ?? JSONOutput.null),
                    ])
                })),
                ("warnings", .array(loaded.warnings.map { .string($0) })),
            ]))
            return
        }
        print("loaded \(file) into the kernel:")
        for (spec, program) in programs {
            let info = try program.info()
            var line = "  program \(spec.name) (\(spec.section), \(spec.type.kernelName)): id \(info.id), tag \(info.tag)"
            if let path = pinned.programs[spec.name] { line += ", pinned at \(path)" }
            print(line)
        }
        for (spec, map) in loaded.maps {
            let info = try map.info()
            var line = "  map \(spec.name) (\(spec.type.kernelName), key \(info.keySize), value \(info.valueSize), max_entries \(info.maxEntries)): id \(info.id)"
            if let path = pinned.maps[spec.name] { line += ", pinned at \(path)" }
            if loaded.reusedPins.contains(spec.name) { line += " (reused from its pin)" }
            print(line)
        }
        for warning in loaded.warnings { print("warning: \(warning)") }
        if pin == nil { print("(not pinned: everything is unloaded when swiftbpf exits; use --pin DIR to keep it)") }
    }
}
