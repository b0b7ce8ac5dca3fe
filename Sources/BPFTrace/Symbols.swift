import Foundation
import Synchronization

/// Names for code addresses, as bpftrace prints stacks: kernel addresses from `/proc/kallsyms`,
/// user addresses through `/proc/PID/maps` and the ELF symbols of the mapped file (`.symtab`, else
/// `.dynsym`). An address with no symbol prints as hex.
///
/// ```swift
/// let symbols = Symbolizer()
/// print(symbols.kernel(0xffffffff81000000))   // e.g. "_stext+0"
/// ```
public final class Symbolizer: Sendable {
    /// Function symbols sorted by address: start, size (0: up to the next), name.
    struct Table: Sendable {
        var starts: [UInt64] = []
        var sizes: [UInt64] = []
        var names: [String] = []

        /// `name+offset` of the symbol holding `address`.
        func lookup(_ address: UInt64) -> String? {
            var low = 0, high = starts.count
            while low < high {
                let mid = (low + high) / 2
                if starts[mid] <= address { low = mid + 1 } else { high = mid }
            }
            guard low > 0 else { return nil }
            let i = low - 1
            if sizes[i] > 0 && address - starts[i] >= sizes[i] { return nil }
            return "\(names[i])+\(address - starts[i])"
        }
    }

    private let kallsymsPath: String
    private let procRoot: String
    private let kernelTable = Mutex<Table?>(nil)
    private let files = Mutex<[String: (table: Table, segments: [(offset: UInt64, vaddr: UInt64, size: UInt64)])]>([:])

    /// `kallsyms` and `proc` can point at copies (tests).
    public init(kallsyms: String = "/proc/kallsyms", proc: String = "/proc") {
        kallsymsPath = kallsyms
        procRoot = proc
    }

    /// `function+offset` for a kernel address, or its hex.
    public func kernel(_ address: UInt64) -> String {
        let table = kernelTable.withLock { cached -> Table in
            if let cached { return cached }
            let table = Symbolizer.parseKallsyms(Symbolizer.readAll(kallsymsPath) ?? "")
            cached = table
            return table
        }
        return table.lookup(address) ?? "0x" + String(address, radix: 16)
    }

    /// `function+offset` for an address of process `pid`, or its hex.
    public func user(_ address: UInt64, pid: Int32) -> String {
        guard let maps = Symbolizer.readAll("\(procRoot)/\(pid)/maps") else { return "0x" + String(address, radix: 16) }
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[5].hasPrefix("/") else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
                  address >= start, address < end, let offset = UInt64(fields[2], radix: 16) else { continue }
            let path = fields[5...].joined(separator: " ")
            let fileOffset = address - start + offset
            let file = files.withLock { cache in
                if let known = cache[path] { return known }
                let parsed = Symbolizer.parseELF(FileManager.default.contents(atPath: "\(procRoot)/\(pid)/root\(path)")
                                                 ?? FileManager.default.contents(atPath: path) ?? Data())
                cache[path] = parsed
                return parsed
            }
            guard let segment = file.segments.first(where: { fileOffset >= $0.offset && fileOffset < $0.offset + $0.size }) else { break }
            return file.table.lookup(fileOffset - segment.offset + segment.vaddr) ?? "0x" + String(address, radix: 16)
        }
        return "0x" + String(address, radix: 16)
    }

    /// A whole file as text, read to its end (procfs files report no size).
    static func readAll(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Text symbols of `/proc/kallsyms` (`t`/`T`/`w`/`W`), sorted.
    static func parseKallsyms(_ text: String) -> Table {
        var entries: [(UInt64, String)] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 3)
            guard parts.count >= 3, let kind = parts[1].first, "tTwW".contains(kind), let address = UInt64(parts[0], radix: 16), address != 0 else { continue }
            entries.append((address, String(parts[2].split(separator: "\t").first ?? parts[2])))
        }
        entries.sort { $0.0 < $1.0 }
        var table = Table()
        table.starts = entries.map(\.0)
        table.sizes = [UInt64](repeating: 0, count: entries.count)
        table.names = entries.map(\.1)
        return table
    }

    /// Function symbols and loadable segments of an ELF64 little-endian file (empty when it is not one).
    static func parseELF(_ data: Data) -> (table: Table, segments: [(offset: UInt64, vaddr: UInt64, size: UInt64)]) {
        let bytes = [UInt8](data)
        var segments: [(offset: UInt64, vaddr: UInt64, size: UInt64)] = []
        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46, bytes[4] == 2, bytes[5] == 1 else {
            return (Table(), [])
        }
        func u16(_ o: Int) -> Int { o >= 0 && o + 2 <= bytes.count ? Int(bytes[o]) | Int(bytes[o + 1]) << 8 : 0 }
        func u32(_ o: Int) -> UInt64 { o >= 0 && o + 4 <= bytes.count ? (0..<4).reduce(0) { $0 | UInt64(bytes[o + $1]) << (8 * UInt64($1)) } : 0 }
        func u64(_ o: Int) -> UInt64 { o >= 0 && o + 8 <= bytes.count ? (0..<8).reduce(0) { $0 | UInt64(bytes[o + $1]) << (8 * UInt64($1)) } : 0 }
        let phoff = Int(clamping: u64(0x20)), shoff = Int(clamping: u64(0x28))
        let phentsize = u16(0x36), phnum = u16(0x38), shentsize = u16(0x3a), shnum = u16(0x3c)
        for i in 0..<phnum {
            let p = phoff + i * phentsize
            guard u32(p) == 1 else { continue }
            segments.append((u64(p + 8), u64(p + 16), u64(p + 40)))
        }
        var symbols: [(UInt64, UInt64, String)] = []
        for wanted in [UInt64(2), 11] where symbols.isEmpty {   // .symtab, else .dynsym
            for i in 0..<shnum {
                let s = shoff + i * shentsize
                guard u32(s + 4) == wanted else { continue }
                let offset = Int(clamping: u64(s + 24)), size = Int(clamping: u64(s + 32))
                let link = Int(u32(s + 40)), entsize = max(Int(clamping: u64(s + 56)), 24)
                guard link < shnum, offset >= 0, size >= 0, offset <= bytes.count - size else { continue }
                let strings = shoff + link * shentsize
                let stroff = Int(clamping: u64(strings + 24)), strsize = Int(clamping: u64(strings + 32))
                guard stroff >= 0, strsize >= 0, stroff <= bytes.count - strsize else { continue }
                for j in 0..<(size / entsize) {
                    let e = offset + j * entsize
                    let type = bytes[e + 4] & 0xf
                    guard type == 2 || type == 10, u16(e + 6) != 0 else { continue }
                    let value = u64(e + 8), length = u64(e + 16)
                    let nameOffset = Int(u32(e))
                    guard value != 0, nameOffset < strsize else { continue }
                    let start = stroff + nameOffset
                    let end = bytes[start..<(stroff + strsize)].firstIndex(of: 0) ?? (stroff + strsize)
                    symbols.append((value, length, String(decoding: bytes[start..<end], as: UTF8.self)))
                }
            }
        }
        symbols.sort { $0.0 < $1.0 }
        var table = Table()
        table.starts = symbols.map(\.0)
        table.sizes = symbols.map(\.1)
        table.names = symbols.map(\.2)
        return (table, segments)
    }

    /// A stack as bpftrace prints it: a newline, then each frame on its own line indented by
    /// `indent` spaces (4 in map keys, 8 in printf and print).
    public static func render(_ frames: [String], indent: Int) -> String {
        let padding = String(repeating: " ", count: indent)
        return "\n" + frames.map { padding + $0 + "\n" }.joined()
    }
}
