/// The optimizing tier's intermediate form: a control-flow graph of basic blocks over virtual
/// registers, one program per graph with every bpf-to-bpf call inlined. Operations are
/// three-address and name no machine register, so another back end (arm64) can emit from the same
/// form; the x86-64 back end is ``OptX86Emitter``.
///
/// Virtual registers 0–10 are eBPF r0–r10 of the program's first function; inlined functions get
/// fresh registers for r6–r10, and passes add temporaries.
struct OptProgram {
    var blocks: [OptBlock] = []
    var registerCount = 11
    /// Whether the verifier accepted the program: its accesses may be proven and its loops end.
    var verified = false

    mutating func newRegister() -> Int {
        registerCount += 1
        return registerCount - 1
    }

    /// Successors of each block.
    func successors(_ b: Int) -> [Int] { blocks[b].terminator.successors }

    /// Blocks in reverse post-order from block 0 (unreachable blocks left out).
    func reversePostOrder() -> [Int] {
        var seen = [Bool](repeating: false, count: blocks.count)
        var order: [Int] = []
        var stack: [(Int, Int)] = [(0, 0)]
        seen[0] = true
        while let (b, i) = stack.last {
            let next = successors(b)
            if i < next.count {
                stack[stack.count - 1].1 += 1
                let s = next[i]
                if !seen[s] { seen[s] = true; stack.append((s, 0)) }
            } else {
                order.append(b)
                stack.removeLast()
            }
        }
        return order.reversed()
    }
}

/// An operand: a virtual register or a constant (64 bits; 32-bit operations use the low half).
enum OptValue: Hashable {
    case v(Int)
    case k(UInt64)

    var register: Int? { if case .v(let r) = self { r } else { nil } }
    var constant: UInt64? { if case .k(let c) = self { c } else { nil } }
}

/// Two-operand arithmetic.
enum OptALU: UInt8 {
    case add, sub, mul, div, sdiv, mod, smod, or, and, xor, shl, shr, sar

    var commutative: Bool { self == .add || self == .mul || self == .or || self == .and || self == .xor }
}

/// Branch conditions (unsigned unless `s`); `set` is `a & b != 0`.
enum OptCond: UInt8 {
    case eq, ne, gt, ge, lt, le, sgt, sge, slt, sle, set

    /// The condition of a conditional jump's opcode (`opcode & 0xf0`), as every back end reads it.
    init?(jumpOpcode opcode: UInt8) {
        switch opcode & 0xf0 {
        case 0x10: self = .eq
        case 0x20: self = .gt
        case 0x30: self = .ge
        case 0x40: self = .set
        case 0x50: self = .ne
        case 0x60: self = .sgt
        case 0x70: self = .sge
        case 0xa0: self = .lt
        case 0xb0: self = .le
        case 0xc0: self = .slt
        case 0xd0: self = .sle
        default: return nil
        }
    }

    /// The condition with its operands swapped.
    var swapped: OptCond {
        switch self {
        case .gt: .lt
        case .ge: .le
        case .lt: .gt
        case .le: .ge
        case .sgt: .slt
        case .sge: .sle
        case .slt: .sgt
        case .sle: .sge
        default: self
        }
    }

    func holds(_ a: UInt64, _ b: UInt64, w: Bool) -> Bool {
        let a = w ? a : a & 0xffff_ffff, b = w ? b : b & 0xffff_ffff
        let sa = w ? Int64(bitPattern: a) : Int64(Int32(truncatingIfNeeded: a)), sb = w ? Int64(bitPattern: b) : Int64(Int32(truncatingIfNeeded: b))
        switch self {
        case .eq: return a == b
        case .ne: return a != b
        case .gt: return a > b
        case .ge: return a >= b
        case .lt: return a < b
        case .le: return a <= b
        case .sgt: return sa > sb
        case .sge: return sa >= sb
        case .slt: return sa < sb
        case .sle: return sa <= sb
        case .set: return a & b != 0
        }
    }
}

/// One operation. `args` are its operands in order; `dst` the register it defines (-1: none).
struct OptOp {
    enum Kind {
        /// dst = a (the low 32 bits, zero-extended, when `!w`).
        case mov
        /// dst = a op b.
        case alu(OptALU)
        /// dst = -a.
        case neg
        /// dst = the low `bits` of a, sign- or zero-extended to 64 (to 32 then zero-extended when `!w`).
        case extend(bits: Int, signed: Bool)
        /// dst = a with its low `bits` bytes reversed (zero-extended).
        case swap(bits: Int)
        /// dst = cond(a, b) ? c : d — a select, emitted as `cmov`.
        case select(OptCond, cmpW: Bool)
        /// dst = `size` bytes at a + offset.
        case load(size: Int, signed: Bool)
        /// `size` bytes at a + offset = b.
        case store(size: Int)
        /// An atomic operation (`imm` of the eBPF instruction) on `size` bytes at a + offset with
        /// operand b; a fetch writes dst, `cmpxchg` also reads c (r0).
        case atomic(size: Int, op: Int32)
        /// dst = bpf_map_lookup_elem on an array map, inline: a is the key's address.
        case arrayLookup(JITArrayMap)
        /// dst = function(object, a, b, c): a direct call into a map.
        case directCall(function: UInt64, object: UInt64)
        /// The run-time service for eBPF instruction `pc` (a helper call, a legacy packet load, an
        /// error): `args[i]` is stored as eBPF register `reads[i]`, and `writes` are read back.
        case service
        /// Zero the 512-byte stack frame below a (unverified code's frames start zeroed).
        case zeroFrame
    }

    var kind: Kind
    var dst: Int = -1
    var args: [OptValue] = []
    /// 64-bit (ALU64, or the width of loads and stores' address arithmetic).
    var w = true
    var offset: Int32 = 0
    /// The eBPF instruction this came from (errors, the service).
    var pc: Int
    /// Unverified access: checked against the run's regions at run time.
    var checked = false
    /// A 32-bit load that may read a converted context field (`xdp_md.data`, ...).
    var mayBeVirtual = false
    /// For `service`: the eBPF registers the arguments stand for, and the registers read back.
    var reads: [UInt8] = []
    var writes: [(reg: UInt8, vreg: Int)] = []
    /// For loads and fetching atomics: the eBPF register the service writes when it does the access.
    var serviceDst: UInt8 = 0
    /// An access at a constant offset inside the stack frame.
    var onStack = false
    /// A load or store whose address is `args[0] + index + offset`, the index register being its last
    /// argument (``OptPasses/foldAddresses(_:)``; only unchecked accesses).
    var indexed = false

    /// The index register of an indexed access.
    var index: OptValue? { indexed ? args.last : nil }

    /// Whether removing the operation when its result is unused changes nothing else.
    var isPure: Bool {
        switch kind {
        case .mov, .alu, .neg, .extend, .swap, .select: true
        case .load: !checked && !mayBeVirtual
        default: false
        }
    }

    /// Registers defined.
    var defs: [Int] {
        var d = dst >= 0 ? [dst] : []
        for w in writes { d.append(w.vreg) }
        return d
    }
}

/// How a block ends.
enum OptTerminator {
    case jump(Int)
    case branch(OptCond, w: Bool, OptValue, OptValue, then: Int, else: Int)
    /// A dense switch: `targets[index]` when index (unsigned, 32- or 64-bit) is below the count, else `otherwise`.
    case table(OptValue, w: Bool, targets: [Int], otherwise: Int)
    /// The program ends with r0 = the value.
    case exit(OptValue)
    /// An error for eBPF instruction `pc`, raised by the service (running off the end).
    case fail(pc: Int)

    var successors: [Int] {
        switch self {
        case .jump(let t): [t]
        case let .branch(_, _, _, _, t, e): [t, e]
        case let .table(_, _, targets, otherwise): Array(Set(targets + [otherwise])).sorted()
        case .exit, .fail: []
        }
    }

    var uses: [OptValue] {
        switch self {
        case let .branch(_, _, a, b, _, _): [a, b]
        case let .table(v, _, _, _): [v]
        case .exit(let v): [v]
        default: []
        }
    }
}

struct OptBlock {
    var ops: [OptOp] = []
    var terminator: OptTerminator = .fail(pc: 0)
    /// The eBPF instruction of the terminator (budget stubs of unverified loops).
    var terminatorPC = 0
}
