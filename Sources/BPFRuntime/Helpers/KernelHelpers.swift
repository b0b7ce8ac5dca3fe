import CBPFRuntimeSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The kernel helpers the Swift runtime provides, by their kernel ids and with kernel semantics.
public enum KernelHelperID {
    public static let mapLookupElem: Int32 = 1, mapUpdateElem: Int32 = 2, mapDeleteElem: Int32 = 3
    public static let ktimeGetNs: Int32 = 5, tracePrintk: Int32 = 6, traceVprintk: Int32 = 177, getPrandomU32: Int32 = 7
    public static let getSmpProcessorID: Int32 = 8, getCurrentPidTgid: Int32 = 14, getCurrentUidGid: Int32 = 15
    public static let getCurrentComm: Int32 = 16, getNumaNodeID: Int32 = 42, xdpAdjustHead: Int32 = 44
    public static let xdpAdjustMeta: Int32 = 54, xdpAdjustTail: Int32 = 65, jiffies64: Int32 = 118
    public static let ktimeGetBootNs: Int32 = 125, ktimeGetCoarseNs: Int32 = 160, ktimeGetTaiNs: Int32 = 208
    public static let tailCall: Int32 = 12, perfEventOutput: Int32 = 25
    public static let mapPushElem: Int32 = 87, mapPopElem: Int32 = 88, mapPeekElem: Int32 = 89
    public static let spinLock: Int32 = 93, spinUnlock: Int32 = 94
    public static let ringbufOutput: Int32 = 130, ringbufReserve: Int32 = 131, ringbufSubmit: Int32 = 132
    public static let ringbufDiscard: Int32 = 133, ringbufQuery: Int32 = 134
    public static let forEachMapElem: Int32 = 164, loop: Int32 = 181, mapLookupPercpuElem: Int32 = 195
    public static let dynptrFromMem: Int32 = 197, ringbufReserveDynptr: Int32 = 198, ringbufSubmitDynptr: Int32 = 199
    public static let ringbufDiscardDynptr: Int32 = 200, dynptrRead: Int32 = 201, dynptrWrite: Int32 = 202, dynptrData: Int32 = 203
    public static let kptrXchg: Int32 = 194
    public static let getCurrentTask: Int32 = 35
}

extension HelperRegistry {
    /// The kernel helpers available to programs loaded from objects.
    public static let kernel: HelperRegistry = {
        var registry = HelperRegistry()
        for helper in MapHelpers.all + EventHelpers.all + DynptrHelpers.all + ControlHelpers.all + TimeHelpers.all + ProcessHelpers.all
            + TraceHelpers.all + PacketHelpers.all + SKBHelpers.all + NetHelpers.all + MiscHelpers.all + GraphKfuncs.helpers
            + TimerHelpers.all + SyncookieHelpers.all {
            registry.register(helper)
        }
        RuntimeKfuncs.register(into: &registry)
        GraphKfuncs.register(into: &registry)
        NetKfuncs.register(into: &registry)
        ArenaKfuncs.register(into: &registry)
        return registry
    }()
}

/// Clocks and random numbers.
enum TimeHelpers {
    static func clock(_ id: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(id, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    static let all: [Helper] = [
        Helper(id: KernelHelperID.ktimeGetNs, name: "bpf_ktime_get_ns") { _ in clock(CLOCK_MONOTONIC) },
        Helper(id: KernelHelperID.ktimeGetBootNs, name: "bpf_ktime_get_boot_ns") { _ in clock(CLOCK_BOOTTIME) },
        Helper(id: KernelHelperID.ktimeGetCoarseNs, name: "bpf_ktime_get_coarse_ns") { _ in clock(CLOCK_MONOTONIC_COARSE) },
        Helper(id: KernelHelperID.ktimeGetTaiNs, name: "bpf_ktime_get_tai_ns") { _ in clock(CLOCK_TAI) },
        Helper(id: KernelHelperID.jiffies64, name: "bpf_jiffies64") { _ in clock(CLOCK_MONOTONIC_COARSE) / 4_000_000 },
        Helper(id: KernelHelperID.getPrandomU32, name: "bpf_get_prandom_u32") { _ in UInt64(UInt32.random(in: 0...UInt32.max)) },
        Helper(id: KernelHelperID.getSmpProcessorID, name: "bpf_get_smp_processor_id") { call in UInt64(call.cpu) },
        Helper(id: KernelHelperID.getNumaNodeID, name: "bpf_get_numa_node_id") { _ in 0 },
    ]
}

/// The identity of the host process, standing in for "current task".
enum ProcessHelpers {
    static let comm: [UInt8] = {
        var name = [UInt8](repeating: 0, count: 16)
        if let file = fopen("/proc/self/comm", "r") {
            defer { fclose(file) }
            var buffer = [CChar](repeating: 0, count: 64)
            if fgets(&buffer, 64, file) != nil {
                let bytes = buffer.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }
                for (i, b) in bytes.prefix(15).enumerated() { name[i] = b }
            }
        }
        return name
    }()

    static let all: [Helper] = [
        Helper(id: KernelHelperID.getCurrentPidTgid, name: "bpf_get_current_pid_tgid") { _ in
            UInt64(UInt32(getpid())) << 32 | UInt64(UInt32(truncatingIfNeeded: cbpf_thread_id()))
        },
        Helper(id: KernelHelperID.getCurrentUidGid, name: "bpf_get_current_uid_gid") { _ in
            UInt64(getgid()) << 32 | UInt64(getuid())
        },
        Helper(id: KernelHelperID.getCurrentComm, name: "bpf_get_current_comm") { call in
            let size = Int(call.argument(2))
            guard size > 0 else { return UInt64(bitPattern: -22) }
            var out = Array(comm.prefix(size))
            out += [UInt8](repeating: 0, count: size - out.count)
            out[size - 1] = 0
            try call.write(out, at: call.argument(1))
            return 0
        },
        // A Swift process has no kernel task_struct: the current task is 0, a pointer the program
        // may only pass to bpf_probe_read_kernel, which fails there with -EFAULT and a zeroed buffer,
        // as the kernel's does for an address nothing is mapped at.
        Helper(id: KernelHelperID.getCurrentTask, name: "bpf_get_current_task") { _ in 0 },
    ]
}

/// `bpf_trace_printk` with the kernel's format subset.
enum TraceHelpers {
    static let all: [Helper] = [
        Helper(id: KernelHelperID.tracePrintk, name: "bpf_trace_printk") { call in
            let size = Int(call.argument(2))
            guard size > 0, size <= 1024 else { return UInt64(bitPattern: -22) }
            let raw = try call.read(at: call.argument(1), size: size)
            let format = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            let text = try TraceFormat.render(format, arguments: [call.argument(3), call.argument(4), call.argument(5)], call: call)
            var line = text
            if line.hasSuffix("\n") { line.removeLast() }
            call.environment?.trace.append(line)
            return UInt64(text.utf8.count)
        },
        // bpf_trace_vprintk(fmt, fmt_size, data, data_len): the arguments as an array of u64, at most 12.
        Helper(id: KernelHelperID.traceVprintk, name: "bpf_trace_vprintk") { call in
            let size = Int(call.argument(2)), dataLength = Int(call.argument(4))
            guard size > 0, size <= 1024, dataLength % 8 == 0, dataLength <= 12 * 8,
                  dataLength == 0 || call.argument(3) != 0 else { return UInt64(bitPattern: -22) }
            let raw = try call.read(at: call.argument(1), size: size)
            let format = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            let data = dataLength == 0 ? [] : try call.read(at: call.argument(3), size: dataLength)
            let arguments = stride(from: 0, to: data.count, by: 8).map { o in
                (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[o + $1]) << (8 * UInt64($1)) }
            }
            let text = try TraceFormat.render(format, arguments: arguments, call: call)
            var line = text
            if line.hasSuffix("\n") { line.removeLast() }
            call.environment?.trace.append(line)
            return UInt64(text.utf8.count)
        },
    ]
}

/// The printf subset the kernel's trace_printk and snprintf accept: %d %i %u %x %X %c %s %p %%, with l/ll, width and `-`/`0`/`+`/space flags.
enum TraceFormat {
    static func render(_ format: String, arguments: [UInt64], call: borrowing HelperCall) throws(HelperError) -> String {
        var out = ""
        var chars = Array(format)
        var i = 0
        var next = 0
        while i < chars.count {
            let c = chars[i]
            guard c == "%" else { out.append(c); i += 1; continue }
            i += 1
            guard i < chars.count else { throw HelperError("format ends with '%'") }
            if chars[i] == "%" { out.append("%"); i += 1; continue }
            var leftAlign = false, zeroPad = false, width = 0, longs = 0, sign = ""
            while i < chars.count, "-0+ ".contains(chars[i]) {
                switch chars[i] {
                case "-": leftAlign = true
                case "0": zeroPad = true
                case "+": sign = "+"
                default: if sign.isEmpty { sign = " " }
                }
                i += 1
            }
            while i < chars.count, let d = chars[i].wholeNumberValue { width = width * 10 + d; i += 1 }
            while i < chars.count, chars[i] == "l" { longs += 1; i += 1 }
            guard i < chars.count else { throw HelperError("incomplete format specifier") }
            let conversion = chars[i]
            i += 1
            guard next < arguments.count else { throw HelperError("more format specifiers than the \(arguments.count) arguments given") }
            let raw = arguments[next]
            next += 1
            let value = longs == 0 && conversion != "p" && conversion != "s" ? raw & 0xffff_ffff : raw
            var text: String
            switch conversion {
            case "d", "i":
                text = longs == 0 ? String(Int32(truncatingIfNeeded: value)) : String(Int64(bitPattern: value))
                if !text.hasPrefix("-") { text = sign + text }
            case "u": text = String(value)
            case "x": text = String(value, radix: 16)
            case "X": text = String(value, radix: 16).uppercased()
            case "c": text = String(Character(Unicode.Scalar(UInt8(truncatingIfNeeded: value))))
            case "p": text = "0x" + String(value, radix: 16)
            case "s": text = (try? call.readString(at: raw, limit: 256)) ?? ""   // an unreadable string prints empty, as in the kernel
            default: throw HelperError("unsupported format specifier '%\(conversion)'")
            }
            if text.count < width {
                let pad = String(repeating: zeroPad && !leftAlign ? "0" : " ", count: width - text.count)
                text = leftAlign ? text + pad : pad + text
            }
            out += text
        }
        chars.removeAll()
        return out
    }
}

/// XDP packet reshaping: `bpf_xdp_adjust_head`, `bpf_xdp_adjust_tail`, `bpf_xdp_adjust_meta`.
enum PacketHelpers {
    static func adjust(_ call: borrowing HelperCall, _ body: (PacketBuffer, Int) -> Bool) -> UInt64 {
        guard let environment = call.environment, let packet = environment.packet, let context = environment.contextAddress else {
            return UInt64(bitPattern: -22)
        }
        let old = packet.region
        guard body(packet, Int(Int32(truncatingIfNeeded: call.argument(2)))) else { return UInt64(bitPattern: -22) }
        call.packetMoved(from: old, to: packet.region)
        call.setVirtualFields(XDPContext.virtualFields(context: context, packet: packet))
        return 0
    }

    static let all: [Helper] = [
        Helper(id: KernelHelperID.xdpAdjustHead, name: "bpf_xdp_adjust_head") { call in adjust(call) { $0.adjustHead($1) } },
        Helper(id: KernelHelperID.xdpAdjustTail, name: "bpf_xdp_adjust_tail") { call in adjust(call) { $0.adjustTail($1) } },
        Helper(id: KernelHelperID.xdpAdjustMeta, name: "bpf_xdp_adjust_meta") { call in adjust(call) { $0.adjustMeta($1) } },
    ]
}
