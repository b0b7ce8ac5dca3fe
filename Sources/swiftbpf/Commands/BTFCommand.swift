import ArgumentParser
import BPFLinux
import BPFObject
import Foundation

/// `swiftbpf btf ...`: BTF type information.
struct BTFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "btf",
        abstract: "Inspect BTF type information.",
        subcommands: [BTFDumpCommand.self, BTFListCommand.self, BTFShowCommand.self]
    )
}

/// `swiftbpf btf dump (FILE | id N | map SELECTOR) [--format raw|c]`, like `bpftool btf dump`.
struct BTFDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the BTF types of an ELF object, a raw BTF file such as /sys/kernel/btf/vmlinux, a BTF object in the kernel (id N) or a kernel map's (map id N | pinned PATH | name NAME).",
        discussion: """
            raw (the default) prints one line per type with its fields, as bpftool does; c prints a header \
            of C declarations (vmlinux.h) whose struct layouts equal the BTF ones. Module BTF (split on \
            vmlinux's) is not read yet.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case raw, c
    }

    @Argument(help: "An ELF object with a .BTF section or a raw BTF file (magic 0xeb9f); or id N; or map id N | pinned PATH | name NAME.")
    var file: String
    @Argument(help: "With id or map: which.") var selector: [String] = []
    @Option(help: "raw (one line per type, as bpftool) or c (C declarations).") var format: Format = .raw
    @Flag(help: "Print JSON: {\"types\": [raw lines]} or {\"c\": text}.") var json = false
    @Flag(help: "With --format c: also declare the kernel's kfuncs (functions tagged bpf_kfunc) as extern __weak __ksym, as bpftool 7.4+ does.")
    var kfuncs = false

    /// The BTF bytes the arguments name, and a label for messages.
    func source() throws -> (bytes: [UInt8], label: String) {
        func kernelBTF(_ id: UInt32) throws -> [UInt8] {
            do {
                let btf = try KernelBTF.open(id: id)
                defer { btf.close() }
                return try btf.bytes()
            } catch { throw CLIError("BTF \(id): \(error)") }
        }
        switch (file, selector.count) {
        case ("id", 1):
            guard let id = UInt32(selector[0]) else { throw CLIError("id \(selector[0]): expected a BTF id (btf list)") }
            return (try kernelBTF(id), "BTF \(id)")
        case ("prog", 1), ("prog", 2):
            let (program, id) = try ProgCommand.open(selector)
            let btfID: UInt32
            do { btfID = try program.info().btfID } catch { throw CLIError("program \(id): \(error)") }
            guard btfID != 0 else { throw CLIError("program \(id) has no BTF (loaded without func and line info)") }
            return (try kernelBTF(btfID), "program \(id)'s BTF \(btfID)")
        case ("map", 2):
            let (map, label) = try MapSelector.parse(selector).open()
            let info: MapInfo
            do { info = try map.info() } catch { throw CLIError("\(label): \(error)") }
            guard info.btfID != 0 else { throw CLIError("\(label) has no BTF (created without key and value types)") }
            return (try kernelBTF(info.btfID), "\(label)'s BTF \(info.btfID)")
        case (_, 0):
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read '\(file)'") }
            return ([UInt8](data), file)
        default:
            throw CLIError("expected FILE, id N, prog SELECTOR or map id N | pinned PATH | name NAME")
        }
    }

    func run() throws {
        let (data, label) = try source()
        let file = label
        let text: String
        do {
            let btf = try BTF(fileBytes: data)
            switch format {
            case .raw: text = BTFRawFormatter(btf: btf).format()
            case .c: text = try BTFCFormatter(btf: btf, options: BTFCFormatter.Options(kfuncPrototypes: kfuncs)).format()
            }
        } catch {
            throw CLIError("\(file): \(error)")
        }
        if json {
            print(format == .c ? JSONOutput.object([("c", .string(text))])
                  : JSONOutput.object([("types", .array(text.split(separator: "\n").map { .string(String($0)) }))]))
            return
        }
        print(text, terminator: "")
    }
}

/// `swiftbpf btf list [--json]`: every BTF object in the kernel.
struct BTFListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List every BTF object in the kernel (vmlinux, modules, programs' and maps').")
    @Flag(help: "Print a JSON array of {id, name, size, kernel}.") var json = false

    static func json(_ info: KernelBTF.Info) -> JSONOutput {
        .object([("id", .number(UInt64(info.id))), ("name", .string(info.name)), ("size", .number(UInt64(info.size))),
                 ("kernel", .bool(info.isKernel))])
    }

    static func text(_ info: KernelBTF.Info) -> String {
        "\(info.id): name \(info.name.isEmpty ? "-" : info.name)  size \(info.size)B" + (info.isKernel ? "  kernel" : "")
    }

    func run() throws {
        let ids: [UInt32]
        do { ids = try KernelBTF.ids() } catch { throw CLIError("listing BTF objects: \(error)") }
        let infos = forEachKernelObject(ids) { id -> KernelBTF.Info? in
            guard let btf = try? KernelBTF.open(id: id) else { return nil }
            defer { btf.close() }
            return try? btf.info()
        }
        if json { print(JSONOutput.array(infos.map(Self.json))) } else { for info in infos { print(Self.text(info)) } }
    }
}

/// `swiftbpf btf show id N [--json]`.
struct BTFShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one BTF object of the kernel.")
    @Argument(help: "id") var kind: String
    @Argument(help: "The BTF object's id.") var id: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard kind == "id", let number = UInt32(id) else { throw CLIError("expected id N (a BTF object's id, see btf list)") }
        let info: KernelBTF.Info
        do {
            let btf = try KernelBTF.open(id: number)
            defer { btf.close() }
            info = try btf.info()
        } catch { throw CLIError("BTF \(number): \(error)") }
        print(json ? BTFListCommand.json(info).description : BTFListCommand.text(info))
    }
}
