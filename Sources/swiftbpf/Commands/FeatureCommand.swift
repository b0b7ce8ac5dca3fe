import ArgumentParser
import BPFLinux
import BPFObject

/// `swiftbpf feature probe [--json]`: what the running kernel supports, as `bpftool feature probe`.
struct FeatureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feature",
        abstract: "Probe the running kernel's eBPF features.",
        subcommands: [FeatureProbeCommand.self]
    )
}

/// `swiftbpf feature probe [--json]`.
struct FeatureProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Probe program types, map types and the helpers each program type may call (needs root or CAP_BPF).",
        discussion: """
            Loads a minimal program of each type (with the attach type its usual section implies), \
            creates a small map of each type, and loads a call of each helper of Linux 6.18 (ids 1-211) \
            for every program type the kernel loads, as bpftool feature probe does. A feature the probe \
            cannot try alone (tracing, LSM, struct_ops and ext programs need an attach target; local \
            storage maps need BTF) is reported unknown, with the reason.
            """
    )

    @Argument(help: "What to probe: kernel (the default; bpftool's spelling).") var target: String = "kernel"
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard target == "kernel" else { throw CLIError("'\(target)': swiftbpf probes the running kernel (feature probe kernel)") }
        let programTypes = ProgramType.allCases.filter { $0 != .unspecified }
        let programs = programTypes.map { ($0, KernelFeatures.programType($0)) }
        let maps = MapType.allCases.filter { $0 != .unspecified }.map { ($0, KernelFeatures.mapType($0)) }
        if programs.allSatisfy({ if case .unknown = $0.1 { true } else { false } }) {
            throw CLIError("the kernel refused every probe: \(programs.first.map { "\($0.1)" } ?? "")")
        }
        var helpers: [(ProgramType, [HelperPrototype])] = []
        for (type, support) in programs where support.isSupported {
            helpers.append((type, HelperPrototype.table.filter { KernelFeatures.helper($0.id, programType: type).isSupported }))
        }
        func entry(_ name: String, _ support: KernelFeatures.Support) -> JSONOutput {
            var fields: [(String, JSONOutput)] = [("name", .string(name))]
            switch support {
            case .supported: fields += [("supported", .bool(true)), ("reason", .null)]   // every entry has the same fields
            case .unsupported(let why): fields += [("supported", .bool(false)), ("reason", .string(why))]
            case .unknown(let why): fields += [("supported", .null), ("reason", .string(why))]
            }
            return .object(fields)
        }
        if json {
            print(JSONOutput.object([
                ("program_types", .array(programs.map { entry($0.0.kernelName, $0.1) })),
                ("map_types", .array(maps.map { entry($0.0.kernelName, $0.1) })),
                ("helpers", .object(helpers.map { ($0.0.kernelName, .array($0.1.map { .string($0.name) })) })),
            ]))
            return
        }
        print("Program types:")
        for (type, support) in programs { print("  \(type.kernelName): \(support)") }
        print("Map types:")
        for (type, support) in maps { print("  \(type.kernelName): \(support)") }
        for (type, list) in helpers {
            print("Helpers for \(type.kernelName) programs (\(list.count)):")
            print("  " + list.map(\.name).joined(separator: ", "))
        }
    }
}
