import BPFCore
import BPFObject
import CBPFLinuxSupport

extension KernelProgram {
    /// The program as the kernel holds it after verification and rewriting (`xlated_prog_insns`):
    /// map fds replaced by map ids, helper calls as the kernel patched them. A bpf-to-bpf call
    /// (`call local`) has its relative offset in `imm`, as in an object file, so
    /// `index + imm + 1` is the callee's first instruction: a JIT-compiled program's dump carries the
    /// subprogram's index in `imm` and the offset in `off`, and they are put back.
    ///
    /// ```swift
    /// print(Disassembler().lines(for: try program.translatedInstructions()).joined(separator: "\n"))
    /// ```
    public func translatedInstructions() throws(BPFError) -> [Instruction] {
        let bytes = try infoBuffer(length: { Int($0.xlated_prog_len) }) { raw, pointer, length in
            raw.xlated_prog_len = UInt32(length)
            raw.xlated_prog_insns = pointer
        }
        var instructions = stride(from: 0, to: bytes.count - bytes.count % 8, by: 8).map { i in
            Instruction(rawValue: (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[i + $1]) << (8 * $1) })
        }
        if try info().jitedLength > 0 { Self.restoreCallOffsets(&instructions) }
        return instructions
    }

    /// After JIT-compiling a program with subprograms, the kernel keeps its translated instructions
    /// for dumps with each bpf-to-bpf call's relative offset in `off` and the callee's subprogram
    /// index in `imm` (measured on Linux 6.18: `call` at 4 to the instruction 17 of subprogram 1
    /// reads off 12, imm 1). Puts the offset back in `imm` (and 0 in `off`), the object-file encoding.
    public static func restoreCallOffsets(_ instructions: inout [Instruction]) {
        for i in instructions.indices where instructions[i].opcode == Opcode.call && instructions[i].src == CallKind.local.rawValue {
            instructions[i].imm = Int32(instructions[i].offset)
            instructions[i].offset = 0
        }
    }

    /// The JIT-compiled machine code (`jited_prog_insns`), empty when the program is interpreted.
    public func jitedCode() throws(BPFError) -> [UInt8] {
        try infoBuffer(length: { Int($0.jited_prog_len) }) { raw, pointer, length in
            raw.jited_prog_len = UInt32(length)
            raw.jited_prog_insns = pointer
        }
    }

    /// The program's line info, as the kernel keeps it for the translated instructions:
    /// (instruction, file name and source line as offsets into the program's BTF strings, line).
    public func lineInfo() throws(BPFError) -> [(instruction: Int, fileNameOffset: Int, lineOffset: Int, line: Int)] {
        let bytes = try infoBuffer(length: { Int($0.nr_line_info) * 16 }) { raw, pointer, length in
            raw.nr_line_info = UInt32(length / 16)
            raw.line_info_rec_size = 16
            raw.line_info = pointer
        }
        func u32(_ i: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[i + $1]) << (8 * $1) } }
        return stride(from: 0, to: bytes.count - bytes.count % 16, by: 16).map { i in
            (Int(u32(i)), Int(u32(i + 4)), Int(u32(i + 8)), Int(u32(i + 12) >> 10))
        }
    }

    /// The ids of the maps the program uses.
    public func mapIDs() throws(BPFError) -> [UInt32] {
        let bytes = try infoBuffer(length: { Int($0.nr_map_ids) * 4 }) { raw, pointer, length in
            raw.nr_map_ids = UInt32(length / 4)
            raw.map_ids = pointer
        }
        return stride(from: 0, to: bytes.count, by: 4).map { i in (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[i + $1]) << (8 * $1) } }
    }

    /// Asks for the info once to learn a buffer's length, then again with a buffer of that length.
    private func infoBuffer(length: (cbpf_prog_info) -> Int,
                            request: (inout cbpf_prog_info, UInt64, Int) -> Void) throws(BPFError) -> [UInt8] {
        var first = cbpf_prog_info()
        try KernelObjects.info(fd: fd, &first)
        let size = length(first)
        guard size > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: size)
        var raw = cbpf_prog_info()
        try buffer.withUnsafeMutableBytes { bytes in
            request(&raw, address(bytes.baseAddress), bytes.count)
            return capture { () throws(BPFError) in try KernelObjects.info(fd: fd, &raw) }
        }.get()
        return Array(buffer.prefix(min(size, length(raw) == 0 ? size : length(raw))))
    }
}
