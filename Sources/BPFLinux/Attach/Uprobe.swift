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
        do { return try HostELF.fileOffset(ofFunction: symbol, in: [UInt8](data)) } catch {
            throw BPFError.invalidArgument("uprobe target \(path): \(error.message)")
        }
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
