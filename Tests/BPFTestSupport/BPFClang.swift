import Foundation

/// A clang that compiles for `-target bpf`, for tests that check generated C: `$CLANG`, else `clang`
/// on `PATH`, else the clang beside the `swift` on `PATH` (the Swift toolchain ships one with the BPF
/// target), else `/opt/swift/usr/bin/clang`. The first candidate that compiles a one-line BPF file wins.
public enum BPFClang {
    /// The compiler, or nil when no candidate has the BPF target.
    public static let executable: URL? = {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [URL] = []
        if let clang = environment["CLANG"], !clang.isEmpty {
            if clang.contains("/") { candidates.append(URL(fileURLWithPath: clang)) } else { candidates += searchPath(clang) }
        }
        candidates += searchPath("clang")
        for swift in searchPath("swift") {
            candidates.append(swift.resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("clang"))
        }
        candidates.append(URL(fileURLWithPath: "/opt/swift/usr/bin/clang"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) && compilesForBPF($0) }
    }()

    /// Why tests that need it are skipped.
    public static let skipReason = "no clang with the BPF target found (set CLANG=/path/to/clang; the Swift toolchain's clang has it)"

    private static func searchPath(_ name: String) -> [URL] {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
            .filter { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    private static func compilesForBPF(_ clang: URL) -> Bool {
        (try? check("int swiftbpf_probe;\n", clang: clang).succeeded) ?? false
    }

    /// The outcome of one compile.
    public struct Outcome: Sendable {
        public var succeeded: Bool
        /// clang's diagnostics.
        public var diagnostics: String
    }

    /// Compiles C source with `-target bpf -fsyntax-only` (extra flags after), from a temporary file.
    public static func check(_ source: String, flags: [String] = []) throws -> Outcome {
        guard let executable else { throw CocoaError(.fileNoSuchFile) }
        return try check(source, clang: executable, flags: flags)
    }

    private static func check(_ source: String, clang: URL, flags: [String] = []) throws -> Outcome {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-clang-\(UUID()).c")
        try Data(source.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = clang
        process.arguments = ["-target", "bpf", "-fsyntax-only", "-ferror-limit=50"] + flags + [file.path]
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let diagnostics = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(succeeded: process.terminationStatus == 0, diagnostics: String(decoding: diagnostics, as: UTF8.self))
    }
}
