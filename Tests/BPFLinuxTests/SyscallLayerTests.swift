import BPFLinux
import BPFObject
import Testing

/// The parts of the syscall layer that need no kernel: errno names, hints, CPU lists, names.
struct SyscallLayerTests {
    @Test func errorsNameCommandErrnoAndHint() {
        let perm = BPFError(command: .mapCreate, errno: .EPERM)
        #expect(perm.description.hasPrefix("BPF_MAP_CREATE failed: EPERM (Operation not permitted): needs root or CAP_BPF"))
        #expect(perm.description.contains("CAP_PERFMON/CAP_NET_ADMIN"))
        #expect(BPFError(command: .mapUpdateElem, errno: .E2BIG).description.contains("full"))
        #expect(BPFError(command: .progLoad, errno: .ENOSPC).description.contains("too small"))
        let rejected = BPFError(command: .progLoad, errno: .EACCES, verifierLog: "0: (bf) r0 = r5\nR5 !read_ok\n")
        #expect(rejected.description.contains("verifier rejected"))
        #expect(rejected.description.hasSuffix("R5 !read_ok\n"))
        #expect(Errno(rawValue: 524).name == "ENOTSUPP")
        #expect(Errno(rawValue: 999).name == "errno 999")
        #expect(BPFCommand.mapLookupAndDeleteBatch.kernelName == "BPF_MAP_LOOKUP_AND_DELETE_BATCH")
        #expect(BPFCommand.tokenCreate.rawValue == 36)
    }

    @Test func possibleCPUList() {
        #expect(PossibleCPUs.parse("0-3\n") == 4)
        #expect(PossibleCPUs.parse("0") == 1)
        #expect(PossibleCPUs.parse("0,2-5,7") == 8)
        #expect(PossibleCPUs.parse("") == nil)
        #expect(PossibleCPUs.parse("x") == nil)
    }

    @Test func namesAreSanitised() {
        #expect(KernelMap.sanitisedName("my-map.bss") == "my_map.bss")
        #expect(KernelMap.sanitisedName("a_very_long_map_name_indeed") == "a_very_long_map")
        #expect(KernelMap.sanitisedName("ü") == "_")
    }

    @Test func fileDescriptorClosesOnce() {
        let fd = BPFFileDescriptor(adopting: -1)
        #expect(fd.isClosed)
        fd.close()
        #expect(throws: BPFError.self) { try fd.checked(.mapLookupElem) }
    }
}
