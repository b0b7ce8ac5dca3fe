/// A tristate number ("tnum"): for each of 64 bits, known 0, known 1 or unknown. `value` holds the
/// known ones, `mask` the unknown bits (a bit is never set in both).
///
/// ```swift
/// let t = Tnum.range(0, 15)        // value 0, mask 0xf: any of 0...15
/// t.contains(Tnum.constant(7))     // true
/// ```
public struct Tnum: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64
    public var mask: UInt64

    @inlinable public init(value: UInt64, mask: UInt64) {
        self.value = value & ~mask
        self.mask = mask
    }

    public static func constant(_ v: UInt64) -> Tnum { Tnum(value: v, mask: 0) }
    public static let unknown = Tnum(value: 0, mask: ~0)

    public var isConstant: Bool { mask == 0 }
    public var min: UInt64 { value }
    public var max: UInt64 { value | mask }

    /// The smallest tnum holding every value of `lo...hi`.
    public static func range(_ lo: UInt64, _ hi: UInt64) -> Tnum {
        let chi = lo ^ hi
        if chi == 0 { return .constant(lo) }
        let bits = 64 - chi.leadingZeroBitCount
        if bits >= 64 { return .unknown }
        let delta = (UInt64(1) << UInt64(bits)) - 1
        return Tnum(value: lo & ~delta, mask: delta)
    }

    public static func + (a: Tnum, b: Tnum) -> Tnum {
        let sm = a.mask &+ b.mask
        let sv = a.value &+ b.value
        let sigma = sm &+ sv
        let chi = sigma ^ sv
        let mu = chi | a.mask | b.mask
        return Tnum(value: sv & ~mu, mask: mu)
    }

    public static func - (a: Tnum, b: Tnum) -> Tnum {
        let dv = a.value &- b.value
        let alpha = dv &+ a.mask
        let beta = dv &- b.mask
        let chi = alpha ^ beta
        let mu = chi | a.mask | b.mask
        return Tnum(value: dv & ~mu, mask: mu)
    }

    public static func & (a: Tnum, b: Tnum) -> Tnum {
        let alpha = a.value | a.mask
        let beta = b.value | b.mask
        let v = a.value & b.value
        return Tnum(value: v, mask: alpha & beta & ~v)
    }

    public static func | (a: Tnum, b: Tnum) -> Tnum {
        let v = a.value | b.value
        let mu = a.mask | b.mask
        return Tnum(value: v, mask: mu & ~v)
    }

    public static func ^ (a: Tnum, b: Tnum) -> Tnum {
        let v = a.value ^ b.value
        let mu = a.mask | b.mask
        return Tnum(value: v & ~mu, mask: mu)
    }

    /// Multiplication (the kernel's shift-and-add algorithm).
    public static func * (a: Tnum, b: Tnum) -> Tnum {
        var a = a
        var b = b
        let accV = a.value &* b.value
        var accM = Tnum.constant(0)
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                accM = accM + Tnum(value: 0, mask: b.mask)
            } else if a.mask & 1 != 0 {
                accM = accM + Tnum(value: 0, mask: b.value | b.mask)
            }
            a = a.shiftedRight(1)
            b = b.shiftedLeft(1)
        }
        return Tnum.constant(accV) + accM
    }

    public func shiftedLeft(_ n: UInt64) -> Tnum { Tnum(value: value << n, mask: mask << n) }
    public func shiftedRight(_ n: UInt64) -> Tnum { Tnum(value: value >> n, mask: mask >> n) }
    public func shiftedRightArithmetic(_ n: UInt64, width: Int) -> Tnum {
        if width == 32 {
            let v = UInt64(UInt32(bitPattern: Int32(bitPattern: UInt32(truncatingIfNeeded: value)) >> Int32(n)))
            let m = UInt64(UInt32(bitPattern: Int32(bitPattern: UInt32(truncatingIfNeeded: mask)) >> Int32(n)))
            return Tnum(value: v, mask: m)
        }
        return Tnum(value: UInt64(bitPattern: Int64(bitPattern: value) >> Int64(n)),
                    mask: UInt64(bitPattern: Int64(bitPattern: mask) >> Int64(n)))
    }

    /// The common refinement of two tnums describing the same value; nil when they contradict.
    public func intersect(_ b: Tnum) -> Tnum? {
        if (value ^ b.value) & ~(mask | b.mask) != 0 { return nil }
        let v = value | b.value
        let mu = mask & b.mask
        return Tnum(value: v & ~mu, mask: mu)
    }

    /// Whether every value `b` may hold is one this tnum may hold.
    public func contains(_ b: Tnum) -> Bool {
        if b.mask & ~mask != 0 { return false }
        return (b.value & ~mask) == value
    }

    /// The low 32 bits (upper bits known zero).
    public var low32: Tnum { Tnum(value: value & 0xffff_ffff, mask: mask & 0xffff_ffff) }
    /// The upper 32 bits are known.
    public var upperKnown: Bool { mask >> 32 == 0 }

    public var description: String {
        if isConstant { return "\(value)" }
        return "(0x\(String(value, radix: 16)); 0x\(String(mask, radix: 16)))"
    }
}
