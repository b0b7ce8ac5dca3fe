import Foundation
import PackagePlugin

/// Builds a target's eBPF C and generates its Swift skeletons, so `swift build` is all a user runs.
///
/// For every `*.bpf.c` under the target's directory (list them in the target's `exclude:`, since
/// SwiftPM refuses C files in a Swift target):
/// 1. `clang -O2 -g -target bpf -c NAME.bpf.c` (the toolchain's clang), with the file's directory,
///    the target's directory and its `include/` on the include path;
/// 2. `swiftbpf gen skeleton NAME.bpf.o --embed` (its tool `swiftbpf-skeleton`): a Swift type named after the file (`tracer.bpf.c`
///    gives `Tracer`) with the object embedded, its maps, programs and globals typed.
///
/// A source that includes `vmlinux.h` gets one made from the running kernel's BTF
/// (`/sys/kernel/btf/vmlinux`) unless the target ships its own `vmlinux.h`. SwiftBPF's own
/// `swiftbpf_helpers.h` (every helper used by our fixtures, the map macros, the UAPI contexts and
/// packet headers) is on the include path too.
@main
struct BPFSkeletons: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        do { return try commands(context: context, target: target) } catch {
            Diagnostics.error("BPFSkeletons: \(error)")
            throw error
        }
    }

    func commands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let directory = target.directoryURL
        let sources = Self.files(under: directory) { $0.hasSuffix(".bpf.c") }
        guard !sources.isEmpty else { return [] }
        let headers = Self.files(under: directory) { $0.hasSuffix(".h") }
        let clang = try Self.clang(context)
        let swiftbpf = try context.tool(named: "swiftbpf-skeleton").url
        let work = context.pluginWorkDirectoryURL

        var commands: [Command] = []
        var includes = [directory, directory.appending(path: "include")]
        // SwiftBPF's own header (`#include "swiftbpf_helpers.h"`): helpers, map macros, UAPI structs.
        let ours = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appending(path: "Tests/Fixtures/bpf/include")
        if FileManager.default.fileExists(atPath: ours.appending(path: "swiftbpf_helpers.h").path) { includes.append(ours) }
        var generatedHeaders: [URL] = []
        let needsVmlinux = sources.contains { (try? String(contentsOf: $0, encoding: .utf8))?.contains("vmlinux.h") == true }
        if needsVmlinux && !headers.contains(where: { $0.lastPathComponent == "vmlinux.h" }) {
            let header = work.appending(path: "include/vmlinux.h")
            try FileManager.default.createDirectory(at: header.deletingLastPathComponent(), withIntermediateDirectories: true)
            commands.append(.buildCommand(
                displayName: "vmlinux.h from /sys/kernel/btf/vmlinux",
                executable: swiftbpf,
                arguments: ["vmlinux", "/sys/kernel/btf/vmlinux", header.path],
                inputFiles: [swiftbpf],
                outputFiles: [header]))
            includes.append(header.deletingLastPathComponent())
            generatedHeaders.append(header)
        }
        for source in sources {
            var base = source.lastPathComponent
            base.removeLast(".bpf.c".count)
            let object = work.appending(path: "\(base).bpf.o")
            let skeleton = work.appending(path: "\(Self.typeName(base)).skeleton.swift")
            var arguments: [String] = ["-O2", "-g", "-target", "bpf", "-Wall", "-c", source.path, "-o", object.path]
            for directory in [source.deletingLastPathComponent()] + includes {
                arguments.append("-I")
                arguments.append(directory.path)
            }
            let inputs: [URL] = [source] + headers + generatedHeaders
            commands.append(.buildCommand(
                displayName: "Compiling \(source.lastPathComponent) for BPF",
                executable: clang,
                arguments: arguments,
                inputFiles: inputs,
                outputFiles: [object]))
            commands.append(.buildCommand(
                displayName: "Generating the Swift skeleton of \(base).bpf.o",
                executable: swiftbpf,
                arguments: ["skeleton", object.path, Self.typeName(base), skeleton.path],
                inputFiles: [object, swiftbpf],
                outputFiles: [skeleton]))
        }
        return commands
    }

    /// `xdp_filter` → `XdpFilter`.
    static func typeName(_ base: String) -> String {
        let name = base.split { !$0.isLetter && !$0.isNumber }.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        return name.first?.isLetter == true ? name : "Object" + name
    }

    static func files(under directory: URL, _ matches: (String) -> Bool) -> [URL] {
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { matches($0.lastPathComponent) }.sorted { $0.path < $1.path }
    }

    /// The toolchain's clang (it has the BPF target), else one on PATH.
    static func clang(_ context: PluginContext) throws -> URL {
        if let tool = try? context.tool(named: "clang") { return tool.url }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories: [String] = path.split(separator: ":").map(String.init) + ["/opt/swift/usr/bin", "/usr/bin"]
        for directory in directories {
            let candidate = URL(fileURLWithPath: directory).appending(path: "clang")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw PluginError("no clang found (the Swift toolchain's clang has the BPF target): put it on PATH")
    }
}

struct PluginError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
