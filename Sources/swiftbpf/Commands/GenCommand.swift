import ArgumentParser
import BPFObject
import Foundation
import SwiftBPF

/// `swiftbpf gen skeleton OBJ.o`: Swift source for an object — layout-exact structs for its BTF
/// types and a skeleton with a typed property per map, program and global variable.
struct GenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gen",
        abstract: "Generate Swift source from an object.",
        subcommands: [GenSkeletonCommand.self]
    )
}

struct GenSkeletonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skeleton",
        abstract: "Write a Swift skeleton for an object (as bpftool gen skeleton, bpf2go and aya-tool do).",
        discussion: """
            The skeleton is a struct named after the object (--name to choose) with a property per \
            global variable (set before loading), load(backend:), and a Loaded class with a typed \
            BPFMap per map, a BPFProgram per program and the .data/.bss variables live. Structs for \
            the BTF types of map keys and values and of globals are generated with their C layout; \
            --type adds others (ring buffer records). Without --output it prints to standard output. \
            --json prints {"skeleton": the type name, "output": path or null, "bytes": the source's size \
            in UTF-8, "source": the source (null when written to --output), "maps": [{"name", "type"}], \
            "programs": [{"name", "section", "type"}]} (types as the kernel spells them).
            """
    )

    @Argument(help: "The object file.") var file: String
    @Option(help: "The skeleton's type name (default: from the file name, e.g. tracer.bpf.o → Tracer).") var name: String?
    @Option(name: .customLong("type"), help: "Also generate this C struct (repeatable), e.g. --type event.") var types: [String] = []
    @Option(help: "The path the skeleton reads the object from by default (default: FILE).") var resource: String?
    @Option(name: [.short, .long], help: "Write the source to this file.") var output: String?
    @Flag(help: "Embed the object in the skeleton (base64): its init() needs no file.") var embed = false
    @Flag(help: "Print JSON: what was generated, with the source (or the --output path).") var json = false

    func run() throws {
        let object: ObjectFile
        do { object = try ObjectFile(contentsOf: file) } catch { throw CLIError("\(error)") }
        let typeName = name ?? Self.typeName(forFile: file)
        let source: String
        do {
            let bytes = embed ? [UInt8](try Data(contentsOf: URL(fileURLWithPath: file))) : nil
            source = try SkeletonGenerator(object: object, name: typeName, resource: embed ? resource : (resource ?? file),
                                           extraTypes: types, embedding: bytes).source()
        } catch {
            throw CLIError("\(file): \(error)")
        }
        if let output {
            do { try Data(source.utf8).write(to: URL(fileURLWithPath: output)) } catch { throw CLIError("\(output): \(error.localizedDescription)") }
        } else if !json {
            print(source, terminator: "")
        }
        if json {
            print(JSONOutput.object([
                ("skeleton", .string(typeName)),
                ("output", output.map { .string($0) } ?? .null),
                ("bytes", .number(UInt64(source.utf8.count))),
                ("source", output == nil ? .string(source) : .null),
                ("maps", .array(object.maps.map { .object([("name", .string($0.name)), ("type", .string($0.type.kernelName))]) })),
                ("programs", .array(object.programs.map {
                    .object([("name", .string($0.name)), ("section", .string($0.section)), ("type", .string($0.type.kernelName))])
                })),
            ]))
        }
    }

    /// `tracer.bpf.o` → `Tracer`, `xdp_counter.o` → `XdpCounter`.
    static func typeName(forFile path: String) -> String {
        var base = URL(fileURLWithPath: path).lastPathComponent
        for suffix in [".o", ".bpf"] where base.hasSuffix(suffix) { base.removeLast(suffix.count) }
        let words = base.split { !$0.isLetter && !$0.isNumber }
        let name = words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        return name.first?.isLetter == true ? name : "Object" + name
    }
}
