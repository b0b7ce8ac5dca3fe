/// A parsed script: its probes in source order.
public struct TraceScript: Sendable {
    public var probes: [ProbeDefinition]

    /// Parses `source`; `name` is how errors name it (`stdin` for `-e`).
    public init(parsing source: String, name: String = "stdin") throws(TraceError) {
        do {
            var parser = Parser(source: source)
            probes = try parser.parseScript()
        } catch {
            throw error.attaching(source: source, name: name)
        }
    }
}

/// One probe as written: its attach points (`kprobe:vfs_read, kprobe:vfs_write`), an optional
/// predicate and the body.
public struct ProbeDefinition: Sendable {
    public struct AttachPoint: Sendable, Hashable {
        /// The text as written, e.g. `tracepoint:syscalls:sys_enter_*`.
        public var text: String
        public var location: SourceLocation
    }
    public var attachPoints: [AttachPoint]
    public var predicate: Expression?
    public var body: [Statement]
    public var location: SourceLocation
}

/// An expression with its place in the script.
public indirect enum ExpressionKind: Sendable {
    case integer(Int64)
    case string(String)
    /// `pid`, `comm`, `arg0`, `args`, ...
    case builtin(String)
    /// `$name`
    case variable(String)
    /// `@name[keys]`; `@` alone has the name "".
    case map(String, keys: [Expression])
    /// `name(args)`
    case call(String, arguments: [Expression])
    /// `base.field` or `base->field`
    case field(Expression, String)
    /// `(struct NAME *)expr`: a pointer typed by the kernel's BTF (`type` is `struct NAME`).
    case cast(type: String, Expression)
    case unary(String, Expression)
    case binary(String, Expression, Expression)
    case ternary(Expression, Expression, Expression)
}

public struct Expression: Sendable {
    public var kind: ExpressionKind
    public var location: SourceLocation
}

/// A statement of a probe body.
public indirect enum Statement: Sendable {
    case expression(Expression)
    /// `$x = e`, `@m[k] = e`, and the compound forms (`op` is `+` for `+=` and `++`; nil for `=`).
    case assignment(target: Expression, op: String?, value: Expression, location: SourceLocation)
    case ifElse(condition: Expression, then: [Statement], else: [Statement])
    /// `unroll (N) { ... }`
    case unroll(count: Int, body: [Statement], location: SourceLocation)
}
