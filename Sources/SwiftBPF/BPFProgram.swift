import BPFLinux
import BPFObject
import BPFRuntime

/// A program of either backend, with one API.
///
/// ```swift
/// let program = loaded.program(named: "xdp_counter")!
/// let result = try program.testRun(packet: frame, repeat: 100)
/// print(result.returnValue, result.nanosecondsPerRun)
/// ```
public struct BPFProgram: Sendable {
    /// The backend's program.
    public enum Storage: Sendable {
        case runtime(LoadedProgram)
        case kernel(KernelProgram)
    }

    public let storage: Storage
    /// The program as the object describes it.
    public let spec: ProgramSpec

    init(_ storage: Storage, spec: ProgramSpec) {
        self.storage = storage
        self.spec = spec
    }

    public var name: String { spec.name }
    public var type: ProgramType { spec.type }
    public var section: String { spec.section }

    /// Runs the program as `BPF_PROG_TEST_RUN` does for its type, on `packet` and/or `context`
    /// (in the kernel's UAPI layout), `repeat` times. Programs of `struct __sk_buff` types run
    /// without a context get a zeroed one on both backends, so `contextOut` and `wire_len` agree.
    public func testRun(packet: [UInt8] = [], context: [UInt8]? = nil, repeat count: Int = 1) throws -> TestRunResult {
        switch storage {
        case .runtime(let program):
            return try program.testRun(packet: packet, context: context, repeat: count)
        case .kernel(let program):
            guard let times = UInt32(exactly: max(count, 1)) else {
                throw SwiftBPFError("\(spec.name): repeat \(count) is more than the kernel's test run takes (at most \(UInt32.max))")
            }
            // An skb program run without a context gets a zeroed one, as the runtime does: the kernel
            // then fills wire_len and returns the context, so both backends answer alike.
            var context = context
            if context == nil, SKBAccess(spec.type) != nil { context = [UInt8](repeating: 0, count: SKBLayout.size) }
            return try program.testRun(data: packet, context: context, repeat: times)
        }
    }
}
