import BPFCore
import BPFLinux
import BPFObject
import BPFTestSupport
import Testing

/// The BPFLinux example of Docs/kernel.md, compiled and run. Skipped, with the reason, where bpf() is not usable.
@Suite(.requires(Kernel.bpf))
struct ReadmeExampleTests {
    @Test func kernelBackendExample() throws {
        let counts = try KernelMap(MapSpec(name: "counts", type: .array, keySize: 4, valueSize: 8, maxEntries: 1))
        try counts.update(key: UInt32(0), value: UInt64(41))
        let program = try KernelProgram.load(type: .xdp, instructions: Assembler().assemble("""
            mov %r2, 0
            stxw [%r10-4], %r2
            mov %r2, %r10
            add %r2, -4
            lddw %r1, map_fd \(counts.fd.rawValue)
            call 1
            jeq %r0, 0, +3
            ldxdw %r1, [%r0]
            add %r1, 1
            stxdw [%r0], %r1
            mov %r0, 2
            exit
            """), name: "count")
        let run = try program.testRun(data: [UInt8](repeating: 0, count: 64))
        #expect(run.returnValue == 2)
        #expect(try counts.lookup(key: UInt32(0), as: UInt64.self) == 42)
        #expect(try program.info().name == "count")
        #expect(try KernelObjects.programIDs().count >= 1)
    }
}
