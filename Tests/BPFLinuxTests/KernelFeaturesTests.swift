import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// Feature probes against the running kernel (every answer here holds on any kernel with bpf()
/// from Linux 5.x on).
@Suite(.requires(Kernel.bpf))
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

/// Attachment probes: each kind either attaches or says why not, the same answer every time; the
/// uprobe probe agrees with the PMU's presence in sysfs.
@Suite(.requires(Kernel.bpf))
struct KernelAttachmentFeaturesTests {
    @Test(arguments: KernelFeatures.Attachment.allCases)
    func answersWithAReason(_ kind: KernelFeatures.Attachment) {
        let answer = KernelFeatures.attachment(kind)
        #expect(KernelFeatures.attachment(kind) == answer, "cached")
        switch answer {
        case .supported: break
        case .unsupported(let why), .unknown(let why): #expect(!why.isEmpty, "\(kind): \(answer)")
        }
    }

    @Test func uprobeFollowsThePMU() {
        let hasPMU = FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/uprobe/type")
        #expect(KernelFeatures.attachment(.uprobe).isSupported == hasPMU)
        let hasKprobePMU = FileManager.default.fileExists(atPath: "/sys/bus/event_source/devices/kprobe/type")
        if !hasKprobePMU { #expect(KernelFeatures.attachment(.kprobe).description.contains("kprobe PMU")) }
    }
}
