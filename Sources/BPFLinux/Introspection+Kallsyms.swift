import Foundation

/// Kernel symbols from `/proc/kallsyms` (addresses are shown to root), for naming the functions a
/// translated program calls: a helper call's immediate is the function's offset from
/// `__bpf_call_base`.
///
/// ```swift
/// let symbols = KernelSymbols.load()
/// symbols?.helperName(imm: insn.imm)   // "bpf_map_lookup_elem" or "__htab_map_lookup_elem"
/// ```
public struct KernelSymbols: Sendable {
    let byAddress: [UInt64: String]
    let callBase: UInt64

    /// Reads /proc/kallsyms; nil when it cannot be read or hides addresses (not root).
    public static func load() -> KernelSymbols? {
        // procfs files report size 0: read to the end rather than by size.
        guard let handle = FileHandle(forReadingAtPath: "/proc/kallsyms") else { return nil }
        defer { try? handle.close() }
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        var byAddress: [UInt64: String] = [:]
        var callBase: UInt64 = 0
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 3)
            guard fields.count >= 3, let address = UInt64(fields[0], radix: 16), address != 0 else { continue }
            let kind = fields[1]
            guard kind == "T" || kind == "t" else { continue }
            let name = String(fields[2])
            if name == "__bpf_call_base" { callBase = address }
            if byAddress[address] == nil { byAddress[address] = name }
        }
        guard callBase != 0 else { return nil }
        return KernelSymbols(byAddress: byAddress, callBase: callBase)
    }

    /// The kernel function a translated helper call (`call` with src 0) enters.
    public func helperName(imm: Int32) -> String? {
        byAddress[UInt64(bitPattern: Int64(bitPattern: callBase) &+ Int64(imm))]
    }
}
