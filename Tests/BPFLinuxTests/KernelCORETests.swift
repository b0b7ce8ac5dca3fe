import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// The kernel's BTF, for the rootless CO-RE tests (skipped, saying so, where it is absent).
enum VMLinux {
    static let loaded = Result { () throws(BPFError) -> BTF in try KernelBTF.vmlinux() }
    static var btf: BTF? { try? loaded.get() }

    /// The kernel's BTF can be read; else why not.
    static var availability: Availability {
        if case .failure(let error) = loaded { return .missing("no readable kernel BTF: \(error)") }
        return .available
    }

    static func member(_ structName: String, _ memberName: String) -> (index: Int, member: BTFMember, structID: Int)? {
        guard let btf, let id = btf.typeID(named: structName, kind: .structure),
              case let .members(members)? = btf[id]?.detail,
              let index = members.firstIndex(where: { $0.name == memberName }) else { return nil }
        return (index, members[index], id)
    }
}

/// CO-RE relocations resolved against the running kernel's BTF (rootless: reads /sys/kernel/btf/vmlinux).
@Suite(.requires(VMLinux.availability))
struct CORERelocatorTests {
    static func object() throws -> ObjectFile {
        try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/kernel/core_task.o"))
    }

    @Test func flavorSuffixesAreStripped() {
        #expect(CORERelocator.essentialName("task_struct___flavor") == "task_struct")
        #expect(CORERelocator.essentialName("task_struct___v2___x") == "task_struct___v2")
        #expect(CORERelocator.essentialName("task_struct") == "task_struct")
        #expect(CORERelocator.essentialName("____x") == "____x")
        #expect(CORERelocator.essentialName("a___") == "a___")
    }

    @Test func fixtureRelocationsResolveToTheKernelsLayout() throws {
        let btf = try #require(VMLinux.btf)
        let object = try Self.object()
        let program = try #require(object.program(named: "core_task"))
        #expect(program.coreRelocations.count >= 15)
        let relocator = CORERelocator(local: try #require(object.btf), target: btf)
        let pid = try #require(VMLinux.member("task_struct", "pid"))
        let tgid = try #require(VMLinux.member("task_struct", "tgid"))
        var seen: Set<String> = []
        for relocation in program.coreRelocations {
            let resolution = try relocator.resolve(relocation)
            let typeName = object.btf!.typeName(relocation.typeID)
            switch (typeName, relocation.kind) {
            case ("struct task_struct___flavor", 0):
                // `tgid` is at offset 4 locally; the kernel's task_struct has it elsewhere.
                #expect(resolution == .value(UInt64(tgid.member.bitOffset / 8)))
                seen.insert("flavor")
            case ("struct task_struct___flavor", 2):
                #expect(resolution == .value(0), "bogus_field exists in no kernel")
                seen.insert("bogus")
            case ("struct task_struct", 9):
                let size = try btf.size(of: pid.structID)
                #expect(resolution == .value(UInt64(size)))
                seen.insert("size")
            case ("enum bpf_map_type___flavor", 11):
                #expect(resolution == .value(27) || resolution == .poison("no enumerator 'BPF_MAP_TYPE_NO_SUCH_MAP' of 'enum bpf_map_type___flavor' in the target kernel"))
                seen.insert("enum")
            case ("struct task_struct", 0) where relocation.accessString == "0:\(pid.index)":
                #expect(resolution == .value(UInt64(pid.member.bitOffset / 8)))
                seen.insert("pid")
            default:
                break
            }
        }
        #expect(seen == ["flavor", "bogus", "size", "enum", "pid"])
    }

    @Test func bitfieldShiftsAndSizes() throws {
        let btf = try #require(VMLinux.btf)
        // Any kernel struct with a bitfield member, checked against the formulas over its raw bits.
        var found: (Int, Int, BTFMember)?
        for type in btf.types where type.kind == .structure && !type.name.isEmpty {
            guard case let .members(members) = type.detail else { continue }
            if let i = members.firstIndex(where: { $0.bitfieldSize > 0 && $0.bitfieldSize < 8 && !$0.name.isEmpty }) {
                found = (type.id, i, members[i])
                break
            }
        }
        let (structID, index, member) = try #require(found)
        let relocator = CORERelocator(local: btf, target: btf)
        func value(_ kind: UInt32) throws -> UInt64? {
            if case let .value(v, _) = try relocator.resolve(CORERelocation(instruction: 0, typeID: structID, accessString: "0:\(index)", kind: kind)) { return v }
            return nil
        }
        let size = UInt64(try btf.size(of: member.type))
        let offset = try #require(try value(0))
        let byteSize = try #require(try value(1))
        #expect(byteSize >= size && byteSize <= 8)
        #expect(offset % byteSize == 0)
        // The load covers the bits; shifting left then right extracts exactly them.
        let lshift = try #require(try value(4)), rshift = try #require(try value(5))
        #expect(rshift == 64 - UInt64(member.bitfieldSize))
        #expect(lshift == 64 - (UInt64(member.bitOffset) + UInt64(member.bitfieldSize) - offset * 8))
        #expect(UInt64(member.bitOffset) >= offset * 8 && UInt64(member.bitOffset + member.bitfieldSize) <= (offset + byteSize) * 8)
        #expect(try value(2) == 1)
    }

    @Test func missingFieldsPoisonTheInstruction() throws {
        var code = [Instruction(opcode: 0x61, dst: 1, src: 1, offset: 4), Instruction(opcode: 0x95)]
        try CORERelocator.patch(&code, at: 0, with: .poison("gone"), kind: .fieldByteOffset)
        #expect(code[0].opcode == Opcode.call && code[0].imm == CORERelocator.poisonHelper)
        var load = [Instruction(opcode: 0x61, dst: 1, src: 1, offset: 4)]
        try CORERelocator.patch(&load, at: 0, with: .value(2344, resize: .init(from: 4, to: 8)), kind: .fieldByteOffset)
        #expect(load[0].offset == 2344 && load[0].opcode == 0x79, "a 4-byte load of an 8-byte field becomes an 8-byte load")
        let error = #expect(throws: CORERelocator.Failure.self) {
            var alu = [Instruction(opcode: 0x07, dst: 1, imm: 4)]
            try CORERelocator.patch(&alu, at: 0, with: .value(1 << 40), kind: .fieldByteOffset)
        }
        #expect(error?.message.contains("32-bit") == true)
    }
}

/// The CO-RE fixture loaded into and run by the running kernel.
@Suite(.requires(Kernel.bpf.and(VMLinux.availability)))
struct KernelCORETests {
    @Test func taskFieldsThroughCORE() throws {
        let object = try CORERelocatorTests.object()
        let loaded = try KernelObject(object)
        let program = try #require(loaded.program(named: "core_task"))
        let run = try program.testRun(context: [UInt8](repeating: 0, count: 16))
        #expect(run.returnValue == 1)
        let bss = try #require(try loaded.map(named: ".bss")?.lookup(key: [0, 0, 0, 0]))
        func i32(_ o: Int) -> Int32 { bss.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: Int32.self) } }
        func u32(_ o: Int) -> UInt32 { bss.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) } }
        let threadSelf = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")
        let tid = try #require(Int32(threadSelf.split(separator: "/").last!))
        #expect(i32(0) == tid, "pid is the calling thread's id")
        #expect(i32(4) == getpid(), "tgid is the process id")
        #expect(i32(8) == getppid(), "real_parent->tgid is the parent's pid")
        #expect(i32(12) == getpid(), "tgid through a flavor with a wrong local layout")
        let comm = try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
        let read = String(decoding: bss[16..<32].prefix { $0 != 0 }, as: UTF8.self)
        #expect(read == comm)
        let btf = try #require(VMLinux.btf)
        let pid = try #require(VMLinux.member("task_struct", "pid"))
        #expect(u32(32) == 1 && u32(36) == 0, "pid exists; bogus_field does not")
        let taskSize = try btf.size(of: pid.structID)
        #expect(u32(40) == 1 && u32(44) == UInt32(taskSize))
        #expect(bss.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 48, as: UInt64.self) } == 27)
        #expect(u32(56) == 1 && u32(60) == 0)
        #expect(u32(64) == UInt32(pid.member.bitOffset / 8) && u32(68) == 1 && u32(72) == 4)
    }
}

/// `LIBBPF_PIN_BY_NAME` maps: pinned at the first load, reused by the next.
@Suite(.requires(Kernel.bpffs))
struct PinByNameTests {
    @Test func secondLoadReusesThePinnedMap() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/kernel/pin_by_name.o"))
        var options = KernelLoadOptions()
        options.pinDirectory = "/sys/fs/bpf/swiftbpf-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer {
            unlink(options.pinDirectory + "/pinned_counter")
            rmdir(options.pinDirectory)
        }
        let first = try KernelObject(object, options: options)
        #expect(first.reusedPins.isEmpty)
        #expect(FileManager.default.fileExists(atPath: options.pinDirectory + "/pinned_counter"))
        _ = try first.program(named: "pin_count")!.testRun(data: [UInt8](repeating: 0, count: 64))
        let second = try KernelObject(object, options: options)
        #expect(second.reusedPins == ["pinned_counter"])
        _ = try second.program(named: "pin_count")!.testRun(data: [UInt8](repeating: 0, count: 64))
        let a = try #require(first.map(named: "pinned_counter")), b = try #require(second.map(named: "pinned_counter"))
        #expect(try a.info().id == b.info().id)
        #expect(try a.lookup(key: UInt32(0), as: UInt64.self) == 2)
    }
}
