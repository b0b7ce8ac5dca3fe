import BPFLinux
import BPFObject
import BPFRuntime
import BPFVerifier

/// The one error of the SwiftBPF façade, whichever backend or layer failed: what kind of failure
/// (``Code``), the errno where there is one (the kernel's, or the one the runtime models), the place
/// (object section, map, program, global, instruction), and — when a verifier refused a program —
/// the verifier's structured explanation, intact.
///
/// ```swift
/// do { _ = try BPFCollection(object) }
/// catch let error as SwiftBPFError where error.code == .verifierRejected {
///     print(error.verifierError?.instruction ?? -1, error.verifierError?.sourceLine?.text ?? "")
/// }
/// ```
public struct SwiftBPFError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure.
    public enum Code: String, Sendable, Hashable {
        /// A map key, program, map, global or file that does not exist (`ENOENT`).
        case notFound = "not_found"
        /// An argument the operation cannot take: a wrong size or type, a bad name (`EINVAL`, `ERANGE`).
        case invalidArgument = "invalid_argument"
        /// The key exists and `.noExist` was asked (`EEXIST`).
        case exists = "exists"
        /// A full map, no room (`ENOSPC`, `E2BIG` from an update).
        case noSpace = "no_space"
        /// Not allowed: privileges, a frozen map, a read-only global (`EPERM`, `EACCES`).
        case permissionDenied = "permission_denied"
        /// This backend or this kernel does not have the feature (`EOPNOTSUPP`, `ENOTSUPP`, `ENOSYS`).
        case unsupported = "unsupported"
        /// A verifier (ours or the kernel's) refused a program.
        case verifierRejected = "verifier_rejected"
        /// The object file is malformed or inconsistent.
        case invalidObject = "invalid_object"
        /// Any other failure of a system call or the runtime.
        case failed = "failed"
    }

    public var code: Code
    /// Where: `map 'counts'`, `global 'target_pid'`, `program 'xdp_prog' (section 'xdp'), instruction 12`, ...
    public var place: String?
    /// What is wrong, in a sentence.
    public var message: String
    /// The errno, when the failure has one.
    public var errno: Int32?
    /// The verifier's explanation (instruction, C line, registers), when our verifier refused a program.
    public var verifierError: VerifierError?
    /// The kernel verifier's log, when the kernel refused a program.
    public var verifierLog: String?
    /// The backend's own error, for callers that need its details.
    public var underlying: (any Error & Sendable)?

    public init(_ code: Code, place: String? = nil, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.place = place
        self.message = message
        self.errno = errno
    }

    /// A failure described by a message only.
    public init(_ message: String) { self.init(.failed, message) }

    public var description: String {
        var text = place.map { "\($0): " } ?? ""
        text += message
        if let verifierLog, !verifierLog.isEmpty, !message.contains(verifierLog) { text += "\nverifier log:\n" + verifierLog }
        return text
    }

    /// The façade's error for any error of a lower layer, keeping its details.
    public init(_ error: any Error, place: String? = nil) {
        switch error {
        case let error as SwiftBPFError:
            self = error
            if let place, self.place == nil { self.place = place }
            return
        case let error as MapError:
            self.init(Self.code(errno: error.code.rawValue), place: place, error.description, errno: error.code.rawValue)
        case let error as BPFError:
            let errno = error.errno?.rawValue
            var code = errno.map { Self.code(errno: $0) } ?? .invalidArgument
            if error.command == .progLoad, error.errno == .EACCES || error.errno == .EINVAL, error.verifierLog?.isEmpty == false {
                code = .verifierRejected
            }
            self.init(code, place: place, error.description, errno: errno)
            verifierLog = error.verifierLog
        case let error as LoadError:
            let code: Code = error.verifierError != nil ? .verifierRejected : .invalidArgument
            self.init(code, place: error.place, error.message)
            verifierError = error.verifierError
        case let error as ObjectError:
            self.init(.invalidObject, place: error.place, error.message)
        case let error as VerifierError:
            self.init(.verifierRejected, place: place, error.description)
            verifierError = error
        default:
            self.init(.failed, place: place, String(describing: error))
        }
        underlying = error
    }

    /// The code an errno stands for.
    static func code(errno: Int32) -> Code {
        switch errno {
        case 2, 3, 19: .notFound                // ENOENT, ESRCH, ENODEV
        case 17: .exists                        // EEXIST
        case 28, 7: .noSpace                    // ENOSPC, E2BIG (a full map)
        case 1, 13: .permissionDenied           // EPERM, EACCES
        case 95, 524, 38: .unsupported          // EOPNOTSUPP, ENOTSUPP, ENOSYS
        case 22, 34: .invalidArgument           // EINVAL, ERANGE
        default: .failed
        }
    }
}

/// Runs `body`, turning any error into a ``SwiftBPFError`` at `place`.
func bridged<T>(_ place: String? = nil, _ body: () throws -> T) throws(SwiftBPFError) -> T {
    do { return try body() } catch { throw SwiftBPFError(error, place: place) }
}
