import Synchronization

/// A probe a Swift app defines and fires, that programs attach to in the Swift runtime (as
/// uprobes/USDT do in the kernel): `swiftbpf`'s scripts attach with `app:NAME`. While nothing is
/// attached, firing costs one relaxed atomic load and a branch.
///
/// ```swift
/// let requests = AppProbe(named: "request")       // registered by name, for scripts to find
/// requests.fire(UInt64(status), UInt64(bytes))   // arg0, arg1 of attached programs
/// ```
public final class AppProbe: Sendable {
    /// The name scripts attach to (`app:NAME`).
    public let name: String
    private let attachedCount = Atomic<Int>(0)
    private let programs = Mutex<[(id: Int, program: LoadedProgram)]>([])
    private let nextID = Atomic<Int>(0)

    private static let registry = Mutex<[String: AppProbe]>([:])

    /// A probe named `name`, registered so that scripts can find it (the newest of a name wins).
    public init(named name: String) {
        self.name = name
        AppProbe.registry.withLock { $0[name] = self }
    }

    /// The registered probe with this name.
    public static func named(_ name: String) -> AppProbe? { registry.withLock { $0[name] } }

    /// Every registered probe's name.
    public static var names: [String] { registry.withLock { Array($0.keys).sorted() } }

    /// Whether a program is attached.
    @inlinable public var isAttached: Bool { attachedCountValue > 0 }

    @usableFromInline var attachedCountValue: Int { attachedCount.load(ordering: .relaxed) }

    /// Attaches a program (a raw tracepoint program: it reads the arguments as `__u64 args[]`);
    /// returns a handle for ``detach(_:)``.
    @discardableResult
    public func attach(_ program: LoadedProgram) -> Int {
        let id = nextID.add(1, ordering: .relaxed).newValue
        programs.withLock { $0.append((id, program)) }
        attachedCount.add(1, ordering: .releasing)
        return id
    }

    /// Detaches the program attached with this handle.
    public func detach(_ handle: Int) {
        let removed = programs.withLock { list in
            let before = list.count
            list.removeAll { $0.id == handle }
            return before - list.count
        }
        if removed > 0 { attachedCount.subtract(removed, ordering: .releasing) }
    }

    /// Fires the probe: every attached program runs with the arguments as its context (up to 12).
    /// Nothing is allocated unless a program is attached.
    @inlinable public func fire(_ a0: UInt64 = 0, _ a1: UInt64 = 0, _ a2: UInt64 = 0, _ a3: UInt64 = 0) {
        guard isAttached else { return }
        run([a0, a1, a2, a3])
    }

    /// Fires the probe with up to 12 arguments.
    @inlinable public func fire(arguments: [UInt64]) {
        guard isAttached else { return }
        run(arguments)
    }

    @usableFromInline func run(_ arguments: [UInt64]) {
        var context: [UInt8] = []
        context.reserveCapacity(arguments.count * 8)
        for argument in arguments.prefix(12) { withUnsafeBytes(of: argument.littleEndian) { context += $0 } }
        for (_, program) in programs.withLock({ $0 }) { _ = try? program.testRun(context: context) }
    }
}
