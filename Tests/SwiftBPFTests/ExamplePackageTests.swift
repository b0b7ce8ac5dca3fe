import BPFTestSupport
import Foundation
import Testing

/// The `Examples/` package, built as a user builds it (`swift build`, the BPFSkeletons plugin
/// compiling its `*.bpf.c`), once per test run.
enum ExamplePackage {
    static let directory = TestPaths.repository.appendingPathComponent("Examples")

    /// The `swift` that runs these tests (beside the toolchain's clang), else the one on PATH.
    static let swift: URL? = {
        var candidates: [URL] = []
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append(URL(fileURLWithPath: String(directory)).appendingPathComponent("swift"))
        }
        candidates.append(URL(fileURLWithPath: "/opt/swift/usr/bin/swift"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    /// Runs `executable` with `arguments` in the examples' directory; (status, standard output and error).
    static func run(_ executable: URL, _ arguments: [String], timeout: TimeInterval = 900) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = DispatchTime.now() + timeout
        let reader = DispatchQueue(label: "example-output")
        nonisolated(unsafe) var data = Data()
        let done = DispatchSemaphore(value: 0)
        reader.async {
            data = output.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
        if done.wait(timeout: deadline) == .timedOut {
            process.terminate()
            done.wait()
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// `swift build --build-tests` of the package, once: nil when it built, else why not.
    static let buildFailure: String? = {
        guard let swift else { return "no swift toolchain on PATH" }
        do {
            let result = try run(swift, ["build", "--build-tests"])
            return result.status == 0 ? nil : "swift build of Examples failed:\n\(result.output.suffix(4000))"
        } catch {
            return "swift build of Examples could not run: \(error)"
        }
    }()

    static let toolchain = Availability(swift != nil, else: "no swift toolchain on PATH")
        .and(Availability(BPFClang.executable != nil, else: BPFClang.skipReason))

    static func binary(_ name: String) -> URL { directory.appendingPathComponent(".build/debug/\(name)") }
}

@Suite("The Examples package, built with the BPFSkeletons plugin", .serialized, .requires(ExamplePackage.toolchain))
struct ExamplePackageTests {
    @Test("it builds with swift build, and xdp-filter's own tests pass rootless")
    func buildsAndTests() throws {
        if let failure = ExamplePackage.buildFailure { Issue.record(Comment(rawValue: failure)); return }
        let result = try ExamplePackage.run(try #require(ExamplePackage.swift), ["test", "--skip-build"])
        #expect(result.status == 0, "\(result.output.suffix(3000))")
        #expect(result.output.contains("3 tests"), "\(result.output.suffix(3000))")
    }

    @Test("xdp-filter over the sample capture in the runtime: frames 7, 10, 15 and 18 dropped, as its README says")
    func xdpFilterPcap() throws {
        if let failure = ExamplePackage.buildFailure { Issue.record(Comment(rawValue: failure)); return }
        let result = try ExamplePackage.run(ExamplePackage.binary("XDPFilter"), ["--block-port", "9", "--pcap", "xdp-counter/sample.pcap"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output == "frame 7: dropped\nframe 10: dropped\nframe 15: dropped\nframe 18: dropped\npassed 16, dropped 4\n")
    }

    @Test("opensnoop in the kernel reports this test's own open of a file", .requires(KernelBackend.bpf))
    func openSnoop() async throws {
        if let failure = ExamplePackage.buildFailure { Issue.record(Comment(rawValue: failure)); return }
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-opensnoop-\(getpid())")
        try Data("x".utf8).write(to: marker)
        defer { try? FileManager.default.removeItem(at: marker) }
        // Keep opening the marker until opensnoop has seen it (it attaches after it starts).
        let opener = Task.detached {
            while !Task.isCancelled {
                _ = FileManager.default.contents(atPath: marker.path)
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
        }
        defer { opener.cancel() }
        let result = try ExamplePackage.run(ExamplePackage.binary("OpenSnoop"), ["--pid", "\(getpid())", "--count", "1"], timeout: 60)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.hasPrefix("PID     UID    COMM             FILE\n\(getpid()) "), "\(result.output)")
        #expect(result.output.contains("pid \(getpid()): "), "\(result.output)")
    }
}
