import ArgumentParser
import BPFCore
import BPFLinux
import BPFObject
import Foundation

/// bpftool's selectors for a loaded program: `id N`, `pinned PATH`, `name NAME`, `tag TAG`.
struct ProgramSelector: ParsableArguments {
    @Argument(help: "How the program is named: id, pinned, name or tag.") var kind: String
    @Argument(help: "The program's id, pin path, name or tag.") var target: String

    /// Opens the program; the label names it in messages.
    func open() throws -> (program: KernelProgram, label: String) {
        switch kind {
        case "id":
            guard let id = UInt32(target) else { throw CLIError("id \(target): expected a program id (a number up to \(UInt32.max))") }
            do { return (try KernelProgram.open(id: id), "program \(id)") } catch { throw CLIError("program \(id): \(error)") }
        case "pinned":
            do { return (try KernelProgram.pinned(at: target), "program pinned at \(target)") } catch { throw CLIError("pinned \(target): \(error)") }
        case "name", "tag":
            let id = try uniqueKernelObject(kind: "program", selector: kind, target, ids: { () throws(BPFError) in try KernelObjects.programIDs() }) {
                guard let info = try? KernelProgram.open(id: $0).info() else { return false }
                return kind == "name" ? info.name == target : info.tag == target.lowercased()
            }
            do { return (try KernelProgram.open(id: id), "program '\(target)' (id \(id))") } catch { throw CLIError("program \(id): \(error)") }
        default:
            throw CLIError("'\(kind)': a program is selected by id N, pinned PATH, name NAME or tag TAG")
        }
    }
}

/// `swiftbpf prog run SELECTOR [--data-in F] [--ctx-in F] [--data-out F] [--ctx-out F] [--repeat N] [--json]`.
struct ProgRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Test-run a loaded program with BPF_PROG_TEST_RUN (packet and context in and out as files).",
        discussion: "As bpftool prog run: the packet from --data-in, the context from --ctx-in (the kernel's UAPI layout); the return value and the duration are printed, the packet and context written to --data-out and --ctx-out."
    )
    @OptionGroup var program: ProgramSelector
    @Option(help: "The packet, from a file (raw bytes).") var dataIn: String?
    @Option(help: "The context, from a file (raw bytes, the kernel's UAPI layout).") var ctxIn: String?
    @Option(help: "Write the packet after the run here.") var dataOut: String?
    @Option(help: "Write the context after the run here.") var ctxOut: String?
    @Option(help: "Run this many times (the kernel reports the mean duration).") var `repeat`: Int = 1
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard `repeat` >= 1 && `repeat` <= Int(UInt32.max) else { throw ValidationError("--repeat \(`repeat`): expected a count from 1 to \(UInt32.max)") }
    }

    func run() throws {
        func read(_ path: String?, _ option: String) throws -> [UInt8]? {
            guard let path else { return nil }
            guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("\(option) \(path): cannot read the file") }
            return [UInt8](data)
        }
        let data = try read(dataIn, "--data-in") ?? []
        let context = try read(ctxIn, "--ctx-in")
        let (program, label) = try self.program.open()
        let result: TestRunResult
        do { result = try program.testRun(data: data, context: context, repeat: UInt32(`repeat`)) } catch { throw CLIError("\(label): test run: \(error)") }
        func write(_ bytes: [UInt8], _ path: String?, _ option: String) throws {
            guard let path else { return }
            guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw CLIError("\(option) \(path): cannot write the file") }
        }
        try write(result.packetOut, dataOut, "--data-out")
        try write(result.contextOut, ctxOut, "--ctx-out")
        if json {
            print(JSONOutput.object([("retval", .number(UInt64(result.returnValue))), ("duration", .number(UInt64(result.nanosecondsPerRun))),
                                     ("data_out", .string(hexString(result.packetOut))), ("ctx_out", .string(hexString(result.contextOut)))]))
        } else {
            print("Return value: \(result.returnValue), duration\(`repeat` > 1 ? " (average)" : ""): \(UInt64(result.nanosecondsPerRun))ns")
        }
    }
}

/// `swiftbpf prog pin SELECTOR PATH`, `swiftbpf map pin SELECTOR PATH`, `swiftbpf link pin SELECTOR PATH`.
struct ProgPinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pin", abstract: "Pin a loaded program on a bpffs so it outlives every process.")
    @OptionGroup var program: ProgramSelector
    @Argument(help: "The pin path (on a bpffs, e.g. /sys/fs/bpf/NAME).") var path: String
    @Flag(help: "Print JSON: {\"pinned\": PATH}.") var json = false

    func run() throws {
        let (p, label) = try program.open()
        try PinLocation.prepare((path as NSString).deletingLastPathComponent, option: "pin path")
        do { try p.pin(at: path) } catch { throw CLIError("\(label): pin at \(path): \(error)") }
        if json { print(JSONOutput.object([("pinned", .string(path))])) }
    }
}

struct MapPinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pin", abstract: "Pin a kernel map on a bpffs so it outlives every process.")
    @OptionGroup var map: MapSelector
    @Argument(help: "The pin path (on a bpffs).") var path: String
    @Flag(help: "Print JSON: {\"pinned\": PATH}.") var json = false

    func run() throws {
        let (m, label) = try map.open()
        try PinLocation.prepare((path as NSString).deletingLastPathComponent, option: "pin path")
        do { try m.pin(at: path) } catch { throw CLIError("\(label): pin at \(path): \(error)") }
        if json { print(JSONOutput.object([("pinned", .string(path))])) }
    }
}

/// A link by `id N` or `pinned PATH`.
struct LinkSelector: ParsableArguments {
    @Argument(help: "How the link is named: id or pinned.") var kind: String
    @Argument(help: "The link's id or pin path.") var target: String

    func open() throws -> (link: KernelLink, label: String) {
        switch kind {
        case "id":
            guard let id = UInt32(target) else { throw CLIError("id \(target): expected a link id") }
            do { return (try KernelLink.open(id: id), "link \(id)") } catch { throw CLIError("link \(id): \(error)") }
        case "pinned":
            do { return (try KernelLink.pinned(at: target), "link pinned at \(target)") } catch { throw CLIError("pinned \(target): \(error)") }
        default:
            throw CLIError("'\(kind)': a link is selected by id N or pinned PATH")
        }
    }
}

struct LinkShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one link.")
    @OptionGroup var link: LinkSelector
    @Flag(help: "Print JSON (the fields of link list).") var json = false

    func run() throws {
        let (l, label) = try link.open()
        let info: LinkInfo
        do { info = try l.info() } catch { throw CLIError("\(label): \(error)") }
        print(json ? LinkListCommand.json(info).description : LinkListCommand.text(info))
    }
}

struct LinkPinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pin", abstract: "Pin a link on a bpffs: the attachment outlives every process.")
    @OptionGroup var link: LinkSelector
    @Argument(help: "The pin path (on a bpffs).") var path: String
    @Flag(help: "Print JSON: {\"pinned\": PATH}.") var json = false

    func run() throws {
        let (l, label) = try link.open()
        try PinLocation.prepare((path as NSString).deletingLastPathComponent, option: "pin path")
        do { try l.pin(at: path) } catch { throw CLIError("\(label): pin at \(path): \(error)") }
        if json { print(JSONOutput.object([("pinned", .string(path))])) }
    }
}

struct LinkDetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "detach", abstract: "Detach a link's program even while it is pinned or held (BPF_LINK_DETACH).")
    @OptionGroup var link: LinkSelector
    @Flag(help: "Print JSON: {\"detached\": true}.") var json = false

    func run() throws {
        let (l, label) = try link.open()
        do { try l.detach() } catch { throw CLIError("\(label): detach: \(error)") }
        if json { print(JSONOutput.object([("detached", .bool(true))])) }
    }
}
