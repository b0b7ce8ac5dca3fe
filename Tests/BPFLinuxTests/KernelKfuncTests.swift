import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// What the loader sends as libbpf does: kfuncs through the kernel's BTF (a `__weak` one missing
/// from the kernel poisoned), `__hidden` functions static, global data mmapable by libbpf's rule,
/// `/proc/kallsyms` read whole, usdt programs' attach type. Fixture: Tests/Fixtures/bpf/kernel/kfuncs.c.
struct KernelKfuncTests {
    static func object() throws -> ObjectFile {
        try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/kernel/kfuncs.o"))
    }

    /// 32-bit little-endian value at `offset` of `bytes`.
    static func u32(_ bytes: [UInt8], at offset: Int) -> Int32 {
        Int32(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) })
    }

    @Test func externsAreListedInLibbpfsOrderWithTheirWeakness() throws {
        let object = try Self.object()
        #expect(object.externs.map(\.name) == ["bpf_task_from_pid", "bpf_task_release", "swiftbpf_fixture_missing_kfunc"])
        #expect(object.externs.map(\.isWeak) == [false, false, true])
        #expect(object.externs.allSatisfy { $0.isFunction && !$0.isKconfig })
        #expect(object.hiddenFunctions == ["store_answer"])
    }

    @Test func uploadedBTFHasKfuncsGlobalWithNamedParametersAndHiddenFunctionsStatic() throws {
        let object = try Self.object()
        let btf = try #require(object.btf)
        let types = KernelObject.sanitisedTypes(object)
        func linkage(_ name: String) -> UInt32? {
            guard let id = btf.typeID(named: name, kind: .function), case .linkage(let l) = types[id].detail else { return nil }
            return l
        }
        #expect(linkage("store_answer") == 0, "a __hidden global function goes up static")
        #expect(linkage("kfuncs") == 1, "the program stays global")
        #expect(linkage("bpf_task_from_pid") == 1, "an extern function goes up global")
        let kfunc = try #require(btf.typeID(named: "bpf_task_from_pid", kind: .function))
        guard case .parameters(let parameters) = types[types[kfunc].referencedType].detail else {
            Issue.record("bpf_task_from_pid has no prototype")
            return
        }
        #expect(parameters.map(\.name) == ["dummy_ksym"])
    }

    @Test func globalDataIsMmapableOnlyWithAGlobalVariable() throws {
        let object = try Self.object()
        let data = try #require(object.map(named: ".data"))
        let statics = try #require(object.map(named: ".data.statics"))
        #expect(KernelObject.isMmapable(data, btf: object.btf))
        #expect(!KernelObject.isMmapable(statics, btf: object.btf), "only a static variable: libbpf does not make it mmapable")
        #expect(!KernelObject.isMmapable(data, btf: nil), "without BTF nothing says a variable is global")
        let hash = MapSpec(name: "h", type: .hash, keySize: 4, valueSize: 4, maxEntries: 1)
        #expect(!KernelObject.isMmapable(hash, btf: object.btf))
    }

    @Test func usdtProgramsGoUpAsUprobeMulti() {
        var spec = ProgramSpec(name: "probe", section: "usdt/./app:provider:name", type: .kprobe, instructions: [])
        let expected: AttachType? = KernelObject.hasUprobeMultiLinks ? .traceUprobeMulti : nil
        #expect(KernelObject.expectedAttachType(for: spec) == expected)
        spec.section = "uprobe/./app:main"
        #expect(KernelObject.expectedAttachType(for: spec) == nil)
    }

    @Test(.requires(VMLinux.availability))
    func kfuncPrototypesCompareAsLibbpfDoes() throws {
        let kernel = try #require(VMLinux.btf)
        let object = try Self.object()
        let local = try #require(object.btf)
        let kernelFunction = try #require(kernel.typeID(named: "bpf_task_from_pid", kind: .function))
        let kernelProto = try #require(kernel[kernelFunction]).referencedType
        let localID = try #require(local.typeID(named: "bpf_task_from_pid", kind: .function))
        let localProto = try #require(local[localID]).referencedType
        #expect(CORERelocator.typesCompatible(localProto, in: local, kernelProto, in: kernel))
        // The same declaration with `struct task_struct;` (a forward): libbpf refuses it, so do we.
        var types = local.types
        let structID = try #require(local.typeID(named: "task_struct", kind: .structure))
        types[structID].kind = .forward
        types[structID].sizeOrType = 0
        types[structID].detail = .none
        var encoder = BTFEncoder(types: types)
        let forward = try BTF(bytes: encoder.encoded())
        #expect(!CORERelocator.typesCompatible(localProto, in: forward, kernelProto, in: kernel), "a forward declaration is not a struct")
        // bpf_task_release's prototype (one pointer argument, void) is not bpf_task_from_pid's.
        let releaseID = try #require(local.typeID(named: "bpf_task_release", kind: .function))
        let releaseProto = try #require(local[releaseID]).referencedType
        #expect(!CORERelocator.typesCompatible(releaseProto, in: local, kernelProto, in: kernel))
    }

    /// `btf dump --format c --kfuncs`: the kernel's kfuncs declared as bpftool 7.4+ declares them.
    @Test(.requires(VMLinux.availability))
    func vmlinuxHeaderDeclaresKfuncs() throws {
        let btf = try #require(VMLinux.btf)
        let header = try BTFCFormatter(btf: btf, options: BTFCFormatter.Options(kfuncPrototypes: true)).format()
        #expect(header.contains("#ifndef BPF_NO_KFUNC_PROTOTYPES\n"))
        #expect(header.contains("extern struct task_struct *bpf_task_from_pid(s32 pid) __weak __ksym;\n"))
        #expect(header.contains("extern void bpf_task_release(struct task_struct *p) __weak __ksym;\n"))
        let plain = try BTFCFormatter(btf: btf).format()
        #expect(!plain.contains("__ksym;"), "kfuncs only when asked for")
    }

    @Test func kallsymsTextIsParsedWithModules() {
        let text = "ffffffff81000000 T _stext\nffffffffc0a01000 t nf_hook_thing\t[nf_tables]\n0000000000000000 T hidden\nffffffff81000010 T _stext\n"
        let symbols = KernelConfig.parseKallsyms(text)
        #expect(symbols["_stext"] == 0xffff_ffff_8100_0000, "the first of a repeated name")
        #expect(symbols["nf_hook_thing"] == 0xffff_ffff_c0a0_1000)
        #expect(symbols["hidden"] == 0)
    }

    @Test(.requires(Availability(FileManager.default.isReadableFile(atPath: "/proc/kallsyms"), else: "no /proc/kallsyms")))
    func procfsIsReadWhole() throws {
        // A single read of procfs returns about a page; the kernel has tens of thousands of symbols.
        let bytes = try #require(KernelConfig.readWhole("/proc/kallsyms"))
        #expect(bytes.count > 1 << 20)
        #expect(KernelConfig.kernelSymbols.count > 10_000)
        #expect(KernelConfig.kernelSymbols["bpf_prog_put"] != nil || KernelConfig.kernelSymbols["_stext"] != nil)
    }

    /// Loaded for real: the kfunc finds the calling process, the missing weak kfunc is skipped, the
    /// hidden subprogram (refused were it global) stores 42.
    @Test(.requires(Kernel.bpf.and(VMLinux.availability)))
    func kfuncFixtureRunsInTheKernel() throws {
        let loaded = try KernelObject(try Self.object())
        #expect(loaded.warnings.isEmpty, "\(loaded.warnings)")
        let program = try #require(loaded.program(named: "kfuncs"))
        _ = try program.testRun()
        let data = try #require(try loaded.map(named: ".data")?.lookup(key: [0, 0, 0, 0]))
        let bss = try #require(try loaded.map(named: ".bss")?.lookup(key: [0, 0, 0, 0]))
        #expect(Self.u32(data, at: 0) == 1, "bpf_task_from_pid found the calling process")
        #expect(Self.u32(data, at: 4) == -1, "the missing __weak kfunc tested absent")
        #expect(Self.u32(bss, at: 0) == 42, "the __hidden subprogram ran")
        let flags = try loaded.maps.map { ($0.spec.name, try $0.map.info().flags & KernelMap.Flag.mmapable != 0) }
        #expect(flags.map(\.0) == [".data", ".bss", ".data.statics"])
        #expect(flags.map(\.1) == [true, true, false])
    }

    /// A kfunc that is not `__weak` and not in the kernel: a load error naming the place.
    @Test(.requires(Kernel.bpf.and(VMLinux.availability)))
    func aMissingStrongKfuncIsALoadErrorNamingIt() throws {
        var object = try Self.object()
        // The same object, its weak extern made strong: the loader must refuse, saying which kfunc.
        object = try ObjectFile(bytes: Self.strengthened(try TestPaths.bytes("Tests/Fixtures/bpf/kernel/kfuncs.o"),
                                                          symbol: "swiftbpf_fixture_missing_kfunc"))
        #expect(object.externs.first { $0.name == "swiftbpf_fixture_missing_kfunc" }?.isWeak == false)
        do {
            _ = try KernelObject(object)
            Issue.record("a missing kfunc that is not __weak loaded")
        } catch {
            #expect(error.message.contains("swiftbpf_fixture_missing_kfunc"))
            #expect(error.message.contains("kfuncs.c:"), "names the C line: \(error.message)")
        }
    }

    /// `bytes` with ELF symbol `symbol` made STB_GLOBAL (from STB_WEAK).
    static func strengthened(_ bytes: [UInt8], symbol: String) throws -> [UInt8] {
        let elf = try ELFFile(bytes: bytes)
        guard let symtab = elf.sections.first(where: { $0.type == 2 }),
              let index = elf.symbols.firstIndex(where: { $0.name == symbol }) else {
            throw ObjectError("test", "no symbol \(symbol)")
        }
        var copy = bytes
        let entry = symtab.offset + elf.symbols[index].index * 24
        copy[entry + 4] = (ELFSymbol.bindingGlobal << 4) | (copy[entry + 4] & 0xf)
        return copy
    }
}
