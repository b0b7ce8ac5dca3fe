/// A map operation failure, with the errno the kernel would return.
public struct MapError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The errno: `ENOENT`, `EEXIST`, `E2BIG`, `EINVAL`, `ENOSPC`, ...
    public var code: Code
    public var message: String

    /// The errno a map operation fails with.
    public enum Code: Int32, Sendable {
        case notPermitted = 1, noEntry = 2, tooBig = 7, badDescriptor = 9, tryAgain = 11, noMemory = 12, fault = 14, busy = 16, exists = 17
        case invalid = 22, noSpace = 28, outOfRange = 34, notSupported = 95
        public var name: String {
            switch self {
            case .badDescriptor: "EBADF"
            case .tryAgain: "EAGAIN"
            case .fault: "EFAULT"
            case .busy: "EBUSY"
            case .noSpace: "ENOSPC"
            case .outOfRange: "ERANGE"
            case .notPermitted: "EPERM"
            case .noEntry: "ENOENT"
            case .tooBig: "E2BIG"
            case .noMemory: "ENOMEM"
            case .exists: "EEXIST"
            case .invalid: "EINVAL"
            case .notSupported: "EOPNOTSUPP"
            }
        }
    }

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The negative errno a helper returns for this failure.
    public var helperReturnValue: UInt64 { UInt64(bitPattern: Int64(-code.rawValue)) }

    public var description: String { "\(code.name): \(message)" }
}
