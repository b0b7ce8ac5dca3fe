// swift-tools-version: 6.1
// SwiftBPF's examples, each built with the BPFSkeletons plugin: `swift build` compiles the
// `*.bpf.c` with clang and generates their Swift skeletons. See each example's README.md.
import PackageDescription

let package = Package(
    name: "SwiftBPFExamples",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "SwiftBPF", path: ".."),
    ],
    targets: [
        // opensnoop: which processes open which files, filtered by a PID set as a constant.
        .executableTarget(name: "OpenSnoop", dependencies: [.product(name: "SwiftBPF", package: "SwiftBPF")],
                          exclude: ["opensnoop.bpf.c", "README.md"],
                          plugins: [.plugin(name: "BPFSkeletons", package: "SwiftBPF")]),
        // The XDP filter's program and its Swift side, shared by the tool and its tests.
        .target(name: "XDPFilterCore", dependencies: [.product(name: "SwiftBPF", package: "SwiftBPF")],
                exclude: ["xdp_filter.bpf.c"],
                plugins: [.plugin(name: "BPFSkeletons", package: "SwiftBPF")]),
        // xdp-filter: drop UDP to blocked ports, on a network interface or over a pcap file.
        .executableTarget(name: "XDPFilter", dependencies: ["XDPFilterCore"], exclude: ["README.md"]),
        // The filter unit-tested rootless in the Swift runtime: pcap in, verdicts out.
        .testTarget(name: "XDPFilterTests", dependencies: ["XDPFilterCore"]),
    ],
    swiftLanguageModes: [.v6]
)
