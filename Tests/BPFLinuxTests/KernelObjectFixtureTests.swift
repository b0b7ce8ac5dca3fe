import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// Every program of every fixture object, loaded into the running kernel with its maps.
@Suite(.requires(Kernel.bpf))
struct KernelObjectFixtureTests {
    static let fixtures = ["contexts", "dynptrs", "global_data", "kfuncs", "helpers_misc", "legacy_maps", "license_version", "maps_all",
                           "maps_hash_array", "subprograms", "tail_calls", "tc_skb", "trace_getppid", "tracing", "xdp_packets"]

    /// Programs written to be refused by a verifier (see Tests/Fixtures/bpf/README.md): the kernel must say EACCES.
    static let refusedByDesign: Set<String> = [
        "contexts/tc_write_len", "contexts/tc_write_past", "contexts/tc_write_data", "contexts/socket_data",
        "contexts/cg_write_pkt", "contexts/tp_write_ctx",
    ]

    /// Programs the kernel refuses for a reason of its own, with the errno it gives.
    /// (None: misc_for_each, refused for a loop counter on the stack, keeps it in a register now.)
    static let refusedByTheKernel: [String: (Errno, String)] = [:]

    /// Programs attached by BTF to kernel functions, which some kernels refuse to load (fentry/fexit
    /// under lockdown, LSM programs without the BPF LSM): each has its own test below, skipped where
    /// the kernel does not attach that kind (probed).
    static let btfAttached: [String: KernelFeatures.Attachment] = [
        "tracing/fentry_unlinkat": .fentry, "tracing/fexit_unlinkat": .fexit, "tracing/lsm_file_open": .lsm,
    ]

    static func object(_ name: String) throws -> ObjectFile {
        try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/\(name).o"))
    }

    @Test(arguments: fixtures)
    func everyProgramLoads(_ fixture: String) throws {
        let object = try Self.object(fixture)
        for program in object.programs where Self.btfAttached["\(fixture)/\(program.name)"] == nil {
            let id = "\(fixture)/\(program.name)"
            var options = KernelLoadOptions()
            options.programs = [program.name]
            do {
                let loaded = try KernelObject(object, options: options)
                let kernelProgram = try #require(loaded.program(named: program.name))
                #expect(!Self.refusedByDesign.contains(id), "\(id) should have been refused")
                #expect(Self.refusedByTheKernel[id] == nil, "\(id) loaded, though this kernel refused it before")
                #expect(try kernelProgram.info().type == program.type)
                #expect(loaded.maps.count == object.maps.count)
                #expect(loaded.warnings.isEmpty, "\(id): \(loaded.warnings)")
            } catch let error as BPFError {
                if Self.refusedByDesign.contains(id) {
                    #expect(error.errno == .EACCES, "\(id): \(error)")
                    #expect(error.verifierLog?.isEmpty == false)
                    #expect(error.description.contains("program '\(program.name)' (section '\(program.section)')"))
                } else if let expected = Self.refusedByTheKernel[id] {
                    #expect(error.errno == expected.0 && error.description.contains(expected.1), "\(id): \(error)")
                } else if let missing = KernelFeatures.unavailableHelpers(in: program).first {
                    // A helper this kernel's build leaves out (probed): the refusal must name it.
                    #expect(error.description.contains(HelperPrototype[missing]?.name ?? "\(missing)"), "\(id): \(error)")
                } else {
                    Issue.record("\(id) was refused: \(error)")
                }
            }
        }
    }

    /// Loads `program` of the tracing fixture alone; it must load and keep its type.
    func loadsTracingProgram(_ program: String) throws {
        let object = try Self.object("tracing")
        #expect(Self.btfAttached["tracing/\(program)"] != nil)
        var options = KernelLoadOptions()
        options.programs = [program]
        let loaded = try KernelObject(object, options: options)
        let kernelProgram = try #require(loaded.program(named: program))
        let spec = try #require(object.programs.first { $0.name == program })
        #expect(try kernelProgram.info().type == spec.type)
        #expect(loaded.warnings.isEmpty, "\(program): \(loaded.warnings)")
    }

    @Test(.requires(Kernel.attaches(.fentry))) func fentryFixtureLoads() throws { try loadsTracingProgram("fentry_unlinkat") }
    @Test(.requires(Kernel.attaches(.fexit))) func fexitFixtureLoads() throws { try loadsTracingProgram("fexit_unlinkat") }
    @Test(.requires(Kernel.attaches(.lsm))) func lsmFixtureLoads() throws { try loadsTracingProgram("lsm_file_open") }

    @Test func globalDataIsFilledAndRodataFrozen() throws {
        let loaded = try KernelObject(try Self.object("global_data"))
        let program = try #require(loaded.program(named: "global_update"))
        #expect(try program.testRun(data: [UInt8](repeating: 0, count: 60)).returnValue == 2)
        let data = try #require(try loaded.map(named: ".data")?.lookup(key: [0, 0, 0, 0]))
        #expect(data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } == 105)
        let rodata = try #require(loaded.map(named: ".rodata"))
        let error = #expect(throws: BPFError.self) { try rodata.update(key: [0, 0, 0, 0], value: [UInt8](repeating: 0, count: rodata.valueSize)) }
        #expect(error?.errno == .EPERM, "a frozen map refuses writes from user space")
        // .kconfig: LINUX_KERNEL_VERSION of the running kernel reached the program.
        let bss = try #require(try loaded.map(named: ".bss")?.lookup(key: [0, 0, 0, 0]))
        let btf = try #require(loaded.object.btf)
        func bssU32(_ name: String) throws -> UInt32 {
            let section = try #require(btf.typeID(named: ".bss", kind: .dataSection).flatMap { btf[$0] })
            guard case let .variables(vars) = section.detail,
                  let v = vars.first(where: { btf[$0.type]?.name == name }) else { throw CocoaError(.coderValueNotFound) }
            return bss.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: v.offset, as: UInt32.self) }
        }
        #expect(try bssU32("kernel_major") == KernelConfig.runningVersionCode >> 16)
        #expect(try bssU32("kernel_minor") == (KernelConfig.runningVersionCode >> 8) & 0xff)
        #expect(try bssU32("tag_len") == 5)
    }

    @Test func programArraysAndMapsOfMapsArePopulated() throws {
        let tails = try KernelObject(try Self.object("tail_calls"))
        #expect(try tails.program(named: "tail_entry")!.testRun(data: [UInt8](repeating: 0, count: 60)).returnValue == 1)
        #expect(try tails.map(named: "visits")!.entries(as: UInt32.self, UInt64.self).map(\.value) == [1, 1, 1, 1])
        var options = KernelLoadOptions()
        options.programs = ["maps_in_maps"]
        let maps = try KernelObject(try Self.object("maps_all"), options: options)
        #expect(try maps.program(named: "maps_in_maps")!.testRun(data: [UInt8](repeating: 0, count: 60)).returnValue == 2)
        #expect(try maps.map(named: "inner_a")!.lookup(key: UInt32(0), as: UInt32.self) == 1)
    }

    @Test func errorsNameTheProgramAndTheMap() throws {
        var options = KernelLoadOptions()
        options.programs = ["tc_write_len"]
        let error = #expect(throws: BPFError.self) { try KernelObject(try Self.object("contexts"), options: options) }
        #expect(error?.description.contains("program 'tc_write_len' (section 'tc')") == true)
        #expect(error?.description.contains("contexts.c:141") == true, "the verifier log has the C line from our line info")
    }

    @Test func refusedProgramsAreListedWhenAskedToContinue() throws {
        let object = try Self.object("contexts")
        let refusedHere = Set(Self.refusedByDesign.filter { $0.hasPrefix("contexts/") }.map { String($0.dropFirst("contexts/".count)) })
        #expect(refusedHere.count >= 2 && refusedHere.count < object.programs.count, "the fixture mixes refused and accepted programs")
        #expect(throws: BPFError.self, "without the option the first refusal fails the load") { try KernelObject(object) }

        var options = KernelLoadOptions()
        options.continueAfterRefusal = true
        let loaded = try KernelObject(object, options: options)
        #expect(Set(loaded.refusedPrograms.keys) == refusedHere)
        #expect(Set(loaded.programs.keys) == Set(object.programs.map(\.name)).subtracting(refusedHere))
        for (name, error) in loaded.refusedPrograms {
            #expect(error.errno == .EACCES, "\(name): \(error)")
            #expect(error.verifierLog?.isEmpty == false, "\(name): the refusal carries the verifier log")
            #expect(error.description.contains("program '\(name)'"))
        }
        // The accepted programs work: sys_double doubles a into b and returns a + 1.
        let context = [UInt32(20), 0].flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } }
        let run = try #require(loaded.program(named: "sys_double")).testRun(context: context)
        #expect(run.returnValue == 21)
        #expect(run.contextOut.suffix(4) == [40, 0, 0, 0])
    }

    @Test func aProgramArraySlotOfARefusedProgramStaysEmpty() throws {
        let assembler = Assembler()
        let good = ProgramSpec(name: "good", section: "xdp", type: .xdp, attachType: .xdp, instructions: try assembler.assemble("mov %r0, 2\nexit"))
        let bad = ProgramSpec(name: "bad", section: "xdp", type: .xdp, attachType: .xdp, instructions: try assembler.assemble("exit"))
        var jumps = MapSpec(name: "jumps", type: .programArray, keySize: 4, valueSize: 4, maxEntries: 2)
        jumps.initialReferences = [0: "good", 1: "bad"]
        let object = ObjectFile(programs: [good, bad], maps: [jumps])
        #expect(throws: BPFError.self) { try KernelObject(object) }

        var options = KernelLoadOptions()
        options.continueAfterRefusal = true
        let loaded = try KernelObject(object, options: options)
        #expect(Set(loaded.programs.keys) == ["good"])
        #expect(loaded.refusedPrograms["bad"]?.verifierLog?.contains("R0 !read_ok") == true, "\(String(describing: loaded.refusedPrograms["bad"]))")
        #expect(loaded.warnings.contains { $0.contains("slot 1") && $0.contains("'bad' was refused") }, "\(loaded.warnings)")
        let slots = try #require(loaded.map(named: "jumps"))
        #expect(try slots.lookup(key: UInt32(0), as: UInt32.self) != nil, "the accepted program's slot is filled")
        #expect(try slots.lookup(key: UInt32(1), as: UInt32.self) == nil, "the refused program's slot is empty")
    }

    @Test func verifierLogAndLogSizeReachTheLoadedProgram() throws {
        var options = KernelLoadOptions()
        options.programs = ["global_update"]
        options.logLevel = 1 | 4
        options.logSize = 1 << 20
        let loaded = try KernelObject(try Self.object("global_data"), options: options)
        let log = try #require(loaded.program(named: "global_update")?.verifierLog)
        #expect(log.contains("verification time"), "BPF_LOG_STATS prints the kernel's time: \(log.suffix(200))")
        #expect(log.contains("processed "))
    }

    @Test func btfIsUploadedAndMapsCarryTypes() throws {
        let loaded = try KernelObject(try Self.object("maps_hash_array"))
        let btf = try #require(loaded.btf)
        let info = try btf.info()
        #expect(info.id > 0 && !info.isKernel)
        #expect(try KernelBTF.ids().contains(info.id))
        #expect(try KernelBTF.open(id: info.id).bytes().count == info.size)
        #expect(try loaded.map(named: "proto_packets")!.info().btfID == info.id)
    }
}
