import BPFCore
import BPFObject
import BPFTestSupport
import Foundation
import Testing

@Suite("Object files: clang-built fixtures")
struct ObjectFileTests {
    @Test("every fixture loads and every program validates", arguments: Fixtures.names)
    func fixtureLoads(name: String) throws {
        let object = try Fixtures.object(name)
        #expect(!object.programs.isEmpty)
        #expect(object.license.hasPrefix("GPL"))
        for program in object.programs {
            #expect(throws: Never.self, "\(name)/\(program.name)") { _ = try Program(validating: program.instructions) }
        }
    }

    @Test("an object made in memory holds what it is given")
    func inMemoryObject() throws {
        let instructions = try Assembler().assemble("lddw %r1, map_fd 0\nmov %r0, 2\nexit")
        let program = ProgramSpec(name: "count", section: "xdp", type: .xdp, attachType: .xdp,
                                  instructions: instructions, references: [0: .map("counts")], license: "Dual MIT/GPL")
        let map = MapSpec(name: "counts", type: .array, keySize: 4, valueSize: 8, maxEntries: 4)
        let object = ObjectFile(programs: [program], maps: [map], license: "Dual MIT/GPL", kernelVersion: 0x60c00)
        #expect(object.program(named: "count")?.references == [0: .map("counts")])
        #expect(object.program(named: "count")?.instructions == instructions)
        #expect(object.program(named: "count")?.license == "Dual MIT/GPL")
        #expect(object.program(named: "count")?.attachTarget == "")
        #expect(object.map(named: "counts")?.maxEntries == 4)
        #expect(object.license == "Dual MIT/GPL" && object.kernelVersion == 0x60c00)
        #expect(object.btf == nil && object.kconfigExterns.isEmpty)
    }

    @Test("section names give program and attach types")
    func programTypes() throws {
        let tracing = try Fixtures.object("tracing")
        let expected: [String: (ProgramType, AttachType?)] = [
            "tp_openat": (.tracepoint, nil), "raw_tp_enter": (.rawTracepoint, nil), "kprobe_openat2": (.kprobe, nil),
            "kretprobe_openat2": (.kprobe, nil), "uprobe_event": (.kprobe, nil), "fentry_unlinkat": (.tracing, .traceFentry),
            "fexit_unlinkat": (.tracing, .traceFexit), "tp_btf_switch": (.tracing, .traceRawTp), "lsm_file_open": (.lsm, .lsmMac),
            "perf_sample": (.perfEvent, nil), "iter_task": (.tracing, .traceIter),
        ]
        for (name, (type, attach)) in expected {
            let program = try #require(tracing.program(named: name), "\(name)")
            #expect(program.type == type, "\(name)")
            #expect(program.attachType == attach, "\(name)")
        }
        #expect(tracing.program(named: "tp_openat")?.attachTarget == "syscalls/sys_enter_openat")
        #expect(tracing.program(named: "kretprobe_openat2")?.isReturnProbe == true)
        let tc = try Fixtures.object("tc_skb")
        #expect(tc.program(named: "tc_mark")?.type == .schedCls)
        #expect(tc.program(named: "socket_len")?.type == .socketFilter)
        #expect(tc.program(named: "cgroup_ingress")?.attachType == .cgroupInetIngress)
        #expect(try Fixtures.object("maps_hash_array").program(named: "count_by_proto")?.attachType == .xdp)
    }

    @Test("libbpf's optional targets and '?' (no autoload): tracepoint, raw_tp, kprobe alone; ?tc")
    func optionalTargets() {
        #expect(SectionKind(section: "tracepoint")?.type == .tracepoint)
        #expect(SectionKind(section: "raw_tp")?.type == .rawTracepoint)
        #expect(SectionKind(section: "kprobe")?.type == .kprobe)
        #expect(SectionKind(section: "fentry")?.attachType == .traceFentry)
        #expect(SectionKind(section: "?tc")?.type == .schedCls)
        #expect(SectionKind(section: "?tracepoint/syscalls/sys_enter_openat")?.attachTarget == "syscalls/sys_enter_openat")
        #expect(SectionKind(section: "tracepointless") == nil)
        // Sleepable uprobe-multi sections (libbpf's "uprobe.multi.s+").
        #expect(SectionKind(section: "uprobe.multi.s//bin/true:main")?.attachType == .traceUprobeMulti)
        #expect(SectionKind(section: "uretprobe.multi.s//bin/true:main")?.isReturnProbe == true)
        // Session probes (libbpf's "kprobe.session+", "uprobe.session+"): kprobe programs, their own attach types.
        #expect(SectionKind(section: "kprobe.session/bpf_fentry_test*")?.type == .kprobe)
        #expect(SectionKind(section: "kprobe.session/bpf_fentry_test*")?.attachType == .traceKprobeSession)
        #expect(SectionKind(section: "uprobe.session//bin/true:main")?.attachType == .traceUprobeSession)
        #expect(AttachType.traceKprobeSession.rawValue == 56 && AttachType.traceUprobeSession.rawValue == 57)
    }

    @Test("global functions of .text are entry points given a type; a static function in a program's section is part of it")
    func entryPoints() throws {
        var object = try Fixtures.object("entry_points")
        #expect(object.programs.map(\.name) == ["tail_stage", "with_static"])
        #expect(object.textFunctions.map(\.name) == ["classify"])
        let classify = try object.entryPoint(named: "classify", type: "sched_cls")
        #expect(classify.type == .schedCls && classify.section == ".text")
        #expect(throws: ObjectError.self) { try object.entryPoint(named: "half_len", type: "sched_cls") }
        // The tail-call section 2/1 takes the type of the object's entry program, as iproute2 loads it.
        #expect(object.program(named: "tail_stage")?.type == .schedCls)
        try object.setType("xdp", ofProgram: "tail_stage")
        #expect(object.program(named: "tail_stage")?.type == .xdp)
        try object.setType("sched_cls", ofProgram: "classify")
        #expect(object.program(named: "classify")?.type == .schedCls)
    }

    @Test("tail-call sections (ID/KEY) take the type their object's programs share, and only then")
    func tailCallSectionTypes() {
        func spec(_ name: String, _ section: String, _ type: ProgramType, _ attach: AttachType? = nil) -> ProgramSpec {
            ProgramSpec(name: name, section: section, type: type, attachType: attach, instructions: [])
        }
        #expect(ObjectFile.isTailCallSection("2/7") && ObjectFile.isTailCallSection("10/43"))
        #expect(!ObjectFile.isTailCallSection("2/") && !ObjectFile.isTailCallSection("prog") && !ObjectFile.isTailCallSection("1/2/3")
                && !ObjectFile.isTailCallSection("xdp/1"))
        let xdp = ObjectFile.typingTailCallSections([spec("entry", "xdp", .xdp, .xdp), spec("tail", "2/1", .unspecified),
                                                     spec("legacy", "prog", .unspecified)])
        #expect(xdp[1].type == .xdp && xdp[1].attachType == .xdp)
        #expect(xdp[2].type == .unspecified)   // not a tail-call section: still untyped
        let mixed = ObjectFile.typingTailCallSections([spec("a", "xdp", .xdp, .xdp), spec("b", "tc", .schedCls),
                                                       spec("tail", "2/1", .unspecified)])
        #expect(mixed[2].type == .unspecified)
        let alone = ObjectFile.typingTailCallSections([spec("tail", "2/1", .unspecified)])
        #expect(alone[0].type == .unspecified)
    }

    @Test("a map of maps in the legacy maps section names its inner template (iproute2's inner_id)")
    func legacyMapInMap() throws {
        let object = try Fixtures.object("legacy_map_in_map")
        let outer = try #require(object.map(named: "flows_outer"))
        #expect(outer.type == .arrayOfMaps)
        #expect(outer.innerMap?.spec.name == "flows_inner" && outer.innerMap?.spec.valueSize == 8)
        #expect(object.map(named: "flows_inner")?.innerMap == nil)
    }

    @Test("BTF-defined maps: type, sizes from BTF types, entries")
    func btfMaps() throws {
        let object = try Fixtures.object("maps_hash_array")
        let packets = try #require(object.map(named: "proto_packets"))
        #expect(packets.type == .hash)
        #expect(packets.keySize == 4 && packets.valueSize == 8)
        #expect(packets.keyType != nil)
        let total = try #require(object.map(named: "total_bytes"))
        #expect(total.type == .array)
        let all = try Fixtures.object("maps_all")
        let types = Set(all.maps.map(\.type))
        for type in [MapType.perCPUHash, .perCPUArray, .lruHash, .lruPerCPUHash, .lpmTrie, .queue, .stack, .ringBuffer,
                     .perfEventArray, .bloomFilter, .arrayOfMaps, .hashOfMaps, .programArray] {
            #expect(types.contains(type), "\(type)")
        }
        let outer = try #require(all.maps.first { $0.type == .arrayOfMaps })
        #expect(outer.innerMap != nil)
        #expect(!outer.initialReferences.isEmpty)
        let progArray = try #require(all.maps.first { $0.type == .programArray })
        #expect(!progArray.initialReferences.isEmpty)
        for name in progArray.initialReferences.values { #expect(all.program(named: name) != nil, "\(name)") }
    }

    @Test("global data sections become array maps with their initial bytes; .kconfig externs are found")
    func globalData() throws {
        let object = try Fixtures.object("global_data")
        for section in [".data", ".rodata", ".bss", ".data.custom"] {
            let map = try #require(object.map(named: section), "\(section)")
            #expect(map.type == .array && map.maxEntries == 1 && map.initialValue?.count == map.valueSize)
        }
        #expect(object.map(named: ".rodata")?.readOnly == true)
        #expect(object.map(named: ".bss")?.initialValue?.allSatisfy { $0 == 0 } == true)
        #expect(object.kconfigExterns["LINUX_KERNEL_VERSION"] != nil)
        let program = try #require(object.programs.first)
        let referenced = Set(program.references.values.compactMap { ref -> String? in
            if case let .mapValue(name, _) = ref { return name }
            return nil
        })
        #expect(referenced.contains(".data") && referenced.contains(".bss") && referenced.contains(".kconfig"))
    }

    @Test("legacy maps section")
    func legacyMaps() throws {
        let object = try Fixtures.object("legacy_maps")
        #expect(object.maps.contains { $0.origin == .legacy })
        let program = try #require(object.programs.first)
        #expect(program.references.values.contains { if case .map = $0 { return true } else { return false } })
    }

    @Test("subprograms in .text are appended to each program that calls them")
    func subprograms() throws {
        let object = try Fixtures.object("subprograms")
        for name in ["sub_xdp", "sub_tc"] {
            let program = try #require(object.program(named: name))
            let calls = program.instructions.enumerated().filter { $0.element.opcode == Opcode.call && $0.element.src == 1 }
            #expect(!calls.isEmpty, "\(name)")
            for (index, call) in calls {
                let target = index + 1 + Int(call.imm)
                #expect(target > 0 && target < program.instructions.count, "\(name): call at \(index) targets \(target)")
            }
        }
        #expect(object.programs.allSatisfy { $0.section != ".text" })
    }

    @Test("line info maps instructions to C source lines")
    func lineInfo() throws {
        let object = try Fixtures.object("maps_hash_array")
        let program = try #require(object.programs.first)
        #expect(!program.sourceLines.isEmpty)
        let line = try #require(program.sourceLine(at: program.instructions.count - 1))
        #expect(line.file.hasSuffix("maps_hash_array.c"))
        #expect(line.line > 0)
    }

    @Test("license and version sections")
    func licenseVersion() throws {
        let object = try Fixtures.object("license_version")
        #expect(object.license == "GPL")
        #expect(object.kernelVersion == 0x060c00)
    }
}

@Suite("Object files: bad input")
struct ObjectErrorTests {
    @Test("truncated, corrupt and foreign files give errors naming the place")
    func badInput() throws {
        let good = try Fixtures.bytes("maps_hash_array")
        #expect(throws: ObjectError.self) { try ObjectFile(bytes: Array(good.prefix(40))) }
        #expect(throws: ObjectError.self) { try ObjectFile(bytes: [0x7f, 0x45, 0x4c, 0x46] + [UInt8](repeating: 0, count: 60)) }
        var bigEndian = good
        bigEndian[5] = 2
        do { _ = try ObjectFile(bytes: bigEndian); Issue.record("big-endian accepted") } catch {
            #expect(error.description.contains("big-endian"))
        }
        var truncated = good
        truncated.removeLast(good.count / 3)
        #expect(throws: ObjectError.self) { try ObjectFile(bytes: truncated) }
    }

    @Test("randomly mutated fixtures never crash the loader")
    func mutations() throws {
        var rng = SplitMix(state: 0x0b1ec7)
        func next() -> UInt64 { rng.next() }
        var loaded = 0, refused = 0
        let rounds = Int(ProcessInfo.processInfo.environment["SWIFTBPF_FUZZ_ITERATIONS"] ?? "").map { max(1, $0 / 50) } ?? 60
        for name in Fixtures.names {
            let original = try Fixtures.bytes(name)
            for _ in 0..<rounds {
                var bytes = original
                for _ in 0..<Int(next() % 8 + 1) {
                    bytes[Int(next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: next())
                }
                if next() % 5 == 0 { bytes.removeLast(Int(next() % UInt64(bytes.count))) }
                do { _ = try ObjectFile(bytes: bytes); loaded += 1 } catch { refused += 1 }
            }
        }
        #expect(loaded + refused == Fixtures.names.count * rounds)
        #expect(refused > 0)
    }
}
