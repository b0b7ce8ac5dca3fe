import BPFObject
import CBPFLinuxSupport
import Foundation
import Synchronization

/// How `attachUSDT` places its uprobes.
public enum USDTAttachMode: String, Sendable, Hashable, CaseIterable {
    /// One uprobe-multi link where the kernel takes it (6.6 and newer, and the program was loaded
    /// with `BPF_TRACE_UPROBE_MULTI`, as the loader loads `usdt` programs there); otherwise one
    /// uprobe perf event and link per probe site.
    case automatic
    /// One `BPF_LINK_CREATE` with `BPF_TRACE_UPROBE_MULTI` for every site.
    case multiLink = "multi"
    /// One uprobe perf event (with a BPF cookie) per site.
    case perProbe = "per-probe"
}

/// USDT attachment: the probes of a binary found in its `.note.stapsdt` notes, their argument specs
/// written to the object's `__bpf_usdt_specs` map (and, where the run-time address is known, their
/// addresses to `__bpf_usdt_ip_to_spec_id`), as libbpf's `usdt.bpf.h` reads them.
public enum USDTAttach {
    /// The map of specs `usdt.bpf.h` declares (an array, spec id → `struct __bpf_usdt_spec`).
    public static let specsMap = "__bpf_usdt_specs"
    /// The map of run-time addresses to spec ids `usdt.bpf.h` declares (a hash, for kernels without cookies).
    public static let ipToSpecIDMap = "__bpf_usdt_ip_to_spec_id"

    /// Whether the running kernel gives uprobe programs their BPF cookie (Linux 5.15): then a spec
    /// id travels as the cookie and `LINUX_HAS_BPF_COOKIE` is true.
    public static var kernelHasBPFCookies: Bool { KernelConfig.runningVersionCode >= 0x05_0f_00 }

    /// The spec ids in use, by the kernel id of the specs map: several links (of one object, or of
    /// programs sharing the map) must not overwrite each other's specs.
    static let usedSpecIDs = Mutex<[UInt32: Set<Int>]>([:])

    /// `count` free ids below `capacity` in the map with kernel id `map`, marked used; nil when too few are free.
    static func allocateSpecIDs(_ count: Int, map: UInt32, capacity: Int) -> [Int]? {
        usedSpecIDs.withLock { used in
            var taken = used[map] ?? []
            var ids: [Int] = []
            var next = 0
            while ids.count < count && next < capacity {
                if !taken.contains(next) { ids.append(next) }
                next += 1
            }
            guard ids.count == count else { return nil }
            taken.formUnion(ids)
            used[map] = taken
            return ids
        }
    }

    static func releaseSpecIDs(_ ids: [Int], map: UInt32) {
        usedSpecIDs.withLock { used in
            used[map]?.subtract(ids)
        }
    }

    /// The binary's path: `binary` itself when it names a path, else the library of that name mapped
    /// into `pid` (or this process).
    static func resolve(_ binary: String, pid: Int32?) throws(BPFError) -> String {
        guard !binary.contains("/") else { return binary }
        guard let found = UprobeTarget.libraryPath(binary, pid: pid) else {
            throw BPFError(command: nil, errno: .ENOENT, message: "usdt: '\(binary)' is not a path and no library of that name is mapped into \(pid.map { "process \($0)" } ?? "this process")")
        }
        return found
    }

    /// The probes `provider:name` of the binary at `path`.
    public static func probes(in path: String, provider: String, name: String) throws(BPFError) -> (USDTBinary, [USDTProbe]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BPFError(command: nil, errno: .ENOENT, message: "usdt: cannot read \(path)")
        }
        let binary: USDTBinary
        do { binary = try USDTBinary(bytes: [UInt8](data), path: path) } catch {
            throw BPFError.invalidArgument("usdt: \(error)")
        }
        let probes = binary.probes(provider: provider, name: name)
        guard !probes.isEmpty else {
            let names = Set(binary.probes.map(\.qualifiedName)).sorted()
            throw BPFError(command: nil, errno: .ENOENT,
                           message: "usdt: \(path) has no probe \(provider):\(name) "
                               + (names.isEmpty ? "(it has no .note.stapsdt probes)" : "(its probes: \(names.joined(separator: ", ")))"))
        }
        return (binary, probes)
    }

    /// Where file offset `offset` of `path` is mapped in process `pid`, from /proc/PID/maps; nil
    /// when the file is not mapped there.
    static func runtimeAddress(ofFileOffset offset: UInt64, path: String, pid: Int32) -> UInt64? {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard let maps = readSmallFile("/proc/\(pid)/maps", limit: 16 << 20) else { return nil }
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, fields[5].trimmingCharacters(in: .whitespaces) == real,
                  fields[1].contains("x") else { continue }
            let range = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
            guard range.count == 2, let fileOffset = UInt64(fields[2], radix: 16) else { continue }
            if offset >= fileOffset && offset - fileOffset < range[1] - range[0] {
                return range[0] + (offset - fileOffset)
            }
        }
        return nil
    }
}

extension KernelProgram {
    /// Attaches this program (a `usdt` program: a kprobe-type program reading its arguments through
    /// libbpf's `usdt.bpf.h`, or any reader of the same maps) to every site of USDT probe
    /// `provider:name` in `binary` (an executable or shared library; a bare library name is looked up
    /// in the process's mappings). Each site's argument spec goes into `specs` (the object's
    /// `__bpf_usdt_specs`) under a spec id the uprobe carries as its BPF cookie; where a site's run-time
    /// address is known (a non-PIE executable, or any binary with `pid`) it also goes into
    /// `ipToSpecID` (`__bpf_usdt_ip_to_spec_id`), which kernels without cookies need. Semaphores are
    /// counted by the kernel (`ref_ctr_offset`). `pid` limits it to one process; `cookie` is what the
    /// program's `bpf_usdt_cookie()` returns. Releasing the link detaches and frees the spec ids.
    ///
    /// ```swift
    /// let link = try program.attachUSDT(binary: "/usr/bin/app", provider: "app", name: "request",
    ///                                   specs: loaded.map(named: "__bpf_usdt_specs")!)
    /// ```
    public func attachUSDT(binary: String, provider: String, name: String, pid: Int32? = nil, cookie: UInt64 = 0,
                           specs: KernelMap, ipToSpecID: KernelMap? = nil, mode: USDTAttachMode = .automatic) throws(BPFError) -> KernelLink {
        let path = try USDTAttach.resolve(binary, pid: pid)
        let (file, probes) = try USDTAttach.probes(in: path, provider: provider, name: name)
        let what = "usdt \(path):\(provider):\(name)" + (pid.map { " pid \($0)" } ?? "")
        guard specs.type == .array, specs.keySize == 4, let layout = USDTSpec.Layout(valueSize: specs.valueSize) else {
            throw BPFError.invalidArgument("\(what): map '\(specs.name)' is not usdt.bpf.h's spec map (an array of \(USDTSpec.Layout.libbpf.size)- or \(USDTSpec.Layout.legacy.size)-byte specs; it is a \(specs.type) of \(specs.valueSize)-byte values)")
        }
        if let ipToSpecID, ipToSpecID.keySize != 8 || ipToSpecID.valueSize != 4 {
            throw BPFError.invalidArgument("\(what): map '\(ipToSpecID.name)' is not usdt.bpf.h's address map (8-byte keys, 4-byte values)")
        }

        // Each distinct spec once.
        var encoded: [[UInt8]] = []
        var specIndex: [Int] = []
        for probe in probes {
            let bytes: [UInt8]
            do {
                var spec = try probe.specification()
                spec.cookie = cookie
                bytes = try spec.encoded(layout: layout, probe: probe.qualifiedName)
            } catch {
                throw BPFError.invalidArgument("\(what): \(error) (site at file offset 0x\(String(probe.fileOffset, radix: 16)))")
            }
            if let existing = encoded.firstIndex(of: bytes) {
                specIndex.append(existing)
            } else {
                specIndex.append(encoded.count)
                encoded.append(bytes)
            }
        }
        let hasCookies = USDTAttach.kernelHasBPFCookies
        let addresses: [UInt64?] = probes.map { probe in
            if !file.isPositionIndependent { return probe.address }
            return pid.flatMap { USDTAttach.runtimeAddress(ofFileOffset: probe.fileOffset, path: path, pid: $0) }
        }
        if !hasCookies {
            guard ipToSpecID != nil else {
                throw BPFError.invalidArgument("\(what): this kernel has no BPF cookies, so the program finds a site's spec by its address: the '\(USDTAttach.ipToSpecIDMap)' map is needed")
            }
            guard addresses.allSatisfy({ $0 != nil }) else {
                throw BPFError.invalidArgument("\(what): this kernel has no BPF cookies, and the run-time addresses of a shared object's probes are known only for one process: give a pid")
            }
        }

        let mapID = try specs.info().id
        guard let ids = USDTAttach.allocateSpecIDs(encoded.count, map: mapID, capacity: specs.maxEntries) else {
            throw BPFError(command: nil, errno: .E2BIG, message: "\(what): \(encoded.count) more specs do not fit '\(specs.name)' (\(specs.maxEntries) entries; raise BPF_USDT_MAX_SPEC_CNT)")
        }
        var writtenAddresses: [UInt64] = []
        let cleanup: @Sendable ([UInt64]) -> Void = { written in
            USDTAttach.releaseSpecIDs(ids, map: mapID)
            for address in written { try? ipToSpecID?.delete(key: withUnsafeBytes(of: address.littleEndian) { Array($0) }) }
        }
        do throws(BPFError) {
            for (i, bytes) in encoded.enumerated() {
                try specs.update(key: withUnsafeBytes(of: UInt32(ids[i]).littleEndian) { Array($0) }, value: bytes)
            }
            if let ipToSpecID {
                for (i, address) in addresses.enumerated() {
                    guard let address else { continue }
                    try ipToSpecID.update(key: withUnsafeBytes(of: address.littleEndian) { Array($0) },
                                          value: withUnsafeBytes(of: UInt32(ids[specIndex[i]]).littleEndian) { Array($0) })
                    writtenAddresses.append(address)
                }
            }
            let cookies = specIndex.map { UInt64(ids[$0]) }
            let sites = "\(what) (\(probes.count) site\(probes.count == 1 ? "" : "s"))"
            let written = writtenAddresses
            let release: @Sendable () -> Void = { cleanup(written) }
            switch mode {
            case .multiLink:
                return try attachUprobeMulti(path: path, probes: probes, cookies: cookies, pid: pid, target: sites, release: release)
            case .perProbe:
                return try attachUprobesForUSDT(path: path, probes: probes, cookies: hasCookies ? cookies : nil, pid: pid, target: sites, release: release)
            case .automatic:
                if KernelObject.hasUprobeMultiLinks {
                    do { return try attachUprobeMulti(path: path, probes: probes, cookies: cookies, pid: pid, target: sites, release: release) } catch {
                        // Loaded without BPF_TRACE_UPROBE_MULTI (EINVAL), or no uprobe-multi links: per-probe uprobes.
                        guard error.errno == .EINVAL || error.errno == .EOPNOTSUPP || error.errno == .ENOSYS else { throw error }
                    }
                }
                return try attachUprobesForUSDT(path: path, probes: probes, cookies: hasCookies ? cookies : nil, pid: pid, target: sites, release: release)
            }
        } catch {
            cleanup(writtenAddresses)
            throw error
        }
    }

    /// One uprobe-multi link (`BPF_LINK_CREATE`, `BPF_TRACE_UPROBE_MULTI`) on every probe site.
    func attachUprobeMulti(path: String, probes: [USDTProbe], cookies: [UInt64], pid: Int32?, target: String,
                           release: @escaping @Sendable () -> Void) throws(BPFError) -> KernelLink {
        let offsets = probes.map(\.fileOffset)
        let semaphores = probes.map(\.semaphoreOffset)
        let hasSemaphores = semaphores.contains { $0 != 0 }
        var attr = cbpf_link_create_attr()
        attr.prog_fd = try fd.checked(.linkCreate)
        attr.attach_type = AttachType.traceUprobeMulti.rawValue
        attr.uprobe_multi.cnt = UInt32(probes.count)
        attr.uprobe_multi.pid = UInt32(bitPattern: pid ?? 0)
        let result: Result<BPFFileDescriptor, BPFError> = path.withCString { cPath in
            offsets.withUnsafeBufferPointer { offsets in
                semaphores.withUnsafeBufferPointer { semaphores in
                    cookies.withUnsafeBufferPointer { cookies in
                        attr.uprobe_multi.path = address(cPath)
                        attr.uprobe_multi.offsets = address(offsets.baseAddress)
                        attr.uprobe_multi.ref_ctr_offsets = hasSemaphores ? address(semaphores.baseAddress) : 0
                        attr.uprobe_multi.cookies = address(cookies.baseAddress)
                        do throws(BPFError) { return .success(try BPFSyscall.callReturningFD(.linkCreate, &attr)) } catch { return .failure(error) }
                    }
                }
            }
        }
        switch result {
        case .success(let link):
            return KernelLink(kind: .bpfLink, fd: link, target: target, release: release)
        case .failure(var error):
            error.message = "\(target): uprobe-multi link for program \(name): " + error.message
            if error.errno == .EINVAL { error.message += " (was the program loaded with expected attach type BPF_TRACE_UPROBE_MULTI?)" }
            throw error
        }
    }

    /// One uprobe perf event and link per probe site, each with its spec id as the BPF cookie (none
    /// on kernels without cookies), held together by one `KernelLink`.
    func attachUprobesForUSDT(path: String, probes: [USDTProbe], cookies: [UInt64]?, pid: Int32?, target: String,
                              release: @escaping @Sendable () -> Void) throws(BPFError) -> KernelLink {
        let pmu = try PerfEvent.dynamicPMUType("uprobe")
        let hasSemaphores = probes.contains { $0.semaphoreOffset != 0 }
        if hasSemaphores && !FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/uprobe/format/ref_ctr_offset") {
            throw BPFError(command: nil, errno: .EOPNOTSUPP, message: "\(target): the probe has a semaphore, and this kernel's uprobes cannot count it (no ref_ctr_offset, Linux 4.20)")
        }
        var links: [KernelLink] = []
        for (i, probe) in probes.enumerated() {
            let site = "uprobe \(path)+0x\(String(probe.fileOffset, radix: 16)) (\(probe.qualifiedName))" + (pid.map { " pid \($0)" } ?? "")
            // The uprobe PMU's config: ref_ctr_offset in bits 32-63.
            var attributes = PerfEvent.Attributes(type: pmu, config: probe.semaphoreOffset << 32)
            attributes.config1String = path
            attributes.config2 = probe.fileOffset
            do throws(BPFError) {
                let perf = try PerfEvent.open(attributes, pid: pid ?? -1, cpu: pid == nil ? 0 : -1, what: site)
                links.append(try PerfEvent.attach(self, to: perf, target: site, cookie: cookies?[i] ?? 0))
            } catch {
                for link in links { link.close() }
                throw error
            }
        }
        let held = links
        return KernelLink(kind: .perfEvent, fd: nil, target: target, release: {
            for link in held { link.close() }
            release()
        })
    }
}

extension KernelObject {
    /// Attaches program `program` of this object to USDT probe `provider:name` of `binary`, with
    /// the object's `__bpf_usdt_specs` and `__bpf_usdt_ip_to_spec_id` maps (see
    /// `KernelProgram.attachUSDT`).
    ///
    /// ```swift
    /// let link = try loaded.attachUSDT(program: "on_request", binary: "/usr/bin/app", provider: "app", name: "request")
    /// ```
    public func attachUSDT(program: String, binary: String, provider: String, name: String, pid: Int32? = nil,
                           cookie: UInt64 = 0, mode: USDTAttachMode = .automatic) throws(BPFError) -> KernelLink {
        guard let loaded = programs[program] else {
            throw BPFError.invalidArgument("usdt: no loaded program '\(program)' (programs: \(programs.keys.sorted().joined(separator: ", ")))")
        }
        guard let specs = map(named: USDTAttach.specsMap) else {
            throw BPFError.invalidArgument("usdt: program '\(program)': the object has no '\(USDTAttach.specsMap)' map (include usdt.bpf.h, or declare it as it does)")
        }
        return try loaded.attachUSDT(binary: binary, provider: provider, name: name, pid: pid, cookie: cookie,
                                     specs: specs, ipToSpecID: map(named: USDTAttach.ipToSpecIDMap), mode: mode)
    }
}

extension KernelProgram {
    /// The `__bpf_usdt_specs` and `__bpf_usdt_ip_to_spec_id` maps this program uses, found by the
    /// names the kernel holds (15 bytes: `__bpf_usdt_spec`, `__bpf_usdt_ip_t`); nil for one it does not use.
    public func usdtMaps() throws(BPFError) -> (specs: KernelMap?, ipToSpecID: KernelMap?) {
        var specs: KernelMap?, ips: KernelMap?
        for id in try mapIDs() {
            let map = try KernelMap.open(id: id)
            if USDTAttach.specsMap.hasPrefix(map.name), map.name.count >= 15 { specs = map }
            if USDTAttach.ipToSpecIDMap.hasPrefix(map.name), map.name.count >= 15 { ips = map }
        }
        return (specs, ips)
    }
}
