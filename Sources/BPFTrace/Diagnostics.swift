/// A place in a script: 1-based line and column.
public struct SourceLocation: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "\(line):\(column)" }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// Why a script cannot run: what is wrong and where, as `NAME:LINE:COLUMN: message`, followed by
/// the script's line and a caret under the column.
///
/// ```swift
/// do { _ = try TraceScript(parsing: "BEGIN { foo }") } catch { print(error) }
/// // stdin:1:9: unknown builtin 'foo'
/// // BEGIN { foo }
/// //         ^
/// ```
public struct TraceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Where, when the error has a place in the script.
    public var location: SourceLocation?
    /// What is wrong, in one sentence.
    public var message: String
    /// The script's name (`stdin` for `-e`, else the file's path).
    public var sourceName: String
    /// The script's line at `location`.
    public var sourceLine: String?

    public init(_ message: String, at location: SourceLocation? = nil, sourceName: String = "stdin", sourceLine: String? = nil) {
        self.message = message
        self.location = location
        self.sourceName = sourceName
        self.sourceLine = sourceLine
    }

    /// The first line only: `stdin:1:9: unknown builtin 'foo'`.
    public var summary: String {
        guard let location else { return "\(sourceName): \(message)" }
        return "\(sourceName):\(location.line):\(location.column): \(message)"
    }

    public var description: String {
        guard let location, let sourceLine else { return summary }
        let pad = String(sourceLine.prefix(max(location.column - 1, 0)).map { $0 == "\t" ? "\t" : " " })
        return summary + "\n" + sourceLine + "\n" + pad + "^"
    }

    /// The same error, with its source line filled in from `source`.
    func attaching(source: String, name: String) -> TraceError {
        var copy = self
        copy.sourceName = name
        if let location {
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
            if location.line >= 1 && location.line <= lines.count { copy.sourceLine = String(lines[location.line - 1]) }
        }
        return copy
    }
}
