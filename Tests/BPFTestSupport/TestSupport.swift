import Foundation

/// Paths and inputs the test targets share: the repository root, the bpf_conformance vectors
/// (`$SWIFTBPF_CONFORMANCE_DIR`, else `../shared/conformance` beside the repository), and a
/// deterministic random generator for bounded randomized tests.
public enum TestPaths {
    /// The repository root.
    public static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The bpf_conformance folder, or nil when it is absent.
    public static let conformance: URL? = {
        if let path = ProcessInfo.processInfo.environment["SWIFTBPF_CONFORMANCE_DIR"] { return URL(fileURLWithPath: path) }
        let shared = repository.deletingLastPathComponent().appendingPathComponent("shared/conformance")
        return FileManager.default.fileExists(atPath: shared.appendingPathComponent("tests").path) ? shared : nil
    }()

    /// Why the conformance tests are skipped when the vectors are absent.
    public static let conformanceSkipReason = "bpf_conformance vectors not found at ../shared/conformance (set SWIFTBPF_CONFORMANCE_DIR)"

    /// The `.data` files of a conformance folder (`tests` or `negative`), sorted, optionally by name prefix.
    public static func conformanceFiles(_ folder: String, prefix: String = "") -> [URL] {
        guard let conformance else { return [] }
        let dir = conformance.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".data") && $0.hasPrefix(prefix) }.sorted().map { dir.appendingPathComponent($0) }
    }

    /// The bytes of a file under the repository.
    public static func bytes(_ path: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: repository.appendingPathComponent(path)))
    }
}

/// SplitMix64: a small deterministic generator, so randomized tests reproduce from their seed.
public struct SplitMix: RandomNumberGenerator {
    public var state: UInt64
    public init(state: UInt64) { self.state = state }
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
