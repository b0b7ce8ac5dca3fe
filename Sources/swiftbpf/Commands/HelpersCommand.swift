import ArgumentParser
import BPFObject
import BPFRuntime

/// `swiftbpf helpers [NAME|ID] [--type TYPE] [--json|--markdown]`: the helper table — every helper of
/// Linux 6.18 with its prototype, GPL-only flag, the program types that may call it, and whether the
/// Swift runtime implements it.
struct HelpersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "helpers",
        abstract: "List the eBPF helpers: prototypes, program types, GPL-only, and what the Swift runtime implements.",
        discussion: """
            The table is the one the verifier checks calls against (Linux 6.18: ids 1-211). With a name \
            (with or without bpf_) or an id, shows that helper; with --type, only the helpers that program \
            type may call. --markdown writes the table Docs/helpers.md holds.
            """
    )

    @Argument(help: "A helper's name or id.") var helper: String?
    @Option(help: "Only helpers this program type may call (sched_cls, xdp, kprobe, ... or a section name).") var type: String?
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print the Markdown table of Docs/helpers.md.") var markdown = false

    func run() throws {
        var helpers = HelperPrototype.table
        if let helper {
            let found = Int32(helper).flatMap { HelperPrototype[$0] } ?? HelperPrototype.named(helper)
            guard let found else {
                throw CLIError("no helper '\(helper)': Linux 6.18 defines ids 1-\(HelperPrototype.lastID) (try `swiftbpf helpers` for the list)")
            }
            helpers = [found]
        }
        if let type {
            guard let parsed = ProgramType.parse(type) else {
                throw CLIError("--type: unknown program type '\(type)': expected one of \(ProgramType.kernelNames.joined(separator: ", "))")
            }
            helpers = helpers.filter { $0.isAvailable(to: parsed.type) }
        }
        let implemented = Set(HelperRegistry.kernel.all.map(\.id))
        if json {
            print(JSONOutput.object([("helpers", .array(helpers.map { h in
                .object([
                    ("id", .number(UInt64(h.id))), ("name", .string(h.name)), ("gpl_only", .bool(h.gplOnly)),
                    ("program_types", .array(Self.types(h).map { .string($0) })),
                    ("runtime", .bool(implemented.contains(h.id))),
                    ("signature", .string(Self.signature(h))),
                ])
            }))]))
            return
        }
        if markdown {
            print("| id | helper | GPL | program types | Swift runtime |")
            print("| --- | --- | --- | --- | --- |")
            for h in helpers {
                print("| \(h.id) | `\(Self.signature(h))` | \(h.gplOnly ? "yes" : "") | \(Self.typeSummary(h)) | \(implemented.contains(h.id) ? "yes" : "") |")
            }
            return
        }
        for h in helpers {
            print("\(h.id) \(Self.signature(h))\(h.gplOnly ? " [GPL]" : "")\(implemented.contains(h.id) ? " [runtime]" : "")")
            if helper != nil { print("  program types: \(Self.typeSummary(h))") }
        }
    }

    static func types(_ h: HelperPrototype) -> [String] {
        h.programTypes.members.filter { $0 != .unspecified && $0 != .ext }.map(\.kernelName)
    }

    /// "every type", "every type but X, Y", or the list, whichever is shorter.
    static func typeSummary(_ h: HelperPrototype) -> String {
        let all = ProgramType.allCases.filter { $0 != .unspecified && $0 != .ext }
        let allowed = types(h)
        let missing = all.map(\.kernelName).filter { !allowed.contains($0) }
        if missing.isEmpty { return "every type" }
        if missing.count < allowed.count { return "every type but " + missing.joined(separator: ", ") }
        return allowed.isEmpty ? "none on this kernel" : allowed.joined(separator: ", ")
    }

    /// `bpf_redirect(scalar, scalar) -> integer`, in the table's argument kinds.
    static func signature(_ h: HelperPrototype) -> String {
        "\(h.name)(\(h.arguments.map(describe).joined(separator: ", "))) -> \(describe(h.returns))"
    }

    static func describe(_ a: HelperArgument) -> String {
        switch a {
        case .fixedOutput(let n): "out[\(n)]"
        case .btfID(let s): "struct \(s) *"
        case .btfIDOrNull(let s): "struct \(s) * or NULL"
        default: "\(a)".replacingOccurrences(of: "OrNull", with: " or NULL")
        }
    }

    static func describe(_ r: HelperReturn) -> String {
        switch r {
        case .integer(let lo, let hi): "integer \(lo)...\(hi)"
        case .unknown: "integer"
        case .btfID(let s): "struct \(s) *"
        case .btfIDOrNull(let s): "struct \(s) * or NULL"
        default: "\(r)".replacingOccurrences(of: "OrNull", with: " or NULL")
        }
    }
}
