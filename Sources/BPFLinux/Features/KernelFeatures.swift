import BPFCore
import BPFObject
import Synchronization

/// What the running kernel supports — program types, map types, helpers per program type — probed
/// as cilium/ebpf's `features` and `bpftool feature probe` do: a minimal program is loaded (a map
/// created) and the kernel's answer read. Results are cached for the process.
///
/// ```swift
/// if KernelFeatures.mapType(.arena) != .supported { /* skip, saying why */ }
/// KernelFeatures.helper(23, programType: .schedCls)    // .supported (bpf_redirect)
/// ```
public enum KernelFeatures {
    /// A probe's answer.
    public enum Support: Sendable, Hashable, CustomStringConvertible {
        case supported
        /// The kernel refused it; why (errno and the verifier's reason).
        case unsupported(String)
        /// The probe could not tell: the kernel refused the probe itself (permissions), or the
        /// feature needs more than a probe can give (an attach target, BTF types).
        case unknown(String)

        public var isSupported: Bool { self == .supported }

        public var description: String {
            switch self {
            case .supported: "supported"
            case .unsupported(let why): "unsupported: \(why)"
            case .unknown(let why): "unknown: \(why)"
            }
        }
    }

    private struct Cache {
        var programs: [UInt32: Support] = [:]
        var maps: [UInt32: Support] = [:]
        var helpers: [Int64: Support] = [:]
    }
    private static let cache = Mutex(Cache())
    /// The cache is the real kernel's: probes answered by a stand-in (`BPFSyscall.handler`) bypass it.
    private static var cached: Bool { BPFSyscall.handler == nil }

    /// `r0 = 0` and `exit`: the smallest program every type accepts.
    static let returnZero = Instruction(opcode: 0xb7)   // BPF_ALU64 | BPF_MOV | BPF_K, r0 = 0
    static let exitInstruction = Instruction(opcode: Opcode.exit)

    /// Types a probe cannot load without an attach target in the kernel's BTF.
    static let needsAttachTarget: Set<ProgramType> = [.tracing, .ext, .lsm, .structOps]

    /// Whether the kernel loads programs of `type`.
    public static func programType(_ type: ProgramType) -> Support {
        if cached, let known = cache.withLock({ $0.programs[type.rawValue] }) { return known }
        let answer = probeProgram(type, instructions: [returnZero, exitInstruction])
        if cached { cache.withLock { $0.programs[type.rawValue] = answer } }
        return answer
    }

    /// Whether programs of `type` may call helper `id` (loaded with a GPL license).
    public static func helper(_ id: Int32, programType type: ProgramType) -> Support {
        let key = Int64(type.rawValue) << 32 | Int64(UInt32(bitPattern: id))
        if cached, let known = cache.withLock({ $0.helpers[key] }) { return known }
        var answer = programType(type)
        if answer.isSupported {
            answer = probeProgram(type, instructions: [Instruction(opcode: Opcode.call, imm: id), returnZero, exitInstruction], helper: id)
        }
        if cached { cache.withLock { $0.helpers[key] = answer } }
        return answer
    }

    /// The helpers `program` calls that this kernel does not offer to its type, each once, in the
    /// order of the calls (each probed with ``helper(_:programType:)``). A kernel's build may leave
    /// a helper out — kernels differ between machines — and then refuses the program whatever its
    /// safety ("program of this type cannot use helper …").
    ///
    /// ```swift
    /// if let id = KernelFeatures.unavailableHelpers(in: spec).first { print("needs \(HelperPrototype[id]?.name ?? "helper \(id)")") }
    /// ```
    public static func unavailableHelpers(in program: ProgramSpec) -> [Int32] {
        var called: [Int32] = []
        var i = 0
        while i < program.instructions.count {
            let ins = program.instructions[i]
            if ins.opcode == Opcode.call && ins.src == 0 && !called.contains(ins.imm) { called.append(ins.imm) }
            i += ins.opcode == Opcode.lddw ? 2 : 1
        }
        return called.filter {
            if case .unsupported = helper($0, programType: program.type) { return true }
            return false
        }
    }

    /// Whether the kernel creates maps of `type`.
    public static func mapType(_ type: MapType) -> Support {
        if cached, let known = cache.withLock({ $0.maps[type.rawValue] }) { return known }
        let answer = probeMap(type)
        if cached { cache.withLock { $0.maps[type.rawValue] = answer } }
        return answer
    }

    // MARK: Probes

    static func probeProgram(_ type: ProgramType, instructions: [Instruction], helper: Int32? = nil) -> Support {
        if needsAttachTarget.contains(type) {
            return .unknown("\(type.kernelName) programs load only with an attach target (a kernel function or struct)")
        }
        if type == .unspecified { return .unsupported("the kernel has no programs of type 0") }
        let attach = ProgramType.parse(type.kernelName)?.attach
        do {
            // Syscall programs must be sleepable.
            let flags = type == .syscall ? ProgramLoadRequest.Flag.sleepable : 0
            let program = try KernelProgram.load(type: type, instructions: instructions, expectedAttachType: attach,
                                                 name: "swiftbpf_probe", flags: flags, logLevel: helper == nil ? 0 : 1, logSize: 4096)
            program.close()
            return .supported
        } catch {
            let log = error.verifierLog ?? ""
            if helper != nil {
                // The verifier checks availability before the arguments: any other complaint means
                // the type may call the helper.
                if log.contains("unknown func") || log.contains("invalid func") || log.contains("cannot use helper")
                    || log.contains("cannot call GPL-restricted function") || log.contains("helper call is not allowed") {
                    return .unsupported(KernelProgram.verifierSummary(log) ?? "\(error.errno.map { "\($0)" } ?? "refused")")
                }
                if error.errno == .EPERM { return .unknown("the kernel refused the probe (EPERM): needs root or CAP_BPF") }
                return .supported
            }
            if error.errno == .EPERM { return .unknown("the kernel refused the probe (EPERM): needs root or CAP_BPF, or lockdown") }
            return .unsupported(KernelProgram.verifierSummary(log) ?? "\(error.errno.map { "\($0)" } ?? "refused")")
        }
    }

    /// Key size, value size, max entries and flags a map of each type accepts; nil where creating
    /// one needs BTF types or a kernel object (local storage, struct_ops).
    static func mapShape(_ type: MapType) -> (key: Int, value: Int, entries: Int, flags: UInt32)? {
        switch type {
        case .unspecified, .skStorage, .inodeStorage, .taskStorage, .cgrpStorage, .structOps: nil
        case .lpmTrie: (8, 8, 1, 1)                      // BPF_F_NO_PREALLOC
        case .stackTrace: (4, 8, 1, 0)
        case .cgroupStorage, .perCPUCgroupStorage: (16, 8, 0, 0)
        case .queue, .stack: (0, 4, 1, 0)
        case .bloomFilter: (0, 4, 1, 0)
        case .ringBuffer, .userRingBuffer: (0, 0, 4096, 0)
        case .arena: (0, 0, 1, KernelMap.Flag.mmapable)
        case .hash, .lruHash, .perCPUHash, .lruPerCPUHash, .hashOfMaps, .devmapHash, .sockhash: (4, 4, 1, 0)
        default: (4, 4, 1, 0)
        }
    }

    static func probeMap(_ type: MapType) -> Support {
        guard let shape = mapShape(type) else {
            return .unknown("\(type.kernelName) maps are created with BTF types or a kernel object; a probe cannot create one alone")
        }
        do {
            var inner: KernelMap?
            if type == .arrayOfMaps || type == .hashOfMaps {
                inner = try KernelMap(MapSpec(name: "probe_inner", type: .array, keySize: 4, valueSize: 4, maxEntries: 1))
            }
            let spec = MapSpec(name: "swiftbpf_probe", type: type, keySize: shape.key, valueSize: shape.value,
                               maxEntries: shape.entries, flags: shape.flags)
            _ = try KernelMap(spec, innerMap: inner)
            return .supported
        } catch {
            if error.errno == .EPERM { return .unknown("the kernel refused the probe (EPERM): needs root or CAP_BPF, or this kernel forbids it") }
            return .unsupported("\(error.errno.map { "\($0)" } ?? "refused")")
        }
    }
}
