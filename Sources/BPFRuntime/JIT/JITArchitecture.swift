/// The machine a JIT back end generates code for.
public enum JITArchitecture: String, Sendable, CaseIterable {
    /// ``JITProgram``'s code on x86-64 hosts.
    case x86_64 = "x86-64"
    /// ``ARM64Program``'s code: in process on arm64 hosts, under `qemu-aarch64` (``ARM64Emulator``) elsewhere.
    case arm64

    /// The machine this process runs on, when a back end generates code for it.
    public static var host: JITArchitecture? {
        #if arch(x86_64)
        .x86_64
        #elseif arch(arm64)
        .arm64
        #else
        nil
        #endif
    }

    /// Whether code for this machine runs under emulation here rather than in this process.
    public var isEmulated: Bool { self != Self.host }
}
