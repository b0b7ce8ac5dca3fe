import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import SwiftBPF
import Testing

/// struct_ops through the façade: `attachAll` registers an object's struct_ops maps (as a skeleton's
/// attach does) and `detachAll` unregisters them. Fixture: Tests/Fixtures/bpf/kernel/tcp_cc.c.
@Suite("struct_ops through the façade", .requires(KernelBackend.bpf))
struct StructOpsFacadeTests {
    static let tcpCongestionOps: Availability = {
        guard let btf = try? KernelBTF.vmlinux() else { return .missing("the kernel has no readable BTF at \(KernelBTF.vmlinuxPath)") }
        return Availability(btf.typeID(named: "bpf_struct_ops_tcp_congestion_ops", kind: .structure) != nil,
                            else: "the kernel's BTF has no struct bpf_struct_ops_tcp_congestion_ops: it does not register TCP congestion controls written in BPF")
    }()

    static func listed() -> Set<String> {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_available_congestion_control", encoding: .utf8)) ?? ""
        return Set(text.split(whereSeparator: \.isWhitespace).map(String.init))
    }

    @Test("attachAll registers every struct_ops map, detachAll unregisters them", .requires(StructOpsFacadeTests.tcpCongestionOps))
    func attachAllRegistersStructOps() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/kernel/tcp_cc.o"))
        try KernelLocks.tcpCongestionControl.withLock { _ in
            let bpf = try BPFCollection(object, backend: .kernel)
            let links = try bpf.attachAll()
            #expect(links.map(\.program) == ["swiftbpf_cc", "swiftbpf_cc_link"])
            #expect(Self.listed().isSuperset(of: ["swiftbpf_cc", "swiftbpf_link"]))
            bpf.detachAll()
            #expect(Self.listed().isDisjoint(with: ["swiftbpf_cc", "swiftbpf_link"]), "unregistered by detachAll")
            // A .struct_ops.link map takes a new link; a .struct_ops map registers once.
            let again = try bpf.registerStructOps("swiftbpf_cc_link")
            #expect(bpf.links.count == 1 && Self.listed().contains("swiftbpf_link"))
            again.close()
            #expect(!Self.listed().contains("swiftbpf_link"))
            let twice = #expect(throws: SwiftBPFError.self) { try bpf.registerStructOps("swiftbpf_cc") }
            #expect(twice?.description.contains("registers once") == true)
        }
        let runtime = #expect(throws: SwiftBPFError.self) { _ = try BPFCollection(object, backend: .runtime) }
        #expect(runtime?.description.contains("struct_ops") == true, "the runtime says it has no struct_ops maps")
    }
}
