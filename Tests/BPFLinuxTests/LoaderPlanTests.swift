import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import CBPFLinuxSupport
import Foundation
import Synchronization
import Testing

/// A fake kernel for the loader: it records every `bpf(2)` call (decoding what the loader asked for)
/// and answers with fds of `/dev/null`, so `KernelObject` runs its whole plan without root.
final class FakeKernel: Sendable {
    enum Call: Equatable {
        case btfLoad(size: Int)
        case mapCreate(fd: Int32, name: String, type: UInt32, key: UInt32, value: UInt32, maxEntries: UInt32, flags: UInt32)
        case mapUpdate(fd: Int32, key: [UInt8], value: [UInt8])
        case mapFreeze(fd: Int32)
        case progLoad(type: UInt32, name: String, instructions: [Instruction])
        case other(BPFCommand)
    }

    /// A map type and a program type this fake kernel refuses with EINVAL, as a kernel without them does.
    let refusedMapType: UInt32?
    let refusedProgramType: UInt32?

    init(refusingMapType map: MapType? = nil, programType program: ProgramType? = nil) {
        refusedMapType = map?.rawValue
        refusedProgramType = program?.rawValue
    }

    private let calls = Mutex<[Call]>([])
    private let valueSizes = Mutex<[Int32: (key: Int, value: Int)]>([:])
    var recorded: [Call] { calls.withLock { $0 } }

    static func name(_ tuple: (CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar)) -> String {
        withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    var handler: BPFSyscall.Handler {
        { [self] command, attr in
            func newFD() -> Int64 { Int64(open("/dev/null", O_RDONLY)) }
            switch command {
            case .btfLoad:
                let a = attr.load(as: cbpf_btf_load_attr.self)
                calls.withLock { $0.append(.btfLoad(size: Int(a.btf_size))) }
                return newFD()
            case .mapCreate:
                let a = attr.load(as: cbpf_map_create_attr.self)
                if a.map_type == refusedMapType { return -22 }
                let fd = Int32(newFD())
                valueSizes.withLock { $0[fd] = (Int(a.key_size), Int(a.value_size)) }
                calls.withLock { $0.append(.mapCreate(fd: fd, name: Self.name(a.map_name), type: a.map_type, key: a.key_size,
                                                      value: a.value_size, maxEntries: a.max_entries, flags: a.map_flags)) }
                return Int64(fd)
            case .mapUpdateElem:
                let a = attr.load(as: cbpf_map_elem_attr.self)
                let fd = Int32(bitPattern: a.map_fd)
                let sizes = valueSizes.withLock { $0[fd] } ?? (key: 0, value: 0)
                let key = Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(a.key)), count: sizes.key))
                let value = Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(a.value)), count: sizes.value))
                calls.withLock { $0.append(.mapUpdate(fd: fd, key: key, value: value)) }
                return 0
            case .mapFreeze:
                let a = attr.load(as: cbpf_map_elem_attr.self)
                calls.withLock { $0.append(.mapFreeze(fd: Int32(bitPattern: a.map_fd))) }
                return 0
            case .progLoad:
                let a = attr.load(as: cbpf_prog_load_attr.self)
                if a.prog_type == refusedProgramType { return -22 }
                let raw = UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: UInt(a.insns)), count: Int(a.insn_cnt) * 8)
                let instructions = (0..<Int(a.insn_cnt)).map { Instruction(rawValue: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
                calls.withLock { $0.append(.progLoad(type: a.prog_type, name: Self.name(a.prog_name), instructions: instructions)) }
                return newFD()
            default:
                calls.withLock { $0.append(.other(command)) }
                return -22   // EINVAL: what this fake does not model
            }
        }
    }

    /// Runs `body` with this fake in place of the kernel.
    func run<T>(_ body: () throws -> T) rethrows -> T {
        try BPFSyscall.$handler.withValue(handler) { try body() }
    }
}

@Suite("The kernel loader's plan, against a fake kernel (no root)")
struct LoaderPlanTests {
    static func object(_ path: String) throws -> ObjectFile {
        try ObjectFile(bytes: TestPaths.bytes(path))
    }

    @Test("maps are created in the object's order with their definitions, global data filled and .rodata frozen before any program loads")
    func mapsThenPrograms() throws {
        var object = try Self.object("Tests/Fixtures/bpf/obj/facade.o")
        try object.setGlobal("target_pid", to: UInt32(0x0102_0304))
        let kernel = FakeKernel()
        let loaded = try kernel.run { try KernelObject(object) }
        let calls = kernel.recorded

        guard case .btfLoad(let size)? = calls.first else { Issue.record("the object's BTF is not loaded first: \(calls.first.map { "\($0)" } ?? "no calls")"); return }
        #expect(size > 0)
        let creates = calls.compactMap { call -> (fd: Int32, name: String, type: UInt32, key: UInt32, value: UInt32, max: UInt32, flags: UInt32)? in
            if case let .mapCreate(fd, name, type, key, value, max, flags) = call { return (fd, name, type, key, value, max, flags) }
            return nil
        }
        #expect(creates.map(\.name) == object.maps.map { KernelMap.sanitisedName($0.name) })
        for (create, spec) in zip(creates, object.maps) {
            #expect(create.type == spec.type.rawValue, "\(spec.name)")
            #expect(create.key == UInt32(spec.keySize) && create.value == UInt32(spec.valueSize), "\(spec.name)")
            if spec.type == .perfEventArray {
                #expect(create.max == UInt32(try PossibleCPUs.count), "perf event arrays get one slot per possible CPU")
            } else {
                #expect(create.max == UInt32(spec.maxEntries), "\(spec.name)")
            }
            if spec.isGlobalData { #expect(create.flags & KernelMap.Flag.mmapable != 0, "\(spec.name) is mmapable") }
            if spec.readOnly { #expect(create.flags & KernelMap.Flag.rdonlyProg != 0, "\(spec.name) is read-only to programs") }
        }

        let fdOf = Dictionary(uniqueKeysWithValues: zip(object.maps.map(\.name), creates.map(\.fd)))
        let rodata = try #require(fdOf[".rodata"])
        let firstProgram = try #require(calls.firstIndex { if case .progLoad = $0 { return true }; return false })
        // .rodata: filled with the value set on the ObjectFile, then frozen, before the programs.
        let rodataFill = try #require(calls.firstIndex { if case .mapUpdate(rodata, _, _) = $0 { return true }; return false })
        let freeze = try #require(calls.firstIndex(of: .mapFreeze(fd: rodata)))
        #expect(rodataFill < freeze && freeze < firstProgram)
        if case .mapUpdate(_, let key, let value) = calls[rodataFill] {
            #expect(key == [0, 0, 0, 0])
            let variable = try #require(object.global(named: "target_pid"))
            #expect(Array(value[variable.offset..<(variable.offset + 4)]) == [4, 3, 2, 1])
        }

        // Programs: their types, and every map reference resolved to the fd the loader created.
        let programs = calls.compactMap { call -> (type: UInt32, name: String, instructions: [Instruction])? in
            if case let .progLoad(type, name, instructions) = call { return (type, name, instructions) }
            return nil
        }
        #expect(Set(programs.map(\.name)) == ["on_getppid", "xdp_count"])
        #expect(programs.first { $0.name == "xdp_count" }?.type == ProgramType.xdp.rawValue)
        #expect(programs.first { $0.name == "on_getppid" }?.type == ProgramType.tracepoint.rawValue)
        for program in programs {
            let spec = try #require(object.program(named: program.name))
            var references = 0
            for (index, reference) in spec.references {
                guard case .map(let name) = reference else { continue }
                let instruction = program.instructions[index]
                #expect(instruction.opcode == 0x18, "\(program.name) insn \(index) is ld_imm64")
                #expect(instruction.imm == fdOf[name], "\(program.name) insn \(index) refers to map '\(name)'")
                #expect(instruction.src == 1 || instruction.src == 2, "BPF_PSEUDO_MAP_FD or MAP_VALUE")
                references += 1
            }
            #expect(references > 0)
        }
        #expect(loaded.programs.count == 2)
    }

    @Test("a map or program type the kernel lacks is named as such in the error (probed, not guessed)")
    func missingTypesAreNamed() throws {
        let object = try Self.object("Tests/Fixtures/bpf/obj/facade.o")
        let noRing = FakeKernel(refusingMapType: .ringBuffer)
        let mapError = #expect(throws: BPFError.self) { try noRing.run { _ = try KernelObject(object) } }
        #expect(mapError?.description.contains("this kernel does not create ringbuf maps (probed:") == true, "\(String(describing: mapError))")

        let noXDP = FakeKernel(programType: .xdp)
        let programError = #expect(throws: BPFError.self) { try noXDP.run { _ = try KernelObject(object) } }
        #expect(programError?.description.contains("program 'xdp_count'") == true)
        #expect(programError?.description.contains("this kernel does not load xdp programs (probed:") == true, "\(String(describing: programError))")
        // The real kernel's answers are not cached from a fake's.
        if BPFSyscall.probe() == nil { #expect(KernelFeatures.mapType(.ringBuffer) == .supported) }
    }

    @Test("CO-RE: field offsets, type sizes and enum values come from the target BTF, not the object's own layout",
          .requires(Availability(FileManager.default.isReadableFile(atPath: "/sys/kernel/btf/vmlinux"), else: "no readable /sys/kernel/btf/vmlinux")))
    func coreAgainstTargetBTF() throws {
        let object = try Self.object("Tests/Fixtures/bpf/kernel/core_task.o")
        let target = try BTF(fileBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: "/sys/kernel/btf/vmlinux"))))
        var options = KernelLoadOptions()
        options.targetBTF = target
        let kernel = FakeKernel()
        _ = try kernel.run { try KernelObject(object, options: options) }
        let program = try #require(kernel.recorded.compactMap { call -> [Instruction]? in
            if case .progLoad(_, _, let instructions) = call { return instructions }
            return nil
        }.first)

        let task = try #require(target.typeID(named: "task_struct", kind: .structure))
        guard case .members(let members) = try #require(target[task]).detail else { Issue.record("task_struct has no members"); return }
        let pid = try #require(members.first { $0.name == "pid" }).bitOffset / 8
        let tgid = try #require(members.first { $0.name == "tgid" }).bitOffset / 8
        let size = try target.size(of: task)
        let immediates = Set(program.map { Int64($0.imm) })
        let offsets = Set(program.map { Int($0.offset) })
        #expect(immediates.contains(Int64(size)), "sizeof(struct task_struct) = \(size) in the target")
        #expect(immediates.contains(Int64(pid)), "the offset of task_struct.pid, \(pid), as a value")
        #expect(immediates.contains(27), "BPF_MAP_TYPE_RINGBUF's value in the target")
        #expect(!immediates.contains(1000), "the object's own (flavor) enum value is replaced")
        // The flavor struct puts tgid at 4 locally; relocated, the read uses the target's offset.
        #expect(offsets.contains(tgid) || immediates.contains(Int64(tgid)), "task_struct.tgid at \(tgid)")
    }
}
