import BPFLinux
import BPFObject
import BPFTestSupport
import Testing

/// Kernel modules' BTF, where kfuncs such as conntrack's live on kernels that build them as modules.
@Suite(.requires(Kernel.bpf))
struct ModuleBTFTests {
    /// The names of the modules whose BTF the kernel holds (none where everything is built in).
    static let modules: [String] = {
        guard Kernel.available, let ids = try? KernelBTF.ids() else { return [] }
        return ids.compactMap { id in
            guard let info = try? KernelBTF.open(id: id).info(), info.isKernel, info.name != "vmlinux" else { return nil }
            return info.name
        }
    }()

    @Test("a function of vmlinux is not found in a module, nor is a name no BTF has")
    func notInModules() throws {
        #expect(try KernelBTF.module(declaring: "bpf_task_from_pid", kind: .function) == nil)
        #expect(try KernelBTF.module(declaring: "swiftbpf_no_such_kfunc", kind: .function) == nil)
    }

    @Test("a module's function is found with an id past vmlinux's types",
          .enabled(if: !modules.isEmpty, "this kernel holds no module BTF (everything it has is built in)"))
    func moduleFunction() throws {
        let vmlinux = try KernelBTF.vmlinux()
        for name in Self.modules {
            let id = try #require(try KernelBTF.ids().first { (try? KernelBTF.open(id: $0).info().name) == name })
            let types = try BTF(splitBytes: try KernelBTF.open(id: id).bytes(), base: vmlinux)
            guard let function = types.types[vmlinux.types.count...].first(where: { $0.kind == .function && vmlinux.typeID(named: $0.name, kind: .function) == nil }) else { continue }
            let found = try #require(try KernelBTF.module(declaring: function.name, kind: .function), "\(function.name) of \(name)")
            #expect(found.id == function.id)
            #expect(try found.btf.info().name == name)
            return
        }
        Issue.record("no module of \(Self.modules) declares a function of its own")
    }
}
