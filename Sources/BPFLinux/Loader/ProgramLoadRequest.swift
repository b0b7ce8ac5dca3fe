import BPFCore
import BPFObject
import CBPFLinuxSupport

/// Everything `BPF_PROG_LOAD` can be given for one program: the instructions and type, and the
/// object-level extras a loader adds (BTF with function and line info, the attach target's BTF id,
/// the kernel version, flags).
///
/// ```swift
/// var request = ProgramLoadRequest(type: .xdp, instructions: code)
/// request.name = "xdp_counter"
/// let program = try KernelProgram.load(request)
/// ```
public struct ProgramLoadRequest: Sendable {
    public var type: ProgramType
    public var instructions: [Instruction]
    public var license = "GPL"
    public var expectedAttachType: AttachType?
    public var name = ""
    /// `BPF_F_*` program flags (`sleepable`, `xdpHasFrags`, ...).
    public var flags: UInt32 = 0
    /// The `kern_version` field (only kprobes of old kernels check it).
    public var kernelVersion: UInt32 = 0
    /// The program's BTF, for function and line info.
    public var btf: KernelBTF?
    /// `struct bpf_func_info` records: (instruction index, BTF FUNC type id).
    public var functionInfo: [(instruction: Int, typeID: Int)] = []
    /// `struct bpf_line_info` records, with string offsets into `btf`'s string table.
    public var lineInfo: [(instruction: Int, fileNameOffset: UInt32, lineOffset: UInt32, line: Int, column: Int)] = []
    /// The BTF id the program attaches to (fentry/fexit/tp_btf/lsm/iter targets; for struct_ops,
    /// the kernel struct).
    public var attachBTFID: UInt32 = 0
    /// For a struct_ops program, the index of the member it implements in the kernel struct: sent
    /// as the expected attach type, in place of `expectedAttachType`.
    public var structOpsMemberIndex: UInt32?
    /// The verifier log level for the first attempt (a failing load is retried with level 1).
    public var logLevel: UInt32 = 0
    /// The first log buffer size.
    public var logSize = KernelProgram.initialLogSize
    /// Kernel modules' BTF objects the program's kfunc calls name: a call's `offset` is its index
    /// here plus one (0 means vmlinux), sent as `fd_array` with index 0 unused, as libbpf does.
    public var moduleBTFs: [KernelBTF] = []

    /// The `offset` a kfunc call of module BTF `btf` takes, adding it to ``moduleBTFs`` if new.
    public mutating func moduleBTFIndex(_ btf: KernelBTF) -> Int16 {
        if let i = moduleBTFs.firstIndex(where: { $0 === btf }) { return Int16(i + 1) }
        moduleBTFs.append(btf)
        return Int16(moduleBTFs.count)
    }

    /// Program flags (`BPF_F_*`) a loader sets from the section name.
    public enum Flag {
        public static let strictAlignment: UInt32 = 1 << 0
        public static let anyAlignment: UInt32 = 1 << 1
        public static let sleepable: UInt32 = 1 << 4
        public static let xdpHasFrags: UInt32 = 1 << 5
    }

    public init(type: ProgramType, instructions: [Instruction]) {
        self.type = type
        self.instructions = instructions
    }
}

extension KernelProgram {
    /// Loads a program with everything `request` carries, by `BPF_PROG_LOAD`.
    ///
    /// With `logLevel` 0 the first load asks for no log (the fast path); if the kernel rejects the
    /// program it is loaded again with log level 1 so the error carries the verifier's log. The log
    /// buffer grows ×4 (or to the size the kernel reports) while the kernel says ENOSPC, up to
    /// `maximumLogSize`. `lddw` instructions with src 1 or 2 must already hold map fds in `imm`.
    public static func load(_ request: ProgramLoadRequest) throws(BPFError) -> KernelProgram {
        let name = request.name
        guard !request.instructions.isEmpty else { throw BPFError.invalidArgument("program \(name): no instructions", command: .progLoad) }
        let sanitised = KernelMap.sanitisedName(name)
        let code = request.instructions.map(\.rawValue)
        let funcInfo = request.functionInfo.map { cbpf_func_info(insn_off: UInt32($0.instruction), type_id: UInt32($0.typeID)) }
        let lineInfo = request.lineInfo.map {
            cbpf_line_info(insn_off: UInt32($0.instruction), file_name_off: $0.fileNameOffset, line_off: $0.lineOffset,
                           line_col: UInt32($0.line) << 10 | UInt32($0.column & 0x3ff))
        }
        let btfFD = try request.btf.map { btf throws(BPFError) in try btf.fd.checked(.progLoad) } ?? 0
        // fd_array: index 0 unused (a kfunc call with offset 0 is vmlinux's), then the modules' BTF fds.
        let fdArray = UnsafeMutableBufferPointer<Int32>.allocate(capacity: request.moduleBTFs.count + 1)
        defer { fdArray.deallocate() }
        fdArray[0] = 0
        for (i, btf) in request.moduleBTFs.enumerated() { fdArray[i + 1] = Int32(bitPattern: try btf.fd.checked(.progLoad)) }
        var level = request.logLevel
        var logSize = level > 0 ? max(request.logSize, 1) : 0
        while true {
            var log = [UInt8](repeating: 0, count: logSize)
            var attr = cbpf_prog_load_attr()
            attr.prog_type = request.type.rawValue
            attr.insn_cnt = UInt32(code.count)
            attr.expected_attach_type = request.structOpsMemberIndex ?? request.expectedAttachType?.rawValue ?? 0
            attr.prog_flags = request.flags
            attr.kern_version = request.kernelVersion
            attr.attach_btf_id = request.attachBTFID
            withUnsafeMutableBytes(of: &attr.prog_name) { raw in
                cbpf_set_name(raw.baseAddress!.assumingMemoryBound(to: CChar.self), sanitised)
            }
            let result: Result<Int32, BPFError> = code.withUnsafeBytes { insns in
                request.license.withCString { licenseC in
                    log.withUnsafeMutableBytes { logBuffer in
                        funcInfo.withUnsafeBytes { funcs in
                            lineInfo.withUnsafeBytes { lines in
                                if !request.moduleBTFs.isEmpty { attr.fd_array = address(UnsafeRawPointer(fdArray.baseAddress)) }
                                attr.insns = address(insns.baseAddress)
                                attr.license = address(licenseC)
                                if request.btf != nil {
                                    attr.prog_btf_fd = btfFD
                                    if !funcInfo.isEmpty {
                                        attr.func_info_rec_size = UInt32(MemoryLayout<cbpf_func_info>.stride)
                                        attr.func_info = address(funcs.baseAddress)
                                        attr.func_info_cnt = UInt32(funcInfo.count)
                                    }
                                    if !lineInfo.isEmpty {
                                        attr.line_info_rec_size = UInt32(MemoryLayout<cbpf_line_info>.stride)
                                        attr.line_info = address(lines.baseAddress)
                                        attr.line_info_cnt = UInt32(lineInfo.count)
                                    }
                                }
                                if level > 0 {
                                    attr.log_level = level
                                    attr.log_size = UInt32(logBuffer.count)
                                    attr.log_buf = address(logBuffer.baseAddress)
                                }
                                return Result { () throws(BPFError) in try BPFSyscall.call(.progLoad, &attr) }
                            }
                        }
                    }
                }
            }
            let text = level > 0 ? logText(log) : nil
            switch result {
            case .success(let fd):
                return KernelProgram(fd: BPFFileDescriptor(adopting: fd), type: request.type, name: sanitised, verifierLog: text)
            case .failure(let error):
                if error.errno == .ENOSPC, level > 0, logSize < maximumLogSize {
                    let reported = Int(attr.log_true_size)
                    logSize = min(maximumLogSize, max(logSize * 4, reported > logSize ? reported + 1 : 0))
                    continue
                }
                if level == 0, error.errno != .EPERM, error.errno != .ENOSYS {
                    // Load again, with the log, to say why.
                    level = 1
                    logSize = max(request.logSize, 1)
                    continue
                }
                var failure = error
                failure.verifierLog = text
                var subject = "program"
                if !sanitised.isEmpty { subject += " \(sanitised)" }
                subject += " (\(request.type), \(code.count) instructions)"
                if let text, let summary = verifierSummary(text) {
                    failure.message = "\(subject): \(failure.message): \(summary)"
                } else {
                    failure.message = "\(subject): \(failure.message)"
                }
                throw failure
            }
        }
    }
}
