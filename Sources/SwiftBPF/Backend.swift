@_exported import BPFObject
import BPFLinux
import BPFRuntime
import Foundation

/// Where an object's programs run: the Swift runtime (anywhere, no privileges) or the Linux kernel
/// (`bpf(2)`, root or CAP_BPF).
public enum Backend: String, Sendable, Hashable, CaseIterable {
    case runtime
    case kernel
}

/// An error of the SwiftBPF façade: the object, map or program it concerns, and the backend's error.
public struct SwiftBPFError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An object loaded into one backend: the same maps and programs API whichever it is.
///
/// ```swift
/// let object = try ObjectFile(contentsOf: "xdp_counter.o")
/// let loaded = try BPFCollection(object, backend: .kernel)   // or .runtime (the default)
/// let run = try loaded.program(named: "xdp_counter")!.testRun(packet: frame)
/// for (key, value) in try loaded.map(named: "proto_stats")!.entries() { print(key, value) }
/// ```
public final class BPFCollection: Sendable {
    public let object: ObjectFile
    public let backend: Backend
    /// The maps, in the object's order.
    public let maps: [BPFMap]
    /// The programs by name.
    public let programs: [String: BPFProgram]
    /// The runtime's loaded object, when the backend is the runtime.
    public let runtimeObject: LoadedObject?
    /// The kernel's loaded object, when the backend is the kernel.
    public let kernelObject: KernelObject?

    /// Loads `object` into `backend`. `programs` limits loading to these programs (and those their
    /// program arrays name); `kconfig` sets `.kconfig` externs by name (little-endian bytes; the
    /// kernel backend reads the rest from the running kernel); `engine` picks the runtime's JIT or interpreter.
    public init(_ object: ObjectFile, backend: Backend = .runtime, programs only: Set<String>? = nil,
                kconfig: [String: [UInt8]] = [:], kernelOptions: KernelLoadOptions = KernelLoadOptions(),
                engine: ExecutionEngine = .default, verification: VerificationPolicy = .strict) throws {
        self.object = object
        self.backend = backend
        switch backend {
        case .runtime:
            let loaded = try LoadedObject(object, kconfig: kconfig, programs: only, verification: verification, engine: engine)
            runtimeObject = loaded
            kernelObject = nil
            maps = loaded.maps.map { BPFMap(.runtime($0), spec: $0.spec) }
            programs = loaded.programs.mapValues { BPFProgram(.runtime($0), spec: $0.spec) }
        case .kernel:
            var options = kernelOptions
            if let only { options.programs = only }
            options.kconfig.merge(kconfig) { _, new in new }
            let loaded = try KernelObject(object, options: options)
            kernelObject = loaded
            runtimeObject = nil
            maps = loaded.maps.map { BPFMap(.kernel($0.map), spec: $0.spec) }
            programs = Dictionary(uniqueKeysWithValues: loaded.programs.compactMap { name, program in
                object.program(named: name).map { (name, BPFProgram(.kernel(program), spec: $0)) }
            })
        }
    }

    /// The map with this name.
    public func map(named name: String) -> BPFMap? { maps.first { $0.spec.name == name } }

    /// The program with this name.
    public func program(named name: String) -> BPFProgram? { programs[name] }
}

extension ObjectFile {
    /// Reads an object file from disk.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw SwiftBPFError("cannot read '\(path)'") }
        try self.init(bytes: [UInt8](data))
    }
}
