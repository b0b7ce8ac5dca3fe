import BPFObject
import CBPFLinuxSupport
import Foundation

/// Resolves a function symbol of a host executable or shared library (ELF64, little-endian) to the
/// file offset a uprobe needs: the symbol's address mapped through the PT_LOAD segment holding it.
/// Both `.symtab` and `.dynsym` are searched.
///
/// ```swift
/// let offset = try UprobeTarget.fileOffset(of: "malloc", in: "/usr/lib/x86_64-linux-gnu/libc.so.6")
/// ```
public enum UprobeTarget {
    /// The file offset of function `symbol` in the ELF file at `path`.
    public static func fileOffset(of symbol: String, in path: String) throws(BPFError) -> UInt64 {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BPFError(command: nil, errno: .ENOENT, message: "uprobe target \(path): cannot read the file")
        }
        let bytes = [UInt8](data)
        do { return try fileOffset(of: symbol, inELF: bytes) } catch let message as UprobeELFError {
            throw BPFError.invalidArgument("uprobe target \(path): \(message.text)")
        } catch {
            throw BPFError.invalidArgument("uprobe target \(path): \(error)")
        }
    }

    struct UprobeELFError: Error { var text: String }

    static func fileOffset(of symbol: String, inELF bytes: [UInt8]) throws -> UInt64 {
        func need(_ offset: Int, _ size: Int, _ what: String) throws {
            guard offset >= 0, size >= 0, offset <= bytes.count - size else { throw UprobeELFError(text: "truncated \(what) at offset \(offset)") }
        }
        func u16(_ o: Int) throws -> Int { try need(o, 2, "field"); return Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) throws -> UInt32 { try need(o, 4, "field"); return (0..<4).reduce(0) { $0 | UInt32(bytes[o + $1]) << (8 * $1) } }
        func u64(_ o: Int) throws -> UInt64 { try need(o, 8, "field"); return (0..<8).reduce(0) { $0 | UInt64(bytes[o + $1]) << (8 * $1) } }

        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw UprobeELFError(text: "not an ELF file")
        }
        guard bytes[4] == 2, bytes[5] == 1 else { throw UprobeELFError(text: "only 64-bit little-endian ELF files are supported") }
        let phoff = Int(clamping: try u64(0x20)), shoff = Int(clamping: try u64(0x28))
        let phentsize = try u16(0x36), phnum = try u16(0x38), shentsize = try u16(0x3a), shnum = try u16(0x3c)

        // Sections: find .symtab (2) and .dynsym (11) and their string tables.
        var candidates: [(value: UInt64, type: UInt8)] = []
        for i in 0..<shnum {
            let s = shoff + i * shentsize
            try need(s, 64, "section header \(i)")
            let type = try u32(s + 4)
            guard type == 2 || type == 11 else { continue }
            let offset = Int(clamping: try u64(s + 24)), size = Int(clamping: try u64(s + 32))
            let link = Int(try u32(s + 40)), entsize = max(Int(clamping: try u64(s + 56)), 24)
            guard link < shnum else { continue }
            let strings = shoff + link * shentsize
            let stroff = Int(clamping: try u64(strings + 24)), strsize = Int(clamping: try u64(strings + 32))
            try need(offset, size, "symbol table")
            try need(stroff, strsize, "string table")
            let wanted = Array(symbol.utf8)
            for j in 0..<(size / entsize) {
                let e = offset + j * entsize
                let nameOffset = Int(try u32(e))
                let start = stroff + nameOffset
                guard nameOffset < strsize, start + wanted.count < stroff + strsize else { continue }
                // Compare the name in place; a match ends in NUL (or `@` of a version).
                var matches = true
                for k in 0..<wanted.count where bytes[start + k] != wanted[k] { matches = false; break }
                guard matches, bytes[start + wanted.count] == 0 || bytes[start + wanted.count] == 0x40 else { continue }
                let info = bytes[e + 4]
                let sectionIndex = try u16(e + 6)
                let value = try u64(e + 8)
                guard sectionIndex != 0, value != 0 else { continue }   // undefined (imported)
                candidates.append((value, info & 0xf))
            }
        }
        guard let found = candidates.first(where: { $0.type == 2 }) ?? candidates.first(where: { $0.type == 10 }) ?? candidates.first else {
            throw UprobeELFError(text: "no function symbol '\(symbol)' (stripped, or defined in another library?)")
        }
        // Program headers: the PT_LOAD segment that holds the address.
        for i in 0..<phnum {
            let p = phoff + i * phentsize
            try need(p, 56, "program header \(i)")
            guard try u32(p) == 1 else { continue }   // PT_LOAD
            let offset = try u64(p + 8), vaddr = try u64(p + 16), memsz = try u64(p + 40)
            if found.value >= vaddr && found.value < vaddr &+ memsz {
                return found.value - vaddr + offset
            }
        }
        throw UprobeELFError(text: "symbol '\(symbol)' at 0x\(String(found.value, radix: 16)) is in no loadable segment")
    }

    /// The path of a shared library mapped into process `pid` (default: this process) whose file
    /// name starts with `name` (e.g. `libc.so`), from /proc/PID/maps.
    public static func libraryPath(_ name: String, pid: Int32? = nil) -> String? {
        let maps = readSmallFile("/proc/\(pid.map(String.init) ?? "self")/maps", limit: 16 << 20) ?? ""
        for line in maps.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let path = String(line[slash...])
            if let file = path.split(separator: "/").last, file.hasPrefix(name) { return path }
        }
        return nil
    }
}

extension KernelProgram {
    /// Attaches a kprobe program to uprobe `binary:symbol` (+`offset`), or a uretprobe with
    /// `returnProbe`. `binary` is an executable or shared library; `pid` limits it to one process
    /// (nil: every process that maps the file). Uses the uprobe PMU.
    ///
    /// ```swift
    /// let link = try program.attachUprobe(binary: "/usr/bin/bash", symbol: "readline", returnProbe: true)
    /// ```
    public func attachUprobe(binary: String, symbol: String? = nil, offset: UInt64 = 0, returnProbe: Bool = false,
                             pid: Int32? = nil, cookie: UInt64 = 0) throws(BPFError) -> KernelLink {
        let fileOffset = try (symbol.map { s throws(BPFError) in try UprobeTarget.fileOffset(of: s, in: binary) } ?? 0) + offset
        let kind = returnProbe ? "uretprobe" : "uprobe"
        let target = "\(kind) \(binary):\(symbol ?? "")+0x\(String(fileOffset, radix: 16))" + (pid.map { " pid \($0)" } ?? "")
        var attributes = PerfEvent.Attributes(type: try PerfEvent.dynamicPMUType("uprobe"), config: 0)
        if returnProbe { attributes.config |= try PerfEvent.returnProbeBit("uprobe") }
        attributes.config1String = binary
        attributes.config2 = fileOffset
        let perf = try PerfEvent.open(attributes, pid: pid ?? -1, cpu: pid == nil ? 0 : -1, what: target)
        return try PerfEvent.attach(self, to: perf, target: target, cookie: cookie)
    }
}
