#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BPFCore

/// Runs ``ARM64Program`` code on a host that is not AArch64: under `qemu-aarch64` (Debian's
/// `qemu-user`), in a static runner built once from ``ARM64Runner/source`` with the toolchain's
/// clang and lld, cached under the temporary directory. Many programs run in one launch.
///
/// Tools: `$SWIFTBPF_QEMU_AARCH64`, else `qemu-aarch64` or `qemu-aarch64-static` on `PATH`;
/// `$CLANG`, else `clang` on `PATH`, else the clang beside `swift`, else `/opt/swift/usr/bin/clang`.
public enum ARM64Emulator {
    /// One program's end: r0 or the error, and the memory as the program left it.
    public struct Outcome: Sendable {
        public var result: Result<UInt64, RuntimeError>
        public var memory: [UInt8]
    }

    /// The tools, found and built once: (qemu, runner), or why they cannot be.
    static let tools: Result<(qemu: String, runner: String), RuntimeError> = locate()

    /// Why programs cannot run under emulation here, or nil when they can.
    public static var unavailableReason: String? {
        if case .failure(let error) = tools { return "\(error)" }
        return nil
    }

    /// Runs each program over its memory (r1 the memory, r2 its length, as ``JITProgram/run(memory:)``).
    /// `memoryAddress`, page-aligned, places every program's memory there (so pointers into it
    /// compare with another engine's run over memory at the same address). A program that crashes
    /// the runner gets an error; the programs after it run in a fresh launch.
    public static func run(_ jobs: [(program: ARM64Program, memory: [UInt8])], memoryAddress: UInt64 = 0) throws(RuntimeError) -> [Outcome] {
        let (qemu, runner) = try tools.get()
        var outcomes: [Outcome] = []
        while outcomes.count < jobs.count {
            var input: [UInt8] = []
            for job in jobs[outcomes.count...] { append(job.program, job.memory, memoryAddress: memoryAddress, to: &input) }
            input += [UInt8](repeating: 0, count: 8 * ARM64Runner.headerWords)
            let (output, status) = try spawn([qemu, runner], input: input)
            var cursor = 0
            func word() -> UInt64? {
                guard cursor + 8 <= output.count else { return nil }
                var v: UInt64 = 0
                for i in 0..<8 { v |= UInt64(output[cursor + i]) << (8 * i) }
                cursor += 8
                return v
            }
            var completed = 0
            while outcomes.count < jobs.count {
                let start = cursor
                guard let magic = word(), magic == ARM64Runner.resultMagic, let failed = word(), let r0 = word(), let kind = word(),
                      let pc = word(), let a = word(), let b = word(), let length = word(),
                      cursor + Int((length + 7) & ~7) <= output.count else { cursor = start; break }
                let memory = Array(output[cursor..<(cursor + Int(length))])
                cursor += Int((length + 7) & ~7)
                let program = jobs[outcomes.count].program
                let result: Result<UInt64, RuntimeError> = failed == 0 ? .success(r0) : .failure(error(kind: kind, pc: Int(pc), a: a, b: b, program: program))
                outcomes.append(Outcome(result: result, memory: memory))
                completed += 1
            }
            if outcomes.count < jobs.count {
                // The runner stopped on this program.
                let job = jobs[outcomes.count]
                outcomes.append(Outcome(result: .failure(.unsupported(pc: 0, message: "the arm64 runner under qemu-aarch64 stopped (status \(status)) on this program")),
                                        memory: job.memory))
            }
        }
        return outcomes
    }

    private static func error(kind: UInt64, pc: Int, a: UInt64, b: UInt64, program: ARM64Program) -> RuntimeError {
        switch ARM64Runner.ErrorKind(rawValue: kind) {
        case .outOfBounds: .outOfBounds(pc: pc, address: a, size: Int(b & 0xff), write: b >> 8 != 0)
        case .misaligned: .misalignedAtomic(pc: pc, address: a, size: Int(b))
        case .limit: .instructionLimitExceeded(pc: pc, limit: program.interpreter.options.instructionLimit)
        case .depth: .callDepthExceeded(pc: pc, limit: ExecutionOptions.maxCallFrames)
        case .unknownHelper: .unknownHelper(pc: pc, id: Int64(bitPattern: a))
        case .fellOff: .fellOffEnd(pc: pc)
        default: .unsupported(pc: pc, message: "the arm64 runner cannot run this instruction")
        }
    }

    private static func append(_ program: ARM64Program, _ memory: [UInt8], memoryAddress: UInt64, to out: inout [UInt8]) {
        func word(_ v: UInt64) { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        func padded(_ bytes: [UInt8]) { out += bytes; out += [UInt8](repeating: 0, count: (8 - bytes.count % 8) % 8) }
        let slots = program.slots
        let header: [UInt64] = [
            ARM64Runner.jobMagic, UInt64(program.machineCode.count), UInt64(memory.count), UInt64(slots.count),
            program.interpreter.options.instructionLimit, memory.isEmpty ? 0 : memoryAddress,
            UInt64(ARM64Compiler.frameSize), UInt64(JITFrame.savedRSP), UInt64(JITFrame.budget), UInt64(JITFrame.registers),
            UInt64(JITFrame.callLimit), UInt64(JITFrame.virtualLow), UInt64(JITFrame.virtualLength),
            UInt64(JITFrame.loadRegions), UInt64(JITFrame.storeRegions), UInt64(JITFrame.regionCount),
            UInt64(JITFrame.regionEntryBytes), UInt64(ARM64Compiler.serviceSlot), UInt64(Interpreter.stackBytes),
            UInt64(ExecutionOptions.stackSizePerFrame),
        ]
        for v in header { word(v) }
        padded(program.machineCode)
        padded(memory)
        out += Instruction.bytes(of: slots)
    }

    // MARK: - Tools

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let s = String(cString: value)
        return s.isEmpty ? nil : s
    }

    private static func executable(_ path: String) -> Bool { access(path, X_OK) == 0 }

    private static func searchPath(_ name: String) -> [String] {
        (environment("PATH") ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/\(name)" }.filter(executable)
    }

    private static func locate() -> Result<(qemu: String, runner: String), RuntimeError> {
        let qemuCandidates = (environment("SWIFTBPF_QEMU_AARCH64").map { [$0] } ?? []) + searchPath("qemu-aarch64") + searchPath("qemu-aarch64-static")
        guard let qemu = qemuCandidates.first(where: executable) else {
            return .failure(.unsupported(pc: 0, message: "qemu-aarch64 not found (install qemu-user, or set SWIFTBPF_QEMU_AARCH64)"))
        }
        var clangs: [String] = []
        if let clang = environment("CLANG") { clangs += clang.contains("/") ? [clang] : searchPath(clang) }
        clangs += searchPath("clang")
        for swift in searchPath("swift") {
            if let resolved = realpath(swift, nil) {
                let path = String(cString: resolved)
                free(resolved)
                clangs.append(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) + "/clang")
            }
        }
        clangs.append("/opt/swift/usr/bin/clang")
        let directory = (environment("TMPDIR") ?? "/tmp") + "/swiftbpf-arm64-runner-\(getuid())-\(String(fnv(ARM64Runner.source), radix: 16))"
        let runner = directory + "/runner"
        if executable(runner) { return .success((qemu, runner)) }
        mkdir(directory, 0o700)
        let source = directory + "/runner-\(getpid()).c"
        guard writeFile(source, Array(ARM64Runner.source.utf8)) else {
            return .failure(.unsupported(pc: 0, message: "cannot write the arm64 runner's source to \(directory)"))
        }
        defer { unlink(source) }
        var last = "no clang found"
        for clang in clangs where executable(clang) {
            let temporary = directory + "/runner-\(getpid())"
            let arguments = [clang, "--target=aarch64-linux-gnu", "-static", "-nostdlib", "-ffreestanding", "-fno-stack-protector",
                             "-fuse-ld=lld", "-O2", "-o", temporary, source]
            guard let (output, status) = try? spawn(arguments, input: []) else { continue }
            if status == 0 && rename(temporary, runner) == 0 { return .success((qemu, runner)) }
            last = "\(clang): " + String(decoding: output.prefix(400), as: UTF8.self)
        }
        return .failure(.unsupported(pc: 0, message: "cannot build the arm64 runner (clang with the aarch64 target and lld needed): \(last)"))
    }

    /// The text of each 4-byte instruction of `code`, by `llvm-objdump` (found on `PATH` or beside
    /// `swift`, with `llvm-objcopy`), or nil when there is none.
    public static func disassemble(_ code: [UInt8]) -> [String]? {
        func tool(_ name: String) -> String? {
            var candidates = searchPath(name)
            for swift in searchPath("swift") {
                if let resolved = realpath(swift, nil) {
                    let path = String(cString: resolved)
                    free(resolved)
                    candidates.append(String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) + "/" + name)
                }
            }
            return candidates.first(where: executable)
        }
        guard let objcopy = tool("llvm-objcopy"), let objdump = tool("llvm-objdump") else { return nil }
        let base = (environment("TMPDIR") ?? "/tmp") + "/swiftbpf-arm64-code-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        guard writeFile(base + ".bin", code) else { return nil }
        defer { unlink(base + ".bin"); unlink(base + ".o") }
        guard let copied = try? spawn([objcopy, "-I", "binary", "-O", "elf64-littleaarch64", base + ".bin", base + ".o"], input: []),
              copied.status == 0,
              let dumped = try? spawn([objdump, "-D", "--no-show-raw-insn", base + ".o"], input: []), dumped.status == 0 else { return nil }
        var texts = [String](repeating: "", count: code.count / 4)
        for line in String(decoding: dumped.output, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let offset = Int(parts[0].trimmingCharacters(in: " \t"), radix: 16), offset % 4 == 0, offset / 4 < texts.count else { continue }
            var text = parts[1].trimmingCharacters(in: " \t").replacingTabs()
            // Branch targets are offsets already; drop objdump's symbol for them.
            if let symbol = text.firstRange(of: " <") { text = String(text[..<symbol.lowerBound]) }
            texts[offset / 4] = text
        }
        return texts
    }

    private static func fnv(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    private static func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            written += n
        }
        return true
    }

    private static func readFile(_ path: String) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }

    /// Runs `arguments` with `input` on stdin; returns stdout and stderr together and the exit status.
    private static func spawn(_ arguments: [String], input: [UInt8]) throws(RuntimeError) -> (output: [UInt8], status: Int32) {
        let base = (environment("TMPDIR") ?? "/tmp") + "/swiftbpf-arm64-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let inPath = base + ".in", outPath = base + ".out"
        guard writeFile(inPath, input) else { throw .unsupported(pc: 0, message: "cannot write \(inPath)") }
        defer { unlink(inPath); unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        guard rc == 0 else { throw .unsupported(pc: 0, message: "cannot start \(arguments[0]) (error \(rc))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (readFile(outPath), status)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = self[...]
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}

extension String {
    fileprivate func replacingTabs() -> String { String(map { $0 == "\t" ? " " : $0 }) }
}
