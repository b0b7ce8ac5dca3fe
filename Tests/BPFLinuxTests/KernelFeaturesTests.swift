import BPFLinux
import BPFObject
import Testing

/// Feature probes against the running kernel (every answer here holds on any kernel with bpf()
/// from Linux 5.x on).
@Suite(.enabled(if: Kernel.available, "bpf() is not usable here (needs Linux and root or CAP_BPF)"))
struct KernelFeaturesTests {
    @Test("program and map types the kernel has are supported; what a probe cannot try is unknown, with why")
    func types() {
        #expect(KernelFeatures.programType(.xdp) == .supported)
        #expect(KernelFeatures.programType(.schedCls) == .supported)
        #expect(KernelFeatures.mapType(.hash) == .supported)
        #expect(KernelFeatures.mapType(.arrayOfMaps) == .supported)
        guard case .unknown(let why) = KernelFeatures.programType(.tracing) else {
            Issue.record("tracing programs need an attach target; the probe cannot say")
            return
        }
        #expect(why.contains("attach target"))
        if case .unknown = KernelFeatures.mapType(.skStorage) {} else { Issue.record("sk_storage needs BTF types") }
    }

    @Test("helpers per program type: bpf_redirect for TC and XDP, not for socket filters")
    func helpers() {
        #expect(KernelFeatures.helper(23, programType: .schedCls) == .supported)
        #expect(KernelFeatures.helper(23, programType: .xdp) == .supported)
        guard case .unsupported(let why) = KernelFeatures.helper(23, programType: .socketFilter) else {
            Issue.record("socket filters may not call bpf_redirect")
            return
        }
        #expect(why.contains("bpf_redirect") || why.contains("23"), "\(why)")
        #expect(KernelFeatures.helper(1, programType: .socketFilter) == .supported)
    }
}
