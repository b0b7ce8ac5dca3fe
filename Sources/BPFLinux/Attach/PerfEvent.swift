import BPFObject
import CBPFLinuxSupport
import Foundation

/// `perf_event_open(2)`, typed: the attr in, an owned fd out. Tracepoints, kprobes, uprobes, sampling
/// events and the BPF output event of perf buffers all start here.
///
/// ```swift
/// var attr = PerfEvent.Attributes(type: PerfEvent.typeSoftware, config: PerfEvent.softwareCPUClock)
/// attr.sampleFrequency = 99
/// let fd = try PerfEvent.open(attr, pid: -1, cpu: 0, what: "cpu-clock sampling")
/// ```
public enum PerfEvent {
    public static let typeHardware: UInt32 = 0
    public static let typeSoftware: UInt32 = 1
    public static let typeTracepoint: UInt32 = 2
    /// `PERF_COUNT_SW_CPU_CLOCK`.
    public static let softwareCPUClock: UInt64 = 0
    /// `PERF_COUNT_SW_BPF_OUTPUT`: the event perf buffers read.
    public static let softwareBPFOutput: UInt64 = 10
    /// `PERF_SAMPLE_RAW`.
    public static let sampleRaw: UInt64 = 1 << 10

    /// The fields of `struct perf_event_attr` SwiftBPF sets.
    public struct Attributes: Sendable, Hashable {
        public var type: UInt32
        public var config: UInt64
        /// Sample every N events, or (with `sampleFrequency`) N times a second.
        public var samplePeriod: UInt64 = 0
        public var sampleFrequency: UInt64? = nil
        public var sampleType: UInt64 = 0
        /// Wake the reader after this many events (or bytes with `watermark`).
        public var wakeupEvents: UInt32 = 0
        public var watermark = false
        public var disabled = false
        /// For kprobe/uprobe PMUs: the function name or binary path (config1) and offset (config2).
        public var config1String: String? = nil
        public var config2: UInt64 = 0

        public init(type: UInt32, config: UInt64) {
            self.type = type
            self.config = config
        }
    }

    /// Opens a perf event. `what` names it in errors.
    public static func open(_ attributes: Attributes, pid: Int32, cpu: Int32, groupFD: Int32 = -1, what: String) throws(BPFError) -> BPFFileDescriptor {
        var attr = cbpf_perf_event_attr()
        attr.type = attributes.type
        attr.config = attributes.config
        attr.sample_type = attributes.sampleType
        attr.wakeup_events = attributes.wakeupEvents
        var flags: UInt64 = 0
        if let frequency = attributes.sampleFrequency {
            attr.sample_period = frequency
            flags |= cbpf_perf_flag_freq
        } else {
            attr.sample_period = attributes.samplePeriod
        }
        if attributes.watermark { flags |= cbpf_perf_flag_watermark }
        if attributes.disabled { flags |= cbpf_perf_flag_disabled }
        attr.flags = flags
        attr.config2 = attributes.config2
        let result: Int32
        if let string = attributes.config1String {
            result = string.withCString { pointer in
                attr.config1 = address(pointer)
                return cbpf_perf_event_open(&attr, pid, cpu, groupFD, 0)
            }
        } else {
            result = cbpf_perf_event_open(&attr, pid, cpu, groupFD, 0)
        }
        guard result >= 0 else {
            throw BPFError.system("perf_event_open(\(what), pid \(pid), cpu \(cpu))", errno: -result, hint: hint(errno: -result))
        }
        return BPFFileDescriptor(adopting: result)
    }

    static func hint(errno: Int32) -> String {
        switch Errno(rawValue: errno) {
        case .EACCES, .EPERM: "needs root or CAP_PERFMON (see /proc/sys/kernel/perf_event_paranoid)"
        case .ENOENT: "no such event, function or symbol"
        case .ESRCH: "no such process"
        case .EINVAL: "the kernel refused the event's attributes (type, config, offset or sampling)"
        case .ENODEV, .EOPNOTSUPP: "this event type is not supported here"
        default: "the kernel returned \(Errno(rawValue: errno).name)"
        }
    }

    /// The type number of a dynamic PMU (`kprobe`, `uprobe`) from /sys/bus/event_source/devices.
    public static func dynamicPMUType(_ pmu: String) throws(BPFError) -> UInt32 {
        let path = "/sys/bus/event_source/devices/\(pmu)/type"
        guard let text = readSmallFile(path), let type = UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BPFError(command: nil, errno: .ENOENT, message: "\(path) is missing: this kernel has no \(pmu) PMU (CONFIG_\(pmu.uppercased())_EVENTS)")
        }
        return type
    }

    /// The config bit a dynamic PMU's `retprobe` format names (`config:0` → 1 << 0).
    static func returnProbeBit(_ pmu: String) throws(BPFError) -> UInt64 {
        let path = "/sys/bus/event_source/devices/\(pmu)/format/retprobe"
        guard let text = readSmallFile(path), let colon = text.firstIndex(of: ":"),
              let bit = UInt64(text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)), bit < 64 else {
            throw BPFError(command: nil, errno: .ENOENT, message: "\(path) is missing or unreadable: cannot make a return probe")
        }
        return 1 << bit
    }

    /// Attaches `program` to the perf event `perfFD`: a perf link (`BPF_LINK_CREATE`, `BPF_PERF_EVENT`)
    /// where the kernel has them, else `PERF_EVENT_IOC_SET_BPF`; then enables the event.
    static func attach(_ program: KernelProgram, to perfFD: BPFFileDescriptor, target: String, cookie: UInt64 = 0) throws(BPFError) -> KernelLink {
        let raw = Int32(bitPattern: try perfFD.checked())
        var attr = cbpf_link_create_attr()
        attr.prog_fd = try program.fd.checked(.linkCreate)
        attr.target_fd = UInt32(bitPattern: raw)
        attr.attach_type = AttachType.perfEvent.rawValue
        attr.perf_event.bpf_cookie = cookie
        do throws(BPFError) {
            let link = try BPFSyscall.callReturningFD(.linkCreate, &attr)
            let enabled = cbpf_ioctl(raw, cbpf_perf_ioc_enable, 0)
            guard enabled >= 0 else { throw BPFError.system("ioctl(PERF_EVENT_IOC_ENABLE) on \(target)", errno: -enabled) }
            return KernelLink(kind: .bpfLink, fd: link, target: target, retaining: [perfFD])
        } catch where error.errno == .EINVAL && cookie == 0 {
            // Older kernels (before 5.15) have no perf links: fall through to the ioctl.
        } catch {
            var failure = error
            failure.message = "\(target): program \(program.name) (\(program.type)): " + failure.message
            throw failure
        }
        let set = cbpf_ioctl(raw, cbpf_perf_ioc_set_bpf, UInt(try program.fd.checked()))
        guard set >= 0 else {
            throw BPFError.system("ioctl(PERF_EVENT_IOC_SET_BPF) on \(target) for program \(program.name) (\(program.type))", errno: -set,
                                  hint: "the program type must match the event (tracepoint, kprobe, perf_event)")
        }
        let enabled = cbpf_ioctl(raw, cbpf_perf_ioc_enable, 0)
        guard enabled >= 0 else { throw BPFError.system("ioctl(PERF_EVENT_IOC_ENABLE) on \(target)", errno: -enabled) }
        return KernelLink(kind: .perfEvent, fd: perfFD, target: target)
    }
}

/// A small text file (sysfs, tracefs, procfs), or nil when it cannot be read.
func readSmallFile(_ path: String, limit: Int = 1 << 20) -> String? {
    let fd = path.withCString { cbpf_open_readonly($0, 0) }
    guard fd >= 0 else { return nil }
    defer { _ = cbpf_close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while bytes.count < limit {
        let n = chunk.withUnsafeMutableBytes { cbpf_read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        bytes += chunk[..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The kernel's online CPUs (`/sys/devices/system/cpu/online`): per-CPU perf events open one per CPU.
///
/// ```swift
/// let cpus = try OnlineCPUs.list()   // [0, 1]
/// ```
public enum OnlineCPUs {
    /// The online CPUs' numbers, ascending.
    public static func list() throws(BPFError) -> [Int] {
        let path = "/sys/devices/system/cpu/online"
        guard let text = readSmallFile(path), let cpus = parse(text) else {
            throw BPFError.invalidArgument("cannot read or parse \(path)")
        }
        return cpus
    }

    /// Parses a CPU list like `0-3,5` into `[0, 1, 2, 3, 5]`.
    public static func parse(_ text: String) -> [Int]? {
        var cpus: [Int] = []
        for part in text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",") {
            let bounds = part.split(separator: "-")
            guard let first = bounds.first.flatMap({ Int($0) }), let last = bounds.last.flatMap({ Int($0) }),
                  bounds.count <= 2, first <= last else { return nil }
            cpus += first...last
        }
        return cpus.isEmpty ? nil : cpus
    }
}
