/// Kernel ids of the general-purpose helpers in ``MiscHelpers``.
extension KernelHelperID {
    public static let probeRead: Int32 = 4, csumDiff: Int32 = 28, probeReadString: Int32 = 45
    public static let strtol: Int32 = 105, strtoul: Int32 = 106, probeReadUser: Int32 = 112, probeReadKernel: Int32 = 113
    public static let probeReadUserString: Int32 = 114, probeReadKernelString: Int32 = 115, snprintf: Int32 = 165
    public static let strncmp: Int32 = 182
}

/// General-purpose helpers with the kernel's semantics: the `bpf_probe_read*` family (which reads
/// only memory the run's regions allow, and otherwise fails with -EFAULT and a zeroed
/// destination), `bpf_strtol`, `bpf_strtoul`, `bpf_strncmp`, `bpf_snprintf` and `bpf_csum_diff`.
enum MiscHelpers {
    static let efault = UInt64(bitPattern: -14), einval = UInt64(bitPattern: -22), erange = UInt64(bitPattern: -34)

    static func u32(_ value: UInt64) -> UInt64 { value & 0xffff_ffff }

    /// One byte of program memory, or nil when no region holds it.
    static func byte(_ call: borrowing HelperCall, _ address: UInt64) -> UInt8? {
        guard call.regions.pointee.allows(address, 1, write: false),
              let pointer = UnsafeRawPointer(bitPattern: UInt(truncatingIfNeeded: address)) else { return nil }
        return pointer.load(as: UInt8.self)
    }

    /// `bpf_probe_read_{kernel,user}`: copies `size` bytes, or zeroes the destination and returns -EFAULT.
    static func probeRead(_ call: borrowing HelperCall) throws(HelperError) -> UInt64 {
        let size = Int(u32(call.argument(2)))
        guard size > 0 else { return 0 }
        let destination = try call.memory(at: call.argument(1), size: size, write: true)
        let source = call.argument(3)
        guard call.regions.pointee.allows(source, size, write: false),
              let pointer = UnsafeRawPointer(bitPattern: UInt(truncatingIfNeeded: source)) else {
            destination.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            return efault
        }
        destination.copyMemory(from: pointer, byteCount: size)
        return 0
    }

    /// `bpf_probe_read_{kernel,user}_str`: copies a NUL-terminated string of at most `size` bytes
    /// (the last byte always NUL) and returns its length including the NUL; on a fault the
    /// destination is zeroed and the result is -EFAULT.
    static func probeReadString(_ call: borrowing HelperCall) throws(HelperError) -> UInt64 {
        let size = Int(u32(call.argument(2)))
        guard size > 0 else { return 0 }
        let destination = try call.memory(at: call.argument(1), size: size, write: true)
        var bytes: [UInt8] = []
        var address = call.argument(3)
        while bytes.count < size {
            guard let b = byte(call, address) else {
                destination.initializeMemory(as: UInt8.self, repeating: 0, count: size)
                return efault
            }
            bytes.append(b)
            if b == 0 { break }
            address &+= 1
        }
        bytes[bytes.count - 1] = 0
        bytes.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        return UInt64(bytes.count)
    }

    /// The kernel's `isspace` (its ctype table counts 0xa0 as space too).
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (0x09...0x0d).contains(c) || c == 0xa0 }

    /// `__bpf_strtoull`: the magnitude, whether a '-' came first, and the bytes consumed; or a negative errno.
    static func parseUnsigned(_ call: borrowing HelperCall) throws(HelperError) -> Result<(UInt64, Bool, Int), StrtoxError> {
        let length = Int(u32(call.argument(2))), flags = call.argument(3)
        guard call.argument(1) != 0, length > 0 else { return .failure(.invalid) }
        var base = flags & 0x1f
        guard flags & ~0x1f == 0, [0, 8, 10, 16].contains(base) else { return .failure(.invalid) }
        let buffer = try call.read(at: call.argument(1), size: length)
        var i = 0
        while i < buffer.count, isSpace(buffer[i]) { i += 1 }
        let negative = i < buffer.count && buffer[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        let consumedBefore = i
        guard i < buffer.count else { return .failure(.invalid) }
        // At most 63 characters are parsed, NUL-terminated, as the kernel copies them to a 64-byte buffer.
        let digits = Array(buffer[i..<min(buffer.count, i + 63)]) + [0, 0, 0]
        func lower(_ c: UInt8) -> UInt8 { (0x41...0x5a).contains(c) ? c | 0x20 : c }
        func isHex(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x61...0x66).contains(lower(c)) }
        if base == 0 {
            if digits[0] == UInt8(ascii: "0") {
                base = lower(digits[1]) == UInt8(ascii: "x") && isHex(digits[2]) ? 16 : 8
            } else {
                base = 10
            }
        }
        var p = 0
        if base == 16 && digits[0] == UInt8(ascii: "0") && lower(digits[1]) == UInt8(ascii: "x") { p = 2 }
        var value: UInt64 = 0, count = 0, overflow = false
        while true {
            let c = digits[p]
            let digit: UInt64
            if (0x30...0x39).contains(c) { digit = UInt64(c - 0x30) } else if (0x61...0x66).contains(lower(c)) { digit = UInt64(lower(c) - 0x61 + 10) } else { break }
            if digit >= base { break }
            if value & (~UInt64(0) << 60) != 0, value > (UInt64.max - digit) / base { overflow = true }
            value = value &* base &+ digit
            count += 1
            p += 1
        }
        if overflow { return .failure(.range) }
        if count == 0 { return .failure(.invalid) }
        return .success((value, negative, consumedBefore + p))
    }

    enum StrtoxError: Error { case invalid, range }

    static func errno(_ error: StrtoxError) -> UInt64 { error == .invalid ? einval : erange }

    /// The kernel's 32-bit `csum_partial` as x86-64 computes it: a one's-complement sum of the bytes
    /// as little-endian 64-bit words (the tail zero-padded), seeded, folded to 32 bits.
    static func checksumPartial(_ bytes: [UInt8], seed: UInt32) -> UInt32 {
        var sum = UInt64(seed)
        func add(_ word: UInt64) {
            let (s, carry) = sum.addingReportingOverflow(word)
            sum = s &+ (carry ? 1 : 0)
        }
        var i = 0
        while i < bytes.count {
            var word: UInt64 = 0
            for k in 0..<min(8, bytes.count - i) { word |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
            add(word)
            i += 8
        }
        return addWithCarry(UInt32(truncatingIfNeeded: sum >> 32), UInt32(truncatingIfNeeded: sum))
    }

    static func addWithCarry(_ a: UInt32, _ b: UInt32) -> UInt32 {
        let (s, carry) = a.addingReportingOverflow(b)
        return s &+ (carry ? 1 : 0)
    }

    /// `from32to16`: the 32-bit sum folded to 16 bits.
    static func fold(_ sum: UInt32) -> UInt32 {
        var x = (sum & 0xffff) + (sum >> 16)
        x = (x & 0xffff) + (x >> 16)
        return x & 0xffff
    }

    static let all: [Helper] = [
        Helper(id: KernelHelperID.probeRead, name: "bpf_probe_read") { call in try probeRead(call) },
        Helper(id: KernelHelperID.probeReadKernel, name: "bpf_probe_read_kernel") { call in try probeRead(call) },
        Helper(id: KernelHelperID.probeReadUser, name: "bpf_probe_read_user") { call in try probeRead(call) },
        Helper(id: KernelHelperID.probeReadString, name: "bpf_probe_read_str") { call in try probeReadString(call) },
        Helper(id: KernelHelperID.probeReadKernelString, name: "bpf_probe_read_kernel_str") { call in try probeReadString(call) },
        Helper(id: KernelHelperID.probeReadUserString, name: "bpf_probe_read_user_str") { call in try probeReadString(call) },

        Helper(id: KernelHelperID.strtol, name: "bpf_strtol") { call in
            switch try parseUnsigned(call) {
            case .failure(let error): return errno(error)
            case .success(let (magnitude, negative, consumed)):
                let value: Int64
                if negative {
                    guard Int64(bitPattern: 0 &- magnitude) <= 0 else { return erange }
                    value = Int64(bitPattern: 0 &- magnitude)
                } else {
                    guard Int64(bitPattern: magnitude) >= 0 else { return erange }
                    value = Int64(bitPattern: magnitude)
                }
                try call.write(withUnsafeBytes(of: value.littleEndian) { Array($0) }, at: call.argument(4))
                return UInt64(consumed)
            }
        },
        Helper(id: KernelHelperID.strtoul, name: "bpf_strtoul") { call in
            switch try parseUnsigned(call) {
            case .failure(let error): return errno(error)
            case .success(let (magnitude, negative, consumed)):
                if negative { return einval }
                try call.write(withUnsafeBytes(of: magnitude.littleEndian) { Array($0) }, at: call.argument(4))
                return UInt64(consumed)
            }
        },

        Helper(id: KernelHelperID.strncmp, name: "bpf_strncmp") { call in
            // The kernel's strncmp: -1, 0 or 1, comparing unsigned bytes up to s1_sz or a NUL.
            var a = call.argument(1), b = call.argument(3)
            for _ in 0..<u32(call.argument(2)) {
                let c1 = try call.memory(at: a, size: 1, write: false).load(as: UInt8.self)
                let c2 = try call.memory(at: b, size: 1, write: false).load(as: UInt8.self)
                if c1 != c2 { return c1 < c2 ? UInt64(bitPattern: -1) : 1 }
                if c1 == 0 { break }
                a &+= 1
                b &+= 1
            }
            return 0
        },

        Helper(id: KernelHelperID.snprintf, name: "bpf_snprintf") { call in
            let size = Int(u32(call.argument(2))), dataLength = u32(call.argument(5))
            // At most MAX_BPF_FUNC_VARARGS (12) u64 arguments.
            guard dataLength % 8 == 0, dataLength <= 12 * 8, dataLength == 0 || call.argument(4) != 0 else { return einval }
            var format: [UInt8] = []
            var address = call.argument(3)
            while true {
                let c = try call.memory(at: address, size: 1, write: false).load(as: UInt8.self)
                if c == 0 { break }
                format.append(c)
                address &+= 1
            }
            guard format.allSatisfy({ (0x20..<0x7f).contains($0) || (0x09...0x0d).contains($0) }) else { return einval }
            let raw = try call.read(at: call.argument(4), size: Int(dataLength))
            let arguments = stride(from: 0, to: raw.count, by: 8).map { o in
                (0..<8).reduce(UInt64(0)) { $0 | UInt64(raw[o + $1]) << (8 * UInt64($1)) }
            }
            let text: [UInt8]
            do {
                text = Array(try TraceFormat.render(String(decoding: format, as: UTF8.self), arguments: arguments, call: call).utf8)
            } catch {
                return einval
            }
            if size > 0 {
                let kept = Array(text.prefix(size - 1)) + [0]
                try call.write(kept, at: call.argument(1))
            }
            return UInt64(text.count + 1)
        },

        Helper(id: KernelHelperID.csumDiff, name: "bpf_csum_diff") { call in
            // Linux 6.13 and later: arch-independent, folded to 16 bits. (Earlier kernels returned
            // the arch's raw 32-bit csum_partial of ~from ++ to; both fold to the same checksum.)
            let fromSize = Int(u32(call.argument(2))), toSize = Int(u32(call.argument(4)))
            let seed = UInt32(truncatingIfNeeded: call.argument(5))
            let from = try call.read(at: call.argument(1), size: fromSize)
            let to = try call.read(at: call.argument(3), size: toSize)
            var sum = seed
            if fromSize > 0 && toSize > 0 {
                sum = addWithCarry(checksumPartial(to, seed: seed), ~checksumPartial(from, seed: 0))
            } else if toSize > 0 {
                sum = checksumPartial(to, seed: seed)
            } else if fromSize > 0 {
                sum = ~checksumPartial(from, seed: ~seed)
            }
            return UInt64(fold(sum))
        },
    ]
}
