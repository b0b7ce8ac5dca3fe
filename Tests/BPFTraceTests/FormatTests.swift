import Testing
@testable import BPFTrace

/// bpftrace's output formats on fixed data: map lines, histogram bars and labels, stats, JSON.
@Suite struct FormatTests {
    @Test func countMapsSortByValue() {
        let map = PrintedMap(name: "@", entries: [
            ([.string("bash")], .unsigned(12)), ([.string("sshd")], .unsigned(3)), ([.string("cron")], .unsigned(40)),
        ])
        #expect(TraceFormatter.text(map) == "@[sshd]: 3\n@[bash]: 12\n@[cron]: 40\n")
        #expect(TraceFormatter.json(map) == #"{"type": "map", "data": {"@": {"sshd": 3, "bash": 12, "cron": 40}}}"#)
    }

    @Test func scalarsAndMultipleKeys() {
        #expect(TraceFormatter.text(PrintedMap(name: "@x", entries: [([], .signed(-4))])) == "@x: -4\n")
        #expect(TraceFormatter.text(PrintedMap(name: "@s", entries: [([], .string("hi"))])) == "@s: hi\n")
        let keyed = PrintedMap(name: "@m", entries: [([.string("zsh"), .signed(2)], .unsigned(2)), ([.string("bash"), .signed(1)], .unsigned(1))])
        #expect(TraceFormatter.text(keyed) == "@m[bash, 1]: 1\n@m[zsh, 2]: 2\n")
        #expect(TraceFormatter.json(keyed) == #"{"type": "map", "data": {"@m": {"bash,1": 1, "zsh,2": 2}}}"#)
        #expect(TraceFormatter.json(PrintedMap(name: "@s", entries: [([], .string("a\"b"))])) == #"{"type": "map", "data": {"@s": "a\"b"}}"#)
    }

    @Test func averagesAndStatsEndWithABlankLine() {
        let avg = PrintedMap(name: "@a", entries: [([.signed(1)], .average(total: 20, count: 2)), ([.signed(2)], .average(total: 5, count: 1))])
        #expect(TraceFormatter.text(avg) == "@a[2]: 5\n@a[1]: 10\n\n")
        #expect(TraceFormatter.json(avg) == #"{"type": "stats", "data": {"@a": {"2": 5, "1": 10}}}"#)
        let stats = PrintedMap(name: "@st", entries: [([], .stats(total: 30, count: 2))])
        #expect(TraceFormatter.text(stats) == "@st: count 2, average 15, total 30\n\n")
        #expect(TraceFormatter.json(stats) == #"{"type": "stats", "data": {"@st": {"count": 2, "average": 15, "total": 30}}}"#)
    }

    @Test func histogramBarsAndLabels() {
        // 1, 1, 1, 2, 1024 and 2000000: buckets [1], [2, 4), [1K, 2K), [1M, 2M).
        let map = PrintedMap(name: "@h", entries: [([], .histogram([2: 3, 3: 1, 12: 1, 22: 1]))])
        let text = TraceFormatter.text(map)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "@h: ")
        #expect(lines[1] == "[1]                    3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|")
        #expect(lines[2] == "[2, 4)                 1 |@@@@@@@@@@@@@@@@@                                   |")
        #expect(lines[3] == "[4, 8)                 0 |                                                    |")
        #expect(lines[10] == "[512, 1K)              0 |                                                    |")
        #expect(lines[11] == "[1K, 2K)               1 |@@@@@@@@@@@@@@@@@                                   |")
        #expect(lines[20] == "[512K, 1M)             0 |                                                    |")
        #expect(lines[21] == "[1M, 2M)               1 |@@@@@@@@@@@@@@@@@                                   |")
        #expect(lines.count == 24 && lines[22] == "" && lines[23] == "")
        #expect(HistogramBuckets.label(0) == "(..., 0)")
        #expect(HistogramBuckets.label(1) == "[0]")
        #expect(HistogramBuckets.label(14) == "[4K, 8K)")
    }

    @Test func histogramJSON() {
        let map = PrintedMap(name: "@h", entries: [([], .histogram([0: 1, 1: 1, 2: 1, 10: 1]))])
        #expect(TraceFormatter.json(map) == #"{"type": "hist", "data": {"@h": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 1}, {"min": 1, "max": 1, "count": 1}, {"min": 2, "max": 3, "count": 0}, {"min": 4, "max": 7, "count": 0}, {"min": 8, "max": 15, "count": 0}, {"min": 16, "max": 31, "count": 0}, {"min": 32, "max": 63, "count": 0}, {"min": 64, "max": 127, "count": 0}, {"min": 128, "max": 255, "count": 0}, {"min": 256, "max": 511, "count": 1}]}}"#)
    }

    @Test func linearHistogram() {
        // lhist(v, 0, 10, 3): three buckets, below 0 and from 10 on.
        let map = PrintedMap(name: "@l", entries: [([], .linearHistogram([0: 1, 2: 1, 3: 2], min: 0, max: 10, step: 3))])
        #expect(TraceFormatter.text(map) == """
            @l: 
            (..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
            [0, 3)                 0 |                                                    |
            [3, 6)                 1 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |
            [6, 9)                 2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|


            """)
        let over = PrintedMap(name: "@l", entries: [([], .linearHistogram([1: 1, 4: 1], min: 0, max: 10, step: 3))])
        #expect(TraceFormatter.json(over) == #"{"type": "hist", "data": {"@l": [{"min": 0, "max": 2, "count": 1}, {"min": 3, "max": 5, "count": 0}, {"min": 6, "max": 8, "count": 0}, {"min": 10, "count": 1}]}}"#)
        #expect(HistogramBuckets.linearLabel(4, min: 0, max: 10, step: 3) == "[10, ...)")
    }

    @Test(arguments: [
        ("hello %d %s %5d|%-5s|%x", [FormatValue.signed(42), .string("w"), .signed(7), .string("ab"), .unsigned(255)], "hello 42 w     7|ab   |ff"),
        ("%05d|%-4d|%+d|%u", [.signed(-42), .signed(3), .signed(5), .signed(-1)], "-0042|3   |+5|18446744073709551615"),
        ("%lld %llu %ld %c%c", [.signed(-1), .unsigned(1), .signed(2), .unsigned(104), .unsigned(105)], "-1 1 2 hi"),
        ("%p %X %#x %o 100%%", [.unsigned(0xdead), .unsigned(0xbeef), .unsigned(16), .unsigned(8)], "0xdead BEEF 0x10 10 100%"),
        ("%-16s|%.3s|%8s", [.string("comm"), .string("abcdef"), .string("r")], "comm            |abc|       r"),
        ("%hhd %hu", [.signed(257), .unsigned(65537)], "1 1"),
    ])
    func printf(format: String, values: [FormatValue], expected: String) {
        #expect(PrintfFormat.format(format, values) == expected)
    }

    @Test func printfConversionsAreChecked() throws {
        #expect(try PrintfFormat.conversions(in: "%d %-16s %lu %%").get() == ["d", "s", "u"])
        #expect(throws: TraceError.self) { try PrintfFormat.conversions(in: "%f").get() }
    }
}
