import Foundation

/// The host program with USDT probes the USDT tests read and trace: `Tests/Fixtures/bpf/kernel/
/// usdt_probes.c` (its notes written by hand, no `<sys/sdt.h>`), built once per test run with a host
/// C compiler: `$CLANG`, the Swift toolchain's clang, `/usr/bin/clang` or `/usr/bin/cc`.
///
/// `usdt_probes N` calls `fire(i)` for i in 0..<N — probe `swiftbpf:args` with (-7, i, (short)-i,
/// 2 * (1000 + i)), and `swiftbpf:gated` with (1000 + i) while its semaphore is set — then prints
/// the semaphore; `usdt_probes N wait` first waits for a byte on stdin.
public enum USDTProbes {
    /// The source's path in the repository.
    public static let source = TestPaths.repository.appendingPathComponent("Tests/Fixtures/bpf/kernel/usdt_probes.c")

    /// The built binary's path, or why it could not be built.
    public static let binary: Result<String, USDTProbesUnavailable> = {
        let candidates = [ProcessInfo.processInfo.environment["CLANG"], "/opt/swift/usr/bin/clang", "/usr/bin/clang", "/usr/bin/cc"]
        guard let compiler = candidates.compactMap({ $0 }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failure(USDTProbesUnavailable(reason: "no host C compiler (clang) to build usdt_probes.c"))
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-usdt-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let out = dir.appendingPathComponent("usdt_probes")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: compiler)
        process.arguments = ["-O1", "-g0", source.path, "-o", out.path]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        do { try process.run() } catch { return .failure(USDTProbesUnavailable(reason: "cannot run \(compiler): \(error)")) }
        let diagnostics = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return .failure(USDTProbesUnavailable(reason: "\(compiler) could not build usdt_probes.c: \(diagnostics.prefix(400))"))
        }
        return .success(out.path)
    }()

    /// Whether the binary could be built (the tests that use it require this).
    public static var built: Availability {
        switch binary {
        case .success: .available
        case .failure(let why): .missing(why.reason)
        }
    }
}

/// Why the USDT probe program could not be built.
public struct USDTProbesUnavailable: Error, CustomStringConvertible {
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}
