/// What the verifier knows about a 64-bit value: its known bits and its unsigned and signed
/// ranges, both over all 64 bits and over the low 32 bits. Every operation keeps the five views
/// consistent (each tightens the others), as the kernel's `reg_bounds_sync` does.
///
/// ```swift
/// var x = Scalar.unknown
/// x = x.and(.constant(0xff))      // umax 255, known bits 0x..00ff mask
/// ```
public struct Scalar: Hashable, Sendable, CustomStringConvertible {
    public var tnum: Tnum
    public var umin: UInt64, umax: UInt64
    public var smin: Int64, smax: Int64
    public var u32min: UInt32, u32max: UInt32
    public var s32min: Int32, s32max: Int32

    public static let unknown = Scalar(tnum: .unknown, umin: 0, umax: .max, smin: .min, smax: .max,
                                       u32min: 0, u32max: .max, s32min: .min, s32max: .max)

    public static func constant(_ v: UInt64) -> Scalar {
        Scalar(tnum: .constant(v), umin: v, umax: v, smin: Int64(bitPattern: v), smax: Int64(bitPattern: v),
               u32min: UInt32(truncatingIfNeeded: v), u32max: UInt32(truncatingIfNeeded: v),
               s32min: Int32(truncatingIfNeeded: Int64(bitPattern: v)), s32max: Int32(truncatingIfNeeded: Int64(bitPattern: v)))
    }

    /// Any value of `lo...hi` (unsigned).
    public static func unsigned(_ lo: UInt64, _ hi: UInt64) -> Scalar {
        var s = Scalar.unknown
        s.umin = lo
        s.umax = hi
        _ = s.sync()
        return s
    }

    /// Any value of `lo...hi` (signed).
    public static func signed(_ lo: Int64, _ hi: Int64) -> Scalar {
        var s = Scalar.unknown
        s.smin = lo
        s.smax = hi
        _ = s.sync()
        return s
    }

    public var isConstant: Bool { tnum.isConstant }
    public var constantValue: UInt64? { tnum.isConstant ? tnum.value : nil }
    public var isConstant32: Bool { tnum.mask & 0xffff_ffff == 0 }

    /// Whether every value `b` may hold is one this may hold.
    public func contains(_ b: Scalar) -> Bool {
        umin <= b.umin && umax >= b.umax && smin <= b.smin && smax >= b.smax
            && u32min <= b.u32min && u32max >= b.u32max && s32min <= b.s32min && s32max >= b.s32max
            && tnum.contains(b.tnum)
    }

    /// Tightens every view from the others; false when no value is left (an impossible path).
    public mutating func sync() -> Bool {
        if tnum.mask == 0 {
            // A known value: it is the whole result if every range holds it, else nothing is left.
            let v = tnum.value
            guard umin <= v, v <= umax, smin <= Int64(bitPattern: v), Int64(bitPattern: v) <= smax,
                  u32min <= UInt32(truncatingIfNeeded: v), UInt32(truncatingIfNeeded: v) <= u32max,
                  s32min <= Int32(truncatingIfNeeded: v), Int32(truncatingIfNeeded: v) <= s32max else { return false }
            self = .constant(v)
            return true
        }
        for _ in 0..<3 {
            let before = self
            // Known bits bound the ranges.
            umin = Swift.max(umin, tnum.min)
            umax = Swift.min(umax, tnum.max)
            let sign: UInt64 = 1 << 63
            if tnum.mask & sign == 0 {
                smin = Swift.max(smin, Int64(bitPattern: tnum.min))
                smax = Swift.min(smax, Int64(bitPattern: tnum.max))
            } else {
                smin = Swift.max(smin, Int64(bitPattern: tnum.value | sign))
                smax = Swift.min(smax, Int64(bitPattern: (tnum.value | tnum.mask) & ~sign))
            }
            let t32 = tnum.low32
            u32min = Swift.max(u32min, UInt32(t32.min))
            u32max = Swift.min(u32max, UInt32(t32.max))
            let sign32: UInt64 = 1 << 31
            if t32.mask & sign32 == 0 {
                s32min = Swift.max(s32min, Int32(bitPattern: UInt32(t32.min)))
                s32max = Swift.min(s32max, Int32(bitPattern: UInt32(t32.max)))
            } else {
                s32min = Swift.max(s32min, Int32(bitPattern: UInt32(t32.value | sign32)))
                s32max = Swift.min(s32max, Int32(bitPattern: UInt32((t32.value | t32.mask) & ~sign32)))
            }
            // Signed and unsigned 64-bit ranges agree when they do not cross a sign boundary.
            if umin <= umax && (umax <= UInt64(Int64.max) || umin > UInt64(Int64.max)) {
                smin = Swift.max(smin, Int64(bitPattern: umin))
                smax = Swift.min(smax, Int64(bitPattern: umax))
            }
            if smin <= smax && (smin >= 0 || smax < 0) {
                umin = Swift.max(umin, UInt64(bitPattern: smin))
                umax = Swift.min(umax, UInt64(bitPattern: smax))
            }
            // The 64-bit range bounds the 32-bit one when the upper halves are equal.
            if umin <= umax && umin >> 32 == umax >> 32 {
                u32min = Swift.max(u32min, UInt32(truncatingIfNeeded: umin))
                u32max = Swift.min(u32max, UInt32(truncatingIfNeeded: umax))
            }
            if smin <= smax && UInt64(bitPattern: smin) >> 32 == UInt64(bitPattern: smax) >> 32 {
                let lo = UInt32(truncatingIfNeeded: smin), hi = UInt32(truncatingIfNeeded: smax)
                if lo <= hi {
                    u32min = Swift.max(u32min, lo)
                    u32max = Swift.min(u32max, hi)
                }
            }
            // 32-bit signed and unsigned agree when they do not cross a sign boundary.
            if u32min <= u32max && (u32max <= UInt32(Int32.max) || u32min > UInt32(Int32.max)) {
                s32min = Swift.max(s32min, Int32(bitPattern: u32min))
                s32max = Swift.min(s32max, Int32(bitPattern: u32max))
            }
            if s32min <= s32max && (s32min >= 0 || s32max < 0) {
                u32min = Swift.max(u32min, UInt32(bitPattern: s32min))
                u32max = Swift.min(u32max, UInt32(bitPattern: s32max))
            }
            // A signed range that crosses the sign boundary is two unsigned intervals; an unsigned
            // range meeting only one of them is in that one (the kernel's __reg64_deduce_bounds and
            // __reg32_deduce_bounds).
            if smin < 0 && smax >= 0 && umin <= umax {
                if umax < UInt64(bitPattern: smin) {
                    smin = Int64(bitPattern: umin)
                    umax = Swift.min(umax, UInt64(smax))
                } else if UInt64(smax) < umin {
                    smax = Int64(bitPattern: umax)
                    umin = Swift.max(umin, UInt64(bitPattern: smin))
                }
            }
            if s32min < 0 && s32max >= 0 && u32min <= u32max {
                if u32max < UInt32(bitPattern: s32min) {
                    s32min = Int32(bitPattern: u32min)
                    u32max = Swift.min(u32max, UInt32(s32max))
                } else if UInt32(s32max) < u32min {
                    s32max = Int32(bitPattern: u32max)
                    u32min = Swift.max(u32min, UInt32(bitPattern: s32min))
                }
            }
            // Upper halves two consecutive numbers, the lower halves going from a negative s32 to
            // a non-negative one: the values' low halves are one s32 range (__reg32_deduce_bounds).
            if umin <= umax, UInt32(truncatingIfNeeded: umin >> 32) &+ 1 == UInt32(truncatingIfNeeded: umax >> 32),
               Int32(truncatingIfNeeded: umin) < 0, Int32(truncatingIfNeeded: umax) >= 0 {
                s32min = Swift.max(s32min, Int32(truncatingIfNeeded: umin))
                s32max = Swift.min(s32max, Int32(truncatingIfNeeded: umax))
            }
            if smin <= smax,
               UInt32(truncatingIfNeeded: UInt64(bitPattern: smin) >> 32) &+ 1 == UInt32(truncatingIfNeeded: UInt64(bitPattern: smax) >> 32),
               Int32(truncatingIfNeeded: smin) < 0, Int32(truncatingIfNeeded: smax) >= 0 {
                s32min = Swift.max(s32min, Int32(truncatingIfNeeded: smin))
                s32max = Swift.min(s32max, Int32(truncatingIfNeeded: smax))
            }
            // Known upper bits let the 32-bit range bound the 64-bit one.
            if tnum.upperKnown && u32min <= u32max {
                let high = tnum.value & 0xffff_ffff_0000_0000
                umin = Swift.max(umin, high | UInt64(u32min))
                umax = Swift.min(umax, high | UInt64(u32max))
            }
            // The ranges bound the known bits.
            if umin > umax || smin > smax || u32min > u32max || s32min > s32max { return false }
            guard let t = tnum.intersect(.range(umin, umax)) else { return false }
            let low = Tnum.range(UInt64(u32min), UInt64(u32max))
            guard let t2 = t.intersect(Tnum(value: low.value, mask: low.mask | 0xffff_ffff_0000_0000)) else { return false }
            tnum = t2
            // A round that changed nothing is a fixed point: the next ones would not either.
            if self == before { break }
        }
        return !(umin > umax || smin > smax || u32min > u32max || s32min > s32max)
    }

    /// The value zero-extended from its low 32 bits (what a 32-bit ALU result is).
    public var zeroExtended32: Scalar {
        var s = Scalar.unknown
        s.tnum = tnum.low32
        s.u32min = u32min; s.u32max = u32max; s.s32min = s32min; s.s32max = s32max
        s.umin = UInt64(u32min); s.umax = UInt64(u32max)
        _ = s.sync()
        return s
    }

    /// The value truncated to `bytes` bytes and zero-extended (a narrow load, or a store of it).
    public func truncated(toBytes bytes: Int) -> Scalar {
        if bytes >= 8 { return self }
        let bitMask = (UInt64(1) << UInt64(bytes * 8)) - 1
        if let c = constantValue { return .constant(c & bitMask) }
        if umax <= bitMask { return self }
        // As the kernel's coerce_reg_to_size: the known bits survive the cast, and the unsigned
        // range does when its bounds agree above the cut.
        var s = Scalar.unknown
        s.tnum = Tnum(value: tnum.value & bitMask, mask: tnum.mask & bitMask)
        if umin & ~bitMask == umax & ~bitMask {
            s.umin = umin & bitMask
            s.umax = umax & bitMask
        } else {
            s.umin = 0
            s.umax = bitMask
        }
        if bytes == 4 {
            s.umin = Swift.max(s.umin, UInt64(u32min))
            s.umax = Swift.min(s.umax, UInt64(u32max))
        }
        guard s.sync() else { return .unsigned(0, bitMask) }
        return s
    }

    /// Any value of a load of `bytes` bytes, zero- or sign-extended.
    public static func loaded(bytes: Int, signExtend: Bool = false) -> Scalar {
        if bytes >= 8 { return .unknown }
        let bits = Int64(bytes * 8)
        if signExtend { return .signed(-(1 << (bits - 1)), (1 << (bits - 1)) - 1) }
        return .unsigned(0, (UInt64(1) << UInt64(bits)) - 1)
    }

    public var description: String {
        if let c = constantValue { return Int64(bitPattern: c) < 0 && Int64(bitPattern: c) > -4096 ? "\(Int64(bitPattern: c))" : "\(c)" }
        var parts: [String] = []
        if smin != .min { parts.append("smin=\(smin)") }
        if smax != .max { parts.append("smax=\(smax)") }
        if umin != 0 && UInt64(bitPattern: smin) != umin { parts.append("umin=\(umin)") }
        if umax != .max && UInt64(bitPattern: smax) != umax { parts.append("umax=\(umax)") }
        if u32max != .max && UInt64(u32max) != umax { parts.append("u32max=\(u32max)") }
        if tnum.mask != .max && !(tnum.value == 0 && tnum.mask.nonzeroBitCount == 64 - tnum.mask.leadingZeroBitCount) {
            parts.append("var_off=\(tnum)")
        }
        return parts.isEmpty ? "scalar" : "scalar(" + parts.joined(separator: ",") + ")"
    }
}

// MARK: - ALU transfer functions

extension Scalar {
    /// The result of a 64-bit ALU operation, or for `width` 32 of the 32-bit one (zero-extended).
    static func alu(_ op: ALUKind, _ a: Scalar, _ b: Scalar, width: Int) -> Scalar {
        var b = b
        if op == .lsh || op == .rsh || op == .arsh, let k = b.constantValue { b = .constant(k & UInt64(width - 1)) }
        if width == 32 {
            let a32 = a.zeroExtended32, b32 = b.zeroExtended32
            var r: Scalar
            switch op {
            case .add: r = add(a32, b32)
            case .sub: r = sub(a32, b32)
            case .mul: r = mul(a32, b32)
            case .arsh:
                guard let k = b32.constantValue, k < 32 else { return Scalar.unsigned(0, 0xffff_ffff) }
                var s = Scalar.unknown
                s.tnum = a32.tnum.shiftedRightArithmetic(k, width: 32).low32
                s.s32min = a.s32min >> Int32(k)
                s.s32max = a.s32max >> Int32(k)
                s.umax = 0xffff_ffff
                return s.synced
            case .lsh:
                guard let k = b32.constantValue, k < 32 else { return Scalar.unsigned(0, 0xffff_ffff) }
                r = Scalar.unknown
                r.tnum = a32.tnum.shiftedLeft(k)
                if a32.umax << k <= 0xffff_ffff {
                    // No bit leaves the subregister: the bounds shift too (scalar32_min_max_lsh).
                    r.umin = a32.umin << k
                    r.umax = a32.umax << k
                }
            default:
                r = alu(op, a32, b32, width: 64)
            }
            return r.synced.zeroExtended32
        }
        switch op {
        case .add: return add(a, b)
        case .sub: return sub(a, b)
        case .mul: return mul(a, b)
        case .and:
            var r = Scalar.unknown
            r.tnum = a.tnum & b.tnum
            r.umax = Swift.min(a.umax, b.umax)
            if a.smin >= 0 || b.smin >= 0 { r.smin = 0; r.smax = Swift.max(0, Swift.min(a.smin >= 0 ? a.smax : .max, b.smin >= 0 ? b.smax : .max)) }
            return r.synced
        case .or:
            var r = Scalar.unknown
            r.tnum = a.tnum | b.tnum
            r.umin = Swift.max(a.umin, b.umin)
            return r.synced
        case .xor:
            var r = Scalar.unknown
            r.tnum = a.tnum ^ b.tnum
            return r.synced
        case .lsh:
            guard let k = b.constantValue, k < 64 else { return .unknown }
            var r = Scalar.unknown
            r.tnum = a.tnum.shiftedLeft(k)
            if k == 0 || a.umax.leadingZeroBitCount >= Int(k) {
                r.umin = a.umin << k
                r.umax = a.umax << k
            }
            if k == 32 {
                // `<< 32` then `s>> 32` sign-extends the subregister: a non-negative 32-bit bound
                // becomes the 64-bit one (the kernel's __scalar64_min_max_lsh).
                if a.s32max >= 0 { r.smax = Int64(a.s32max) << 32 }
                if a.s32min >= 0 { r.smin = Int64(a.s32min) << 32 }
            }
            return r.synced
        case .rsh:
            guard let k = b.constantValue, k < 64 else {
                return .unsigned(0, a.umax)
            }
            var r = Scalar.unknown
            r.tnum = a.tnum.shiftedRight(k)
            r.umin = a.umin >> k
            r.umax = a.umax >> k
            return r.synced
        case .arsh:
            guard let k = b.constantValue, k < 64 else { return .unknown }
            var r = Scalar.unknown
            r.tnum = a.tnum.shiftedRightArithmetic(k, width: 64)
            r.smin = a.smin >> Int64(k)
            r.smax = a.smax >> Int64(k)
            return r.synced
        case .udiv, .umod, .sdiv, .smod:
            // The kernel's verifier does not follow division (is_safe_to_compute_dst_reg_range):
            // the result is any value, so a bound that rests on it refuses the program there too.
            return .unknown
        }
    }

    var synced: Scalar {
        var s = self
        if !s.sync() { return .unknown }
        return s
    }

    static func add(_ a: Scalar, _ b: Scalar) -> Scalar {
        var r = Scalar.unknown
        r.tnum = a.tnum + b.tnum
        // Unsigned bounds hold when both ends wrap or neither does (every sum between them then
        // wraps the same way), as the kernel's scalar_min_max_add.
        let (lo, o1) = a.umin.addingReportingOverflow(b.umin)
        let (hi, o2) = a.umax.addingReportingOverflow(b.umax)
        if o1 == o2 { r.umin = lo; r.umax = hi }
        let (slo, o3) = a.smin.addingReportingOverflow(b.smin)
        let (shi, o4) = a.smax.addingReportingOverflow(b.smax)
        if !o3 && !o4 { r.smin = slo; r.smax = shi }
        let (l32, o5) = a.u32min.addingReportingOverflow(b.u32min)
        let (h32, o6) = a.u32max.addingReportingOverflow(b.u32max)
        if o5 == o6 { r.u32min = l32; r.u32max = h32 }
        let (sl32, o7) = a.s32min.addingReportingOverflow(b.s32min)
        let (sh32, o8) = a.s32max.addingReportingOverflow(b.s32max)
        if !o7 && !o8 { r.s32min = sl32; r.s32max = sh32 }
        return r.synced
    }

    static func sub(_ a: Scalar, _ b: Scalar) -> Scalar {
        var r = Scalar.unknown
        r.tnum = a.tnum - b.tnum
        // As for add: the bounds hold when both ends wrap below zero or neither does.
        let (lo, o1) = a.umin.subtractingReportingOverflow(b.umax)
        let (hi, o2) = a.umax.subtractingReportingOverflow(b.umin)
        if o1 == o2 { r.umin = lo; r.umax = hi }
        let (slo, o3) = a.smin.subtractingReportingOverflow(b.smax)
        let (shi, o4) = a.smax.subtractingReportingOverflow(b.smin)
        if !o3 && !o4 { r.smin = slo; r.smax = shi }
        let (l32, o5) = a.u32min.subtractingReportingOverflow(b.u32max)
        let (h32, o6) = a.u32max.subtractingReportingOverflow(b.u32min)
        if o5 == o6 { r.u32min = l32; r.u32max = h32 }
        let (sl32, o7) = a.s32min.subtractingReportingOverflow(b.s32max)
        let (sh32, o8) = a.s32max.subtractingReportingOverflow(b.s32min)
        if !o7 && !o8 { r.s32min = sl32; r.s32max = sh32 }
        return r.synced
    }

    static func mul(_ a: Scalar, _ b: Scalar) -> Scalar {
        var r = Scalar.unknown
        r.tnum = a.tnum * b.tnum
        let (hi, o) = a.umax.multipliedReportingOverflow(by: b.umax)
        if !o { r.umin = a.umin &* b.umin; r.umax = hi }
        if a.u32max <= 0xffff && b.u32max <= 0xffff { r.u32min = a.u32min &* b.u32min; r.u32max = a.u32max &* b.u32max }
        return r.synced
    }

    /// Sign-extends the low `bits` bits (movsx).
    func signExtended(from bits: Int) -> Scalar {
        if bits >= 64 || bits <= 0 { return self }
        let half = Int64(1) << Int64(bits - 1)
        if smin >= -half && smax < half { return self }
        if let c = constantValue {
            let shift = UInt64(64 - bits)
            return .constant(UInt64(bitPattern: Int64(bitPattern: c << shift) >> Int64(shift)))
        }
        if umax < UInt64(half) { return self }
        // The low bits of an unsigned range whose upper bits are fixed form one interval; on one
        // side of the sign bit, sign extension keeps it one (the kernel's coerce_reg_to_size_sx).
        let mask = (UInt64(1) << UInt64(bits)) - 1
        if umin >> UInt64(bits) == umax >> UInt64(bits) {
            let lo = umin & mask, hi = umax & mask
            let sign = UInt64(half)
            if lo <= hi && (lo & sign) == (hi & sign) {
                let shift = UInt64(64 - bits)
                return .signed(Int64(bitPattern: lo << shift) >> Int64(shift), Int64(bitPattern: hi << shift) >> Int64(shift))
            }
        }
        return .signed(-half, half - 1)
    }

    /// Byte swap of the low `bits` bits (zero-extended).
    func byteSwapped(bits: Int) -> Scalar {
        if let c = constantValue {
            switch bits {
            case 16: return .constant(UInt64(UInt16(truncatingIfNeeded: c).byteSwapped))
            case 32: return .constant(UInt64(UInt32(truncatingIfNeeded: c).byteSwapped))
            default: return .constant(c.byteSwapped)
            }
        }
        return bits == 64 ? .unknown : .unsigned(0, (UInt64(1) << UInt64(bits)) - 1)
    }
}

/// The ALU operations the scalar domain models.
enum ALUKind {
    case add, sub, mul, and, or, xor, lsh, rsh, arsh, udiv, umod, sdiv, smod
}
