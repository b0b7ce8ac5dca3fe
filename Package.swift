// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "SwiftBPF",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "BPFCore", targets: ["BPFCore"]),
        .library(name: "BPFObject", targets: ["BPFObject"]),
        .library(name: "BPFVerifier", targets: ["BPFVerifier"]),
        .library(name: "BPFRuntime", targets: ["BPFRuntime"]),
        .library(name: "BPFLinux", targets: ["BPFLinux"]),
        .library(name: "SwiftBPF", targets: ["SwiftBPF"]),
        .library(name: "BPFTrace", targets: ["BPFTrace"]),
        .executable(name: "swiftbpf", targets: ["swiftbpf"]),
        // Compiles a target's *.bpf.c with clang and generates their Swift skeletons.
        .plugin(name: "BPFSkeletons", targets: ["BPFSkeletons"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Instructions, the ISA, encoding, assembler, disassembler.
        .target(name: "BPFCore"),
        // ELF and BTF reading, the object model (programs, maps, global data), linking.
        .target(name: "BPFObject", dependencies: ["BPFCore"]),
        // The verifier: path-sensitive abstract interpretation that proves programs safe.
        .target(name: "BPFVerifier", dependencies: ["BPFCore", "BPFObject"]),
        // Maps, helpers, program contexts, the interpreter (later the JIT back ends).
        .target(name: "BPFRuntime", dependencies: ["BPFCore", "BPFObject", "BPFVerifier", "CBPFRuntimeSupport"]),
        // C entry points the runtime needs (atomics on raw memory).
        .target(name: "CBPFRuntimeSupport"),
        // The Linux kernel backend: the bpf(2) syscall layer, kernel maps and programs.
        .target(name: "BPFLinux", dependencies: ["BPFCore", "BPFObject", "CBPFLinuxSupport"]),
        // The bpf(2) call and our own `union bpf_attr` layouts (no kernel headers needed).
        .target(name: "CBPFLinuxSupport"),
        // The public API: one object, loaded into the Swift runtime or the kernel, one maps/programs API.
        .target(name: "SwiftBPF", dependencies: ["BPFCore", "BPFObject", "BPFRuntime", "BPFLinux"]),
        // The tracing language: bpftrace's scripts compiled by Swift to eBPF, run on either backend.
        .target(name: "BPFTrace", dependencies: ["BPFCore", "BPFObject", "BPFVerifier", "BPFRuntime", "BPFLinux"]),
        // The command-line tool.
        .executableTarget(
            name: "swiftbpf",
            dependencies: [
                "BPFCore", "BPFObject", "BPFVerifier", "BPFRuntime", "BPFLinux", "SwiftBPF", "BPFTrace",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Release benchmarks: `swift run -c release swiftbpf-bench`.
        .executableTarget(name: "swiftbpf-bench", dependencies: ["BPFCore", "BPFObject", "BPFVerifier", "BPFRuntime", "BPFLinux", "SwiftBPF", "BPFTrace"]),
        // Paths and helpers shared by the test targets.
        .target(name: "BPFTestSupport", dependencies: ["BPFObject", "BPFLinux"], path: "Tests/BPFTestSupport"),
        .testTarget(name: "BPFCoreTests", dependencies: ["BPFCore", "BPFTestSupport"]),
        .testTarget(name: "BPFObjectTests", dependencies: ["BPFCore", "BPFObject", "BPFTestSupport"]),
        .testTarget(name: "BPFRuntimeTests", dependencies: ["BPFCore", "BPFObject", "BPFRuntime", "BPFTestSupport"]),
        .testTarget(name: "BPFVerifierTests",
                    dependencies: ["BPFCore", "BPFObject", "BPFVerifier", "BPFRuntime", "BPFLinux", "BPFTestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "BPFLinuxTests", dependencies: ["BPFCore", "BPFObject", "BPFLinux", "BPFTestSupport", "CBPFLinuxSupport"]),
        .testTarget(name: "BPFTraceTests", dependencies: ["BPFTrace", "BPFCore", "BPFObject", "BPFRuntime", "BPFLinux", "BPFTestSupport"]),
        .testTarget(name: "SwiftBPFTests", dependencies: ["SwiftBPF", "BPFLinux", "BPFRuntime", "BPFTestSupport"]),
        // Every ```swift block of README.md and Docs/ compiled (the DocExamples plugin).
        .testTarget(name: "DocExampleTests",
                    dependencies: ["BPFCore", "BPFObject", "BPFVerifier", "BPFRuntime", "BPFLinux", "SwiftBPF", "BPFTrace"],
                    exclude: ["counter.bpf.c"], plugins: ["DocExamples", "BPFSkeletons"]),
        .plugin(name: "DocExamples", capability: .buildTool()),
        // `*.bpf.c` → clang -target bpf → `swiftbpf gen skeleton --embed`, for any target that applies it.
        .plugin(name: "BPFSkeletons", capability: .buildTool(), dependencies: ["swiftbpf-skeleton"]),
        // The plugin's tool: the skeleton generator and vmlinux.h writer, without the CLI's dependencies.
        .executableTarget(name: "swiftbpf-skeleton", dependencies: ["BPFObject", "SwiftBPF"]),
        // A target built by the BPFSkeletons plugin, as a user's would be.
        .testTarget(name: "SkeletonPluginTests", dependencies: ["SwiftBPF", "BPFTestSupport"],
                    exclude: ["counter.bpf.c"], plugins: ["BPFSkeletons"]),
        .testTarget(name: "SwiftBPFCommandTests", dependencies: ["swiftbpf", "BPFCore", "BPFObject", "BPFLinux", "BPFTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
