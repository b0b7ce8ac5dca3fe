import BPFLinux
import BPFObject
import Testing

/// Cancels the running test or test case — Swift Testing reports it skipped, with the reason —
/// when this kernel does not offer to their type a helper that the programs of `object` (those
/// named in `programs`, or all) call: a kernel's build may leave helpers out (kernels differ
/// between machines: one seen here refuses `bpf_xdp_adjust_meta` to XDP programs), and it then
/// refuses the program whatever its safety.
public func cancelUnlessTheKernelOffersTheirHelpers(_ object: ObjectFile, programs: [String]? = nil) throws {
    for spec in object.programs where programs?.contains(spec.name) ?? true {
        if let id = KernelFeatures.unavailableHelpers(in: spec).first {
            try Test.cancel("this kernel does not offer \(HelperPrototype[id]?.name ?? "helper \(id)") to \(spec.type.kernelName) programs (probed), so it refuses \(spec.name)")
        }
    }
}
