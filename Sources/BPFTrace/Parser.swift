import Foundation

/// A token of the language.
enum Token: Equatable {
    case identifier(String)
    case integer(Int64)
    case string(String)
    /// `@name`, or `@` alone (name "").
    case map(String)
    /// `$name`
    case variable(String)
    case punctuation(String)
    case end

    var text: String {
        switch self {
        case .identifier(let s): "'\(s)'"
        case .integer(let v): "'\(v)'"
        case .string(let s): "string \"\(s)\""
        case .map(let s): "'@\(s)'"
        case .variable(let s): "'$\(s)'"
        case .punctuation(let s): "'\(s)'"
        case .end: "the end of the script"
        }
    }
}

/// Turns text into tokens on demand; probe headers are read raw (they hold `:`, `*`, `/`).
struct Lexer {
    let scalars: [Unicode.Scalar]
    var index = 0
    var line = 1
    var column = 1

    init(_ source: String) { scalars = Array(source.unicodeScalars) }

    var location: SourceLocation { SourceLocation(line: line, column: column) }

    func peekScalar(_ offset: Int = 0) -> Unicode.Scalar? {
        index + offset < scalars.count ? scalars[index + offset] : nil
    }

    mutating func advance() {
        if scalars[index] == "\n" {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    /// Skips white space, comments and preprocessor lines (`#include ...`).
    mutating func skipTrivia() throws(TraceError) {
        while let c = peekScalar() {
            if c == " " || c == "\t" || c == "\n" || c == "\r" {
                advance()
            } else if c == "/" && peekScalar(1) == "/" {
                while let d = peekScalar(), d != "\n" { advance() }
            } else if c == "/" && peekScalar(1) == "*" {
                let start = location
                advance(); advance()
                while true {
                    guard let d = peekScalar() else { throw TraceError("unterminated comment", at: start) }
                    if d == "*" && peekScalar(1) == "/" { advance(); advance(); break }
                    advance()
                }
            } else if c == "#" && column == 1 {
                while let d = peekScalar(), d != "\n" { advance() }
            } else {
                return
            }
        }
    }

    /// A probe's attach point as written: everything up to white space, `,`, `{` (or a `/`
    /// predicate, outside uprobe paths).
    mutating func readAttachPoint() -> String {
        var text = ""
        while let c = peekScalar(), c != " ", c != "\t", c != "\n", c != "\r", c != ",", c != "{" {
            if c == "/" && !(text.hasPrefix("uprobe:") || text.hasPrefix("uretprobe:") || text.hasPrefix("u:") || text.hasPrefix("ur:")) { break }
            text.unicodeScalars.append(c)
            advance()
        }
        return text
    }

    static func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_"
    }

    static func isIdentifierPart(_ c: Unicode.Scalar) -> Bool {
        isIdentifierStart(c) || (c >= "0" && c <= "9")
    }

    static let punctuation: [String] = [
        "<<=", ">>=", "->", "++", "--", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "+=", "-=", "*=", "/=", "%=",
        "&=", "|=", "^=", "{", "}", "(", ")", "[", "]", ";", ",", ":", "?", "=", "<", ">", "+", "-", "*", "/", "%",
        "!", "~", "&", "|", "^", ".",
    ]

    mutating func next() throws(TraceError) -> (Token, SourceLocation) {
        try skipTrivia()
        let start = location
        guard let c = peekScalar() else { return (.end, start) }
        if Lexer.isIdentifierStart(c) {
            return (.identifier(readWord()), start)
        }
        if c == "@" || c == "$" {
            advance()
            let name = readWord()
            if c == "$" && name.isEmpty { throw TraceError("expected a variable name after '$'", at: start) }
            return (c == "@" ? .map(name) : .variable(name), start)
        }
        if c >= "0" && c <= "9" {
            var text = ""
            while let d = peekScalar(), Lexer.isIdentifierPart(d) { text.unicodeScalars.append(d); advance() }
            let clean = text.replacingOccurrences(of: "_", with: "")
            let value: UInt64?
            if clean.hasPrefix("0x") || clean.hasPrefix("0X") {
                value = UInt64(clean.dropFirst(2), radix: 16)
            } else if clean.count > 1 && clean.hasPrefix("0") && clean.allSatisfy({ $0 >= "0" && $0 <= "7" }) {
                value = UInt64(clean.dropFirst(), radix: 8)
            } else if let multiplier = ["K": 1024, "M": 1 << 20, "G": 1 << 30].first(where: { clean.hasSuffix($0.key) }),
                      let base = UInt64(clean.dropLast()) {
                value = base * UInt64(multiplier.value)
            } else {
                value = UInt64(clean)
            }
            guard let value else { throw TraceError("invalid number '\(text)'", at: start) }
            return (.integer(Int64(bitPattern: value)), start)
        }
        if c == "\"" {
            advance()
            var text = ""
            while true {
                guard let d = peekScalar(), d != "\n" else { throw TraceError("unterminated string", at: start) }
                advance()
                if d == "\"" { break }
                if d == "\\" {
                    guard let e = peekScalar() else { throw TraceError("unterminated string", at: start) }
                    advance()
                    switch e {
                    case "n": text += "\n"
                    case "t": text += "\t"
                    case "r": text += "\r"
                    case "0": text += "\0"
                    case "\\": text += "\\"
                    case "\"": text += "\""
                    default: throw TraceError("unknown escape '\\\(e)' in a string", at: SourceLocation(line: line, column: column - 2))
                    }
                } else {
                    text.unicodeScalars.append(d)
                }
            }
            return (.string(text), start)
        }
        for p in Lexer.punctuation {
            let ps = Array(p.unicodeScalars)
            if (0..<ps.count).allSatisfy({ peekScalar($0) == ps[$0] }) {
                for _ in ps { advance() }
                return (.punctuation(p), start)
            }
        }
        throw TraceError("unexpected character '\(c)'", at: start)
    }

    mutating func readWord() -> String {
        var text = ""
        while let d = peekScalar(), Lexer.isIdentifierPart(d) { text.unicodeScalars.append(d); advance() }
        return text
    }
}

/// A recursive-descent parser of the language (precedence as in C).
struct Parser {
    var lexer: Lexer
    var lookahead: (Token, SourceLocation)?

    init(source: String) { lexer = Lexer(source) }

    mutating func peek() throws(TraceError) -> (Token, SourceLocation) {
        if let lookahead { return lookahead }
        let token = try lexer.next()
        lookahead = token
        return token
    }

    @discardableResult
    mutating func take() throws(TraceError) -> (Token, SourceLocation) {
        let token = try peek()
        lookahead = nil
        return token
    }

    mutating func check(_ p: String) throws(TraceError) -> Bool {
        try peek().0 == .punctuation(p)
    }

    mutating func accept(_ p: String) throws(TraceError) -> Bool {
        if try check(p) { lookahead = nil; return true }
        return false
    }

    mutating func expect(_ p: String, _ context: String) throws(TraceError) {
        let (token, location) = try peek()
        guard token == .punctuation(p) else { throw TraceError("expected '\(p)' \(context), found \(token.text)", at: location) }
        lookahead = nil
    }

    mutating func parseScript() throws(TraceError) -> [ProbeDefinition] {
        var probes: [ProbeDefinition] = []
        while true {
            try lexer.skipTrivia()
            if lexer.peekScalar() == nil { break }
            probes.append(try parseProbe())
        }
        if probes.isEmpty { throw TraceError("the script has no probes", at: SourceLocation(line: 1, column: 1)) }
        return probes
    }

    mutating func parseProbe() throws(TraceError) -> ProbeDefinition {
        var points: [ProbeDefinition.AttachPoint] = []
        let start = lexer.location
        while true {
            try lexer.skipTrivia()
            let location = lexer.location
            let text = lexer.readAttachPoint()
            if text.isEmpty {
                let found = lexer.peekScalar().map { "'\($0)'" } ?? "the end of the script"
                throw TraceError("expected a probe (e.g. tracepoint:syscalls:sys_enter_openat or BEGIN), found \(found)", at: location)
            }
            points.append(.init(text: text, location: location))
            try lexer.skipTrivia()
            if lexer.peekScalar() == "," { lexer.advance(); continue }
            break
        }
        var predicate: Expression?
        if try accept("/") {
            predicate = try parseExpression(noDivision: true)
            try expect("/", "to end the predicate")
        }
        let body = try parseBlock("after the probe")
        return ProbeDefinition(attachPoints: points, predicate: predicate, body: body, location: start)
    }

    mutating func parseBlock(_ context: String) throws(TraceError) -> [Statement] {
        try expect("{", context)
        var statements: [Statement] = []
        while true {
            if try accept("}") { break }
            if try peek().0 == .end { throw TraceError("expected '}' to end the block", at: try peek().1) }
            if try accept(";") { continue }
            let statement = try parseStatement()
            statements.append(statement)
            if case .ifElse = statement { continue }
            if case .unroll = statement { continue }
            if try accept("}") { break }
            let (token, location) = try peek()
            guard token == .punctuation(";") else { throw TraceError("expected ';' or '}' after the statement, found \(token.text)", at: location) }
            lookahead = nil
        }
        return statements
    }

    mutating func parseStatement() throws(TraceError) -> Statement {
        let (token, location) = try peek()
        if token == .identifier("if") {
            try take()
            try expect("(", "after 'if'")
            let condition = try parseExpression()
            try expect(")", "after the condition")
            let then = try parseBlock("after the condition of 'if'")
            var otherwise: [Statement] = []
            if try peek().0 == .identifier("else") {
                try take()
                if try peek().0 == .identifier("if") {
                    otherwise = [try parseStatement()]
                } else {
                    otherwise = try parseBlock("after 'else'")
                }
            }
            return .ifElse(condition: condition, then: then, else: otherwise)
        }
        if token == .identifier("unroll") {
            try take()
            try expect("(", "after 'unroll'")
            let (countToken, countLocation) = try take()
            guard case .integer(let count) = countToken, count >= 1, count <= 100 else {
                throw TraceError("unroll takes a count from 1 to 100", at: countLocation)
            }
            try expect(")", "after the count of 'unroll'")
            return .unroll(count: Int(count), body: try parseBlock("after 'unroll (N)'"), location: location)
        }
        let target = try parseExpression()
        let (next, nextLocation) = try peek()
        if case .punctuation(let p) = next, ["=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", "++", "--"].contains(p) {
            switch target.kind {
            case .variable, .map: break
            default: throw TraceError("only a $variable or an @map can be assigned", at: nextLocation)
            }
            try take()
            if p == "++" || p == "--" {
                return .assignment(target: target, op: p == "++" ? "+" : "-", value: Expression(kind: .integer(1), location: nextLocation), location: nextLocation)
            }
            let value = try parseExpression()
            return .assignment(target: target, op: p == "=" ? nil : String(p.dropLast()), value: value, location: nextLocation)
        }
        return .expression(target)
    }

    // MARK: Expressions

    /// Inside a predicate `/.../` a bare `/` ends it, so division there needs parentheses.
    var noDivision = false

    mutating func parseExpression(noDivision: Bool = false) throws(TraceError) -> Expression {
        let saved = self.noDivision
        self.noDivision = noDivision
        defer { self.noDivision = saved }
        return try parseTernary()
    }

    mutating func parseTernary() throws(TraceError) -> Expression {
        let condition = try parseBinary(0)
        guard try check("?") else { return condition }
        try take()
        let a = try parseTernary()
        try expect(":", "in the conditional expression")
        let b = try parseTernary()
        return Expression(kind: .ternary(condition, a, b), location: condition.location)
    }

    static let precedence: [[String]] = [
        ["||"], ["&&"], ["|"], ["^"], ["&"], ["==", "!="], ["<", "<=", ">", ">="], ["<<", ">>"], ["+", "-"], ["*", "/", "%"],
    ]

    mutating func parseBinary(_ level: Int) throws(TraceError) -> Expression {
        if level == Parser.precedence.count { return try parseUnary() }
        var left = try parseBinary(level + 1)
        while case .punctuation(let p) = try peek().0, Parser.precedence[level].contains(p) {
            if p == "/" && noDivision { break }
            let location = try take().1
            let right = try parseBinary(level + 1)
            left = Expression(kind: .binary(p, left, right), location: location)
        }
        return left
    }

    mutating func parseUnary() throws(TraceError) -> Expression {
        let (token, location) = try peek()
        if case .punctuation(let p) = token, ["!", "-", "~"].contains(p) {
            try take()
            let operand = try parseUnary()
            if p == "-", case .integer(let v) = operand.kind { return Expression(kind: .integer(0 &- v), location: location) }
            return Expression(kind: .unary(p, operand), location: location)
        }
        if token == .punctuation("(") {
            // A cast `(int64)x` is accepted and ignored for integer types.
            try take()
            if case .identifier(let name) = try peek().0, Parser.castTypes.contains(name) {
                try take()
                try expect(")", "after the cast's type")
                return try parseUnary()
            }
            if case .identifier(let keyword) = try peek().0, keyword == "struct" || keyword == "union" {
                // `(struct NAME *)x`: a typed pointer.
                try take()
                let (token, nameLocation) = try take()
                guard case .identifier(let name) = token else { throw TraceError("expected the \(keyword)'s name, found \(token.text)", at: nameLocation) }
                guard try accept("*") else { throw TraceError("only pointer casts are supported: (\(keyword) \(name) *)", at: nameLocation) }
                try expect(")", "after the cast's type")
                let operand = try parseUnary()
                return Expression(kind: .cast(type: "\(keyword) \(name)", operand), location: location)
            }
            let inner = try parseExpression()
            try expect(")", "to close '('")
            return try parsePostfix(inner)
        }
        return try parsePostfix(try parsePrimary())
    }

    static let castTypes: Set<String> = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]

    mutating func parsePostfix(_ base: Expression) throws(TraceError) -> Expression {
        var expression = base
        while true {
            let isDot = try check(".")
            let isArrow = try check("->")
            if isDot || isArrow {
                let location = try take().1
                let (token, fieldLocation) = try take()
                guard case .identifier(let name) = token else { throw TraceError("expected a field name, found \(token.text)", at: fieldLocation) }
                expression = Expression(kind: .field(expression, name), location: location)
            } else {
                return expression
            }
        }
    }

    mutating func parseArguments(_ context: String) throws(TraceError) -> [Expression] {
        var arguments: [Expression] = []
        if try accept(")") { return arguments }
        while true {
            arguments.append(try parseExpression())
            if try accept(")") { return arguments }
            try expect(",", "between the \(context)")
        }
    }

    mutating func parsePrimary() throws(TraceError) -> Expression {
        let (token, location) = try take()
        switch token {
        case .integer(let v): return Expression(kind: .integer(v), location: location)
        case .string(let s): return Expression(kind: .string(s), location: location)
        case .variable(let name): return Expression(kind: .variable(name), location: location)
        case .map(let name):
            var keys: [Expression] = []
            if try accept("[") {
                while true {
                    keys.append(try parseExpression())
                    if try accept("]") { break }
                    try expect(",", "between the map's keys")
                }
            }
            return Expression(kind: .map(name, keys: keys), location: location)
        case .identifier(let name):
            if try accept("(") {
                return Expression(kind: .call(name, arguments: try parseArguments("arguments of \(name)()")), location: location)
            }
            return Expression(kind: .builtin(name), location: location)
        default:
            throw TraceError("expected an expression, found \(token.text)", at: location)
        }
    }
}
