import ArgumentParser
import BPFCore
import BPFLinux
import BPFObject
import BPFRuntime
import Foundation
import SwiftBPF

extension Backend: ExpressibleByArgument {}

/// Options of `swiftbpf run` for ELF objects.
struct ObjectRunOptions: ParsableArguments {
    @Option(help: "The program to run (by function name).") var program: String?
    @Option(help: "Run the first program of this ELF section.") var section: String?
    @Option(help: "The packet as hex bytes.") var packetHex: String?
    @Option(help: "The packet from a file (raw bytes).") var packetFile: String?
    @Option(help: "Run every packet of a pcap or pcapng capture (Ethernet; raw IP and Linux cooked get a synthetic Ethernet header).") var pcap: String?
    @Option(help: "The context (struct xdp_md, struct __sk_buff, a tracepoint record, ...) from a file, in the kernel's UAPI layout.") var ctxFile: String?
    @Option(help: "Run each input this many times (for timing).") var `repeat`: Int = 1
    @Option(help: "With --pcap: write the packets of each verdict to DIR/<VERDICT>.pcap.") var writeVerdicts: String?
    @Option(help: "Where the program runs: runtime (the Swift interpreter) or kernel (BPF_PROG_TEST_RUN; needs root or CAP_BPF).") var backend: Backend = .runtime
    @Option(parsing: .upToNextOption, help: "A .kconfig value, NAME=VALUE: y, n, m, a number (decimal, 0x hex, 0 octal) or a \"string\", checked against the extern's type (e.g. LINUX_KERNEL_VERSION=0x60c00).") var kconfig: [String] = []
    @Option(help: "The program's type, for a section that names none or a global function of .text (sched_cls, socket_filter, xdp, ... or a section name); needs --program.")
    var type: String?
    @Option(parsing: .upToNextOption, help: "Size a map before it is created, NAME=N (for maps an object leaves at max_entries 0 for its loader to fill in).")
    var maxEntries: [String] = []
    @Option(help: "What runs the program: jit (the default on x86-64) or interpreter.") var engine: ExecutionEngine = .default
    @Flag(help: "Trusted code: do not verify the program first in the Swift runtime (its checks stay on).") var noVerify = false

    func validate() throws {
        // The kernel's test run counts in a u32 (bpf_attr.test.repeat); the runtime takes the same range.
        guard `repeat` >= 1 && `repeat` <= Int(UInt32.max) else {
            throw ValidationError("--repeat \(`repeat`): expected a count from 1 to \(UInt32.max)")
        }
    }
}

extension ExecutionEngine: ExpressibleByArgument {}

/// `swiftbpf run OBJ.o ...`: a test run of one program of an object in the Swift runtime or the kernel.
struct ObjectRun {
    var path: String
    var options: ObjectRunOptions
    var json: Bool

    static func isELF(path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data([0x7f, 0x45, 0x4c, 0x46])
    }

    func read(_ file: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read '\(file)'") }
        return [UInt8](data)
    }

    /// Runs the program and prints the results (unless `quiet`); returns the object for a map dump.
    @discardableResult
    func run(quiet: Bool = false) throws -> BPFCollection {
        var object: ObjectFile
        do { object = try ObjectFile(bytes: try read(path)) } catch let error as ObjectError { throw CLIError("\(path): \(error)") }
        guard !object.programs.isEmpty else { throw CLIError("\(path): the object has no programs") }
        let spec: ProgramSpec
        if let type = options.type {
            guard let name = options.program else { throw CLIError("--type \(type): name the program with --program") }
            do { try object.setType(type, ofProgram: name) } catch { throw CLIError("\(path): \(error)") }
        }
        if let name = options.program {
            guard let found = object.program(named: name) else {
                throw CLIError("\(path): no program '\(name)' (programs: \(object.programs.map(\.name).joined(separator: ", ")))")
            }
            spec = found
        } else if let section = options.section {
            guard let found = object.programs.first(where: { $0.section == section }) else {
                throw CLIError("\(path): no program in section '\(section)'")
            }
            spec = found
        } else if object.programs.count == 1 {
            spec = object.programs[0]
        } else {
            throw CLIError("\(path) has \(object.programs.count) programs; choose one with --program (\(object.programs.map(\.name).joined(separator: ", ")))")
        }
        let kconfig = try KconfigOption.values(options.kconfig, object: object)
        for entry in options.maxEntries {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let n = Int(parts[1]) else { throw CLIError("--max-entries \(entry): expected NAME=N") }
            do { try object.setMaxEntries(ofMap: parts[0], to: n) } catch { throw CLIError("--max-entries \(entry): \(error)") }
        }
        let loaded: BPFCollection
        do {
            loaded = try BPFCollection(object, backend: options.backend, programs: [spec.name], kconfig: kconfig, engine: options.engine,
                                       verification: options.noVerify ? .off : .strict)
        } catch {
            throw CLIError("\(path): \(error)")
        }
        let program = loaded.program(named: spec.name)!
        let context = try options.ctxFile.map(read)

        if let pcap = options.pcap {
            if RawContext.Rules(spec.type) != nil { throw CLIError("\(spec.name) is a \(spec.type) program: it takes no packets, only --ctx-file") }
            // Test runs take Ethernet frames: raw IP and Linux cooked captures get a synthetic Ethernet header.
            let capture: PacketCapture
            do {
                let file = try PacketCapture(bytes: try read(pcap))
                capture = PacketCapture(packets: try file.ethernetFrames(), linkType: PacketCapture.linkTypeEthernet)
            } catch let error as PacketCapture.FormatError {
                throw CLIError("\(pcap): \(error)")
            }
            var counts: [UInt64: Int] = [:]
            var byVerdict: [UInt64: [PacketCapture.Packet]] = [:]
            var totalNs = 0.0
            for (i, packet) in capture.packets.enumerated() {
                let result: TestRunResult
                do { result = try program.testRun(packet: packet.data, context: context, repeat: options.repeat) } catch {
                    throw CLIError("packet \(i + 1) of \(pcap): \(error)")
                }
                counts[result.returnValue, default: 0] += 1
                totalNs += result.nanosecondsPerRun
                var out = packet
                out.data = result.packetOut
                byVerdict[result.returnValue, default: []].append(out)
            }
            if let dir = options.writeVerdicts {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                for (verdict, packets) in byVerdict {
                    let file = URL(fileURLWithPath: dir).appendingPathComponent("\(verdictName(verdict, spec.type)).pcap")
                    try Data(PacketCapture(packets: packets, linkType: capture.linkType).pcapBytes()).write(to: file)
                }
            }
            let sorted = counts.sorted { $0.key < $1.key }
            let perRun = capture.packets.isEmpty ? 0 : totalNs / Double(capture.packets.count)
            if quiet { return loaded }
            if json {
                print(JSONOutput.object([
                    ("program", .string(spec.name)), ("packets", .number(UInt64(capture.packets.count))),
                    ("verdicts", .object(sorted.map { (verdictName($0.key, spec.type), .number(UInt64($0.value))) })),
                    ("ns_per_run", .double(perRun)),
                    ("maps", mapsJSON(loaded)),
                    ("section", .string(spec.section)), ("type", .string(spec.type.kernelName)),
                ]))
            } else {
                print("\(capture.packets.count) packets through \(spec.name) (\(spec.section)):")
                for (verdict, count) in sorted { print("  \(pad(verdictName(verdict, spec.type), 14)) \(count)") }
                print(String(format: "  %.1f ns per run", perRun))
                printMaps(loaded)
            }
            return loaded
        }

        var packet: [UInt8] = []
        if let hex = options.packetHex {
            do { packet = try Hex.bytes(hex) } catch { throw CLIError("--packet-hex: \(error)") }
        } else if let file = options.packetFile {
            packet = try read(file)
        } else if context == nil && RawContext.Rules(spec.type) == nil {
            throw CLIError("give the input: --packet-hex, --packet-file, --pcap or --ctx-file")
        }
        let result: TestRunResult
        do { result = try program.testRun(packet: packet, context: context, repeat: options.repeat) } catch { throw CLIError("\(error)") }
        if quiet { return loaded }
        if json {
            print(JSONOutput.object([
                ("program", .string(spec.name)), ("return", .number(result.returnValue)),
                ("packet_out", .string(Hex.string(result.packetOut, separator: ""))),
                ("ctx_out", .string(Hex.string(result.contextOut, separator: ""))),
                ("ns_per_run", .double(result.nanosecondsPerRun)),
                ("trace", .array(result.trace.map { .string($0) })),
                ("redirect", result.redirect.map { r in
                    .object([("helper", .string(r.helper)), ("ifindex", r.ifindex.map { .number(UInt64($0)) } ?? .null),
                             ("map", r.map.map { .string($0) } ?? .null), ("key", r.key.map { .number(UInt64($0)) } ?? .null),
                             ("flags", .number(r.flags))])
                } ?? .null),
                ("section", .string(spec.section)), ("type", .string(spec.type.kernelName)),
            ]))
        } else {
            print("\(spec.name) (\(spec.section)) returned \(result.returnValue) (\(verdictName(result.returnValue, spec.type)))")
            if RawContext.Rules(spec.type) != nil {
                print("context out: \(Hex.string(result.contextOut))")
            } else {
                print("packet out: \(Hex.string(result.packetOut))")
            }
            if let instructions = result.instructionsExecuted {
                print(String(format: "%.1f ns per run, %llu instructions", result.nanosecondsPerRun, instructions))
            } else {
                print(String(format: "%.1f ns per run (kernel)", result.nanosecondsPerRun))
            }
            if let redirect = result.redirect { print("redirect: \(redirect)") }
            for line in result.trace { print("trace: \(line)") }
            printMaps(loaded)
        }
        return loaded
    }

    /// Whether any input option asks for a run.
    var hasInput: Bool {
        options.packetHex != nil || options.packetFile != nil || options.pcap != nil || options.ctxFile != nil
    }

    func verdictName(_ value: UInt64, _ type: ProgramType) -> String {
        ProgramVerdict.name(value, for: type) ?? String(value)
    }

    func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }

    func printMaps(_ loaded: BPFCollection) { MapDump(collection: loaded).printText() }

    func mapsJSON(_ loaded: BPFCollection) -> JSONOutput { MapDump(collection: loaded).json() }
}

/// `--kconfig NAME=VALUE` entries, parsed strictly as libbpf reads a config file and checked against
/// the object's externs (see `KernelConfig.externValue`).
enum KconfigOption {
    static func values(_ entries: [String], object: ObjectFile) throws -> [String: [UInt8]] {
        var values: [String: [UInt8]] = [:]
        for entry in entries {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw CLIError("--kconfig \(entry): expected NAME=VALUE (y, n, m, a number or a \"string\")")
            }
            do { values[String(parts[0])] = try KernelConfig.externValue(String(parts[1]), name: String(parts[0]), object: object) } catch {
                throw CLIError("--kconfig \(entry): \(error)")
            }
        }
        return values
    }
}
