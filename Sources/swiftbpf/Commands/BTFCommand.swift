import ArgumentParser
import BPFObject
import Foundation

/// `swiftbpf btf ...`: BTF type information.
struct BTFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "btf",
        abstract: "Inspect BTF type information.",
        subcommands: [BTFDumpCommand.self]
    )
}

/// `swiftbpf btf dump FILE [--format raw|c]`, like `bpftool btf dump file FILE [format c]`.
struct BTFDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the BTF types of an ELF object or a raw BTF file such as /sys/kernel/btf/vmlinux.",
        discussion: """
            raw (the default) prints one line per type with its fields, as bpftool does; c prints a header \
            of C declarations (vmlinux.h) whose struct layouts equal the BTF ones.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case raw, c
    }

    @Argument(help: "An ELF object with a .BTF section, or a raw BTF file (magic 0xeb9f).") var file: String
    @Option(help: "raw (one line per type, as bpftool) or c (C declarations).") var format: Format = .raw

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CLIError("cannot read '\(file)'")
        }
        let text: String
        do {
            let btf = try BTF(fileBytes: [UInt8](data))
            switch format {
            case .raw: text = BTFRawFormatter(btf: btf).format()
            case .c: text = try BTFCFormatter(btf: btf).format()
            }
        } catch {
            throw CLIError("\(file): \(error)")
        }
        print(text, terminator: "")
    }
}
