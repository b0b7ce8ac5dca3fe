import Testing

/// Whether something a test needs is here: the machine, the kernel or a tool, probed once and cached
/// by whoever makes one (a `static let`).
public enum Availability: Sendable, Equatable {
    case available
    /// It is not; why, in words a reader of the test report understands (with the kernel's error).
    case missing(String)

    /// `.available` when `condition` holds, else `.missing(reason())`.
    public init(_ condition: Bool, else reason: @autoclosure () -> String) {
        self = condition ? .available : .missing(reason())
    }

    public var isAvailable: Bool { self == .available }

    /// Why not, or nil when it is available.
    public var reason: String? {
        if case .missing(let why) = self { return why }
        return nil
    }

    /// Both needed: the first missing one's reason.
    public func and(_ other: @autoclosure () -> Availability) -> Availability {
        isAvailable ? other() : self
    }
}

/// A test (or every test of a suite) that needs `availability`: skipped, with its reason, when it is
/// missing. Swift Testing reports the test as skipped — never as passed — and shows the reason:
///
///     ➜ Test fentryCountsCalls() skipped: "fentry: the kernel refuses it: BPF_PROG_LOAD failed: EPERM …"
///
/// It is `.enabled(if:_:)` with a reason computed when the test is about to run, not when tests are
/// listed: the probe runs once, and only if a test that needs it runs. Use `.requires(...)`.
public struct Requirement: TestTrait, SuiteTrait {
    let availability: @Sendable () -> Availability
    public var isRecursive: Bool { true }

    public func prepare(for test: Test) async throws {
        guard let why = availability().reason else { return }
        // The condition trait's own skip: reported as skipped, with the comment as the reason.
        try await ConditionTrait.disabled(Comment(rawValue: why)).prepare(for: test)
    }
}

extension Trait where Self == Requirement {
    /// Skips the test (or suite) with the reason when `availability` is `.missing`:
    /// `@Test(.requires(Kernel.bpf))`.
    public static func requires(_ availability: @autoclosure @escaping @Sendable () -> Availability) -> Self {
        Requirement(availability: availability)
    }
}
