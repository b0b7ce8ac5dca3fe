import Testing
@testable import BPFTrace

/// The language's front end: parsing and the errors a bad script gets, with line and column.
@Suite struct ParserTests {
    @Test func parsesProbesPredicatesAndStatements() throws {
        let script = try TraceScript(parsing: """
            // count opens
            tracepoint:syscalls:sys_enter_openat, tracepoint:syscalls:sys_enter_open /pid > 1 && comm != "sh"/ {
                @[comm] = count();
                $x = args.flags & 0x40 ? 1 : 0;
                if ($x) { @created++; } else { @other += 2; }
            }
            END { printf("%d\\n", 1); }
            """)
        #expect(script.probes.count == 2)
        #expect(script.probes[0].attachPoints.map(\.text) == ["tracepoint:syscalls:sys_enter_openat", "tracepoint:syscalls:sys_enter_open"])
        #expect(script.probes[0].attachPoints[1].location == SourceLocation(line: 2, column: 39))
        #expect(script.probes[0].predicate != nil)
        #expect(script.probes[0].body.count == 3)
        #expect(script.probes[1].attachPoints.map(\.text) == ["END"])
        guard case .assignment(let target, let op, _, _) = script.probes[0].body[0], case .map("", let keys) = target.kind else {
            Issue.record("expected @[comm] = ...")
            return
        }
        #expect(op == nil)
        #expect(keys.count == 1)
    }

    @Test func numbersAndEscapes() throws {
        let script = try TraceScript(parsing: #"BEGIN { $a = 0x10 + 010 + 1_000 + 4K; printf("a\tb\n\"q\""); }"#)
        guard case .assignment(_, _, let value, _) = script.probes[0].body[0] else { Issue.record("no assignment"); return }
        guard case .binary("+", let left, let right) = value.kind, case .integer(4096) = right.kind,
              case .binary("+", _, let thousand) = left.kind, case .integer(1000) = thousand.kind else {
            Issue.record("unexpected tree \(value.kind)")
            return
        }
        guard case .expression(let call) = script.probes[0].body[1], case .call("printf", let arguments) = call.kind,
              case .string(let format) = arguments[0].kind else { Issue.record("no printf"); return }
        #expect(format == "a\tb\n\"q\"")
    }

    /// Each bad script names the place and the cause.
    @Test(arguments: [
        ("BEGIN { @x = 1 ", "stdin:1:16: expected ';' or '}' after the statement, found the end of the script"),
        ("BEGIN { x = 1; }", "stdin:1:11: only a $variable or an @map can be assigned"),
        ("BEGIN {\n  printf(\"unterminated);\n}", "stdin:2:10: unterminated string"),
        ("  ", "stdin:1:1: the script has no probes"),
        ("BEGIN { $ = 1; }", "stdin:1:9: expected a variable name after '$'"),
        ("BEGIN { @x = 1 + ; }", "stdin:1:18: expected an expression, found ';'"),
        ("BEGIN { unroll (0) { } }", "stdin:1:17: unroll takes a count from 1 to 100"),
    ])
    func syntaxErrors(source: String, expected: String) {
        #expect(throws: TraceError.self) { try TraceScript(parsing: source) }
        do {
            _ = try TraceScript(parsing: source)
        } catch {
            #expect(error.summary == expected)
        }
    }

    @Test func errorShowsTheLineAndACaret() {
        do {
            _ = try TraceScript(parsing: "BEGIN {\n  @x = 1 +;\n}")
            Issue.record("parsed")
        } catch {
            #expect(error.description == "stdin:2:11: expected an expression, found ';'\n  @x = 1 +;\n          ^")
        }
    }
}

/// Errors the compiler finds: unknown probes, builtins and functions, type mismatches, a map
/// used two ways.
@Suite struct SemanticErrorTests {
    static func compileError(_ source: String) -> String? {
        do {
            let script = try TraceScript(parsing: source)
            _ = try TraceCompiler(catalog: ProbeCatalog(tracefs: "/nonexistent")).compile(script, source: source)
            return nil
        } catch {
            return error.summary
        }
    }

    @Test(arguments: [
        ("BEGIN { foo }", "stdin:1:9: unknown builtin 'foo'"),
        ("BEGIN { foo(1); }", "stdin:1:9: unknown function 'foo'"),
        ("bogus:x { }", "stdin:1:1: unknown probe type 'bogus' (BEGIN, END, interval, profile, software, tracepoint, rawtracepoint, kprobe, kretprobe, fentry, fexit, uprobe, uretprobe, app)"),
        ("tracepoint:nope:nope { }", "stdin:1:1: tracepoint 'nope:nope' does not exist on this kernel (see swiftbpf trace -l 'tracepoint:nope:*')"),
        ("interval:m:1 { }", "stdin:1:1: 'interval:m:1': unknown interval unit 'm' (s, ms, us, hz)"),
        ("BEGIN { @x = count(); @x = sum(3); }", "stdin:1:28: map @x holds count() (assigned at 1:14); here it is assigned sum()"),
        ("BEGIN { @x[1] = 1; @x[\"a\"] = 2; }", "stdin:1:23: map @x's key is int64 at 1:15; here it is string[2]"),
        ("BEGIN { @x[1] = 1; @x[1, 2] = 2; }", "stdin:1:29: map @x is used with 1 key at 1:15; here with 2"),
        ("BEGIN { @x = 1; @x = \"s\"; }", "stdin:1:20: map @x holds an integer (assigned at 1:12); here it is assigned a string"),
        ("BEGIN { printf(\"%d\\n\", comm); }", "stdin:1:24: printf(): %d needs an integer; argument 1 is string[16]"),
        ("BEGIN { printf(\"%d %d\\n\", 1); }", "stdin:1:9: printf(): the format has 2 conversions but 1 argument follows"),
        ("BEGIN { $x = 1 + \"a\"; }", "stdin:1:16: '+' needs integers, not int64 and string[2]"),
        ("BEGIN { print($y); }", "stdin:1:15: variable $y is used before it is assigned"),
        ("BEGIN { print(retval); }", "stdin:1:15: retval is only available in kretprobe, uretprobe and fexit probes"),
        ("BEGIN { $n = count(); }", "stdin:1:14: count() can only be assigned to a map (@x = count(...))"),
        ("BEGIN { @h = hist(1); print(@h[1] + 1); }", "stdin:1:29: map @h holds hist(): it can be printed, not read as a value"),
        ("BEGIN { @c = count(); print(@c[1] + 1); }", "stdin:1:29: map @c is used with 0 keys at 1:14; here with 1"),
        ("BEGIN { @h = hist(1); $x = @h; }", "stdin:1:28: map @h holds hist(): it can be printed, not read as a value"),
        ("BEGIN { print(@never); }", "stdin:1:15: map @never is printed but never assigned"),
        ("BEGIN { @l = lhist(1, 10, 0, 1); }", "stdin:1:14: lhist(): expected 0 <= min < max and step > 0, with at most 1000 buckets"),
    ])
    func semanticErrors(source: String, expected: String) {
        #expect(SemanticErrorTests.compileError(source) == expected)
    }

    @Test func tracepointFieldsComeFromTheFormatFile() throws {
        let format = """
            name: sys_enter_openat
            ID: 1
            format:
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
            \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
            \tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
            \tfield:char comm[16];\toffset:32;\tsize:16;\tsigned:0;
            \tfield:__data_loc char[] name;\toffset:48;\tsize:4;\tsigned:0;
            """
        let fields = TracepointField.parseFormat(format)
        #expect(fields.map(\.name) == ["common_type", "__syscall_nr", "filename", "comm", "name"])
        #expect(fields[1] == TracepointField(name: "__syscall_nr", type: "int", offset: 8, size: 4, isSigned: true, arrayLength: nil, isDataLocation: false))
        #expect(fields[2].type == "const char *")
        #expect(fields[3].arrayLength == 16)
        #expect(fields[4].isDataLocation)
    }

    @Test(arguments: [
        ("sys_enter_*", "sys_enter_openat", true), ("sys_enter_*", "sys_exit_openat", false), ("vfs_?ead", "vfs_read", true),
        ("*", "", true), ("a*b*c", "aXXbYYc", true), ("a*b*c", "aXXbYY", false),
    ])
    func globs(pattern: String, text: String, matches: Bool) {
        #expect(ProbeCatalog.matches(pattern, text) == matches)
    }
}
