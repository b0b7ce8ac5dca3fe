#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The benchmark's native column: the same C (Benchmarks/bpf/jit_bench.c) compiled for the host by
/// clang -O2 at bench time, through the shim header `Benchmarks/bpf/native/swiftbpf_helpers.h`, into
/// a shared object that is loaded with `dlopen`; each program is a C function called in-process on
/// a native `xdp_md` whose data and data_end point at the packet.
struct NativeBench {
    var unavailable: String?
    private var handle: UnsafeMutableRawPointer?

    typealias Function = @convention(c) (UnsafeMutableRawPointer) -> Int32

    /// Compiles `source` with the toolchain's clang ($CLANG, `clang` on PATH, or /opt/swift/usr/bin/clang).
    init(source: String, shimDirectory: String) {
        let candidates = [ProcessInfo.processInfo.environment["CLANG"], "/usr/bin/clang", "/opt/swift/usr/bin/clang", "/usr/local/bin/clang"]
        guard let clang = candidates.compactMap({ $0 }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            unavailable = "no clang found (set CLANG)"
            return
        }
        let output = NSTemporaryDirectory() + "swiftbpf-jit-bench-native-\(getpid()).so"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: clang)
        process.arguments = ["-O2", "-shared", "-fPIC", "-Wno-unused", "-I", shimDirectory, source, "-o", output]
        let errors = Pipe()
        process.standardError = errors
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            unavailable = "cannot run \(clang): \(error)"
            return
        }
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            unavailable = "clang failed: \(text.prefix(200))"
            return
        }
        guard let handle = dlopen(output, RTLD_NOW | RTLD_LOCAL) else {
            unavailable = "dlopen failed: \(String(cString: dlerror()))"
            return
        }
        self.handle = handle
    }

    func function(_ name: String) -> Function? {
        guard let handle, let symbol = dlsym(handle, name) else { return nil }
        return unsafeBitCast(symbol, to: Function.self)
    }

    /// Calls `name` on `packet`: r0 of the first call, and ns per call (best of 5 × `count` calls).
    func run(_ name: String, packet: [UInt8], repeat count: Int) -> (r0: UInt32, ns: Double)? {
        guard let function = function(name) else { return nil }
        var bytes = packet
        return bytes.withUnsafeMutableBytes { buffer in
            // struct xdp_md { long data, data_end; u32 data_meta, ingress_ifindex, rx_queue_index, egress_ifindex; }
            let context = UnsafeMutableRawPointer.allocate(byteCount: 32, alignment: 8)
            defer { context.deallocate() }
            context.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
            let base = Int(bitPattern: buffer.baseAddress)
            context.storeBytes(of: base, toByteOffset: 0, as: Int.self)
            context.storeBytes(of: base + buffer.count, toByteOffset: 8, as: Int.self)
            let r0 = UInt32(bitPattern: function(context))
            var best = Double.infinity
            for _ in 0..<5 {
                var sink: Int32 = 0
                let clock = ContinuousClock()
                let start = clock.now
                for _ in 0..<count { sink &+= function(context) }
                best = min(best, nanoseconds(clock.now - start) / Double(count))
                if sink == 1 { print("", terminator: "") }
            }
            return (r0, best)
        }
    }
}
