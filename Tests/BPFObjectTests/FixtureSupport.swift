import BPFObject
import BPFTestSupport
import Foundation

/// The committed clang-built fixtures (`Tests/Fixtures/bpf`) and examples.
enum Fixtures {
    static func bytes(_ name: String) throws -> [UInt8] {
        try TestPaths.bytes("Tests/Fixtures/bpf/obj/\(name).o")
    }

    static func object(_ name: String) throws -> ObjectFile {
        try ObjectFile(bytes: bytes(name))
    }

    static let names = ["maps_hash_array", "maps_all", "global_data", "subprograms", "tail_calls", "helpers_misc",
                        "xdp_packets", "tc_skb", "tracing", "legacy_maps", "license_version"]
}
