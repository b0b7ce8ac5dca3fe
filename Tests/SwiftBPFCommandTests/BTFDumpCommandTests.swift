import BPFTestSupport
import Foundation
import Testing

@Suite("swiftbpf btf dump")
struct BTFDumpCommandTests {
    static let object = "Tests/Fixtures/bpf/obj/maps_hash_array.o"

    /// A temporary file, removed when `body` returns.
    func withFile<T>(_ bytes: [UInt8], _ body: (String) throws -> T) throws -> T {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftbpf-btf-\(UUID())")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url.path)
    }

    @Test("the default raw format lists every type as bpftool does")
    func raw() throws {
        let result = try SwiftBPFTool.run(["btf", "dump", Self.object])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first == "[1] PTR '(anon)' type_id=3")
        // The map definition of maps_hash_array.c: HASH (1) with 256 entries, __u32 keys, __u64 values.
        #expect(result.stdout.contains("""
            [8] TYPEDEF '__u32' type_id=9
            [9] INT 'unsigned int' size=4 bits_offset=0 nr_bits=32 encoding=(none)
            [10] PTR '(anon)' type_id=11
            [11] TYPEDEF '__u64' type_id=12
            [12] INT 'unsigned long long' size=8 bits_offset=0 nr_bits=64 encoding=(none)
            """))
        #expect(result.stdout.contains("""
            [16] ARRAY '(anon)' type_id=2 index_type_id=4 nr_elems=256
            [17] STRUCT '(anon)' size=32 vlen=4
            \t'type' type_id=5 bits_offset=0
            \t'max_entries' type_id=15 bits_offset=64
            \t'key' type_id=7 bits_offset=128
            \t'value' type_id=10 bits_offset=192
            [18] VAR 'proto_packets' type_id=17, linkage=global
            """))
        #expect(result.stdout.contains("""
            [20] STRUCT 'xdp_md' size=24 vlen=6
            \t'data' type_id=8 bits_offset=0
            \t'data_end' type_id=8 bits_offset=32
            """))
        #expect(result.stdout.contains("[22] FUNC 'count_by_proto' type_id=21 linkage=global\n"))
        // clang leaves data section sizes to the loader; the dump shows the file as it is.
        #expect(result.stdout.hasSuffix("""
            [27] DATASEC 'license' size=0 vlen=1
            \ttype_id=25 offset=0 size=4 (VAR 'LICENSE')

            """))
        let explicit = try SwiftBPFTool.run(["btf", "dump", Self.object, "--format", "raw"])
        #expect(explicit.stdout == result.stdout)
    }

    @Test("--format c prints the header")
    func c() throws {
        let result = try SwiftBPFTool.run(["btf", "dump", Self.object, "--format", "c"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == """
            #ifndef __VMLINUX_H__
            #define __VMLINUX_H__

            #ifndef BPF_NO_PRESERVE_ACCESS_INDEX
            #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
            #endif

            typedef unsigned int __u32;

            typedef unsigned long long __u64;

            struct xdp_md {
            \t__u32 data;
            \t__u32 data_end;
            \t__u32 data_meta;
            \t__u32 ingress_ifindex;
            \t__u32 rx_queue_index;
            \t__u32 egress_ifindex;
            };

            #ifndef BPF_NO_PRESERVE_ACCESS_INDEX
            #pragma clang attribute pop
            #endif

            #endif /* __VMLINUX_H__ */

            """)
    }

    @Test("a raw BTF blob (the .BTF section cut out of an object) dumps the same as the object")
    func rawBlob() throws {
        let bytes = try TestPaths.bytes(Self.object)
        // Find the raw BTF inside the object by its header: magic, version 1, flags 0, header length 24.
        let start = try #require((0..<(bytes.count - 8)).first { bytes[$0..<($0 + 8)] == [0x9f, 0xeb, 1, 0, 24, 0, 0, 0] })
        func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        let length = 24 + u32(start + 20) + u32(start + 16)
        let fromBlob = try withFile(Array(bytes[start..<(start + length)])) { try SwiftBPFTool.run(["btf", "dump", $0]) }
        let fromObject = try SwiftBPFTool.run(["btf", "dump", Self.object])
        #expect(fromBlob.status == 0, "\(fromBlob.stderr)")
        #expect(fromBlob.stdout == fromObject.stdout)
    }

    @Test("errors name the file and the problem, and exit non-zero without crashing")
    func errors() throws {
        let missing = try SwiftBPFTool.run(["btf", "dump", "/nonexistent/vmlinux"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("cannot read '/nonexistent/vmlinux'"))

        let text = try SwiftBPFTool.run(["btf", "dump", "README.md", "--format", "c"])
        #expect(text.status == 1)
        #expect(text.stderr.contains("README.md: file header: neither an ELF object"))

        // An object whose .BTF section is renamed (its name is the tail of ".rel.BTF").
        var object = try TestPaths.bytes(Self.object)
        let name = Array(".BTF\0".utf8)
        for at in (0...(object.count - name.count)) where Array(object[at..<(at + name.count)]) == name {
            object[at + 1] = UInt8(ascii: "X")
        }
        try withFile(object) { path in
            let result = try SwiftBPFTool.run(["btf", "dump", path])
            #expect(result.status == 1)
            #expect(result.stderr.contains("\(path): ELF object: has no .BTF section"))
        }

        // A raw BTF header that promises more than the file holds, and one with garbage types.
        let truncated: [UInt8] = [0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 4, 0, 0, 0]
        try withFile(truncated) { path in
            let result = try SwiftBPFTool.run(["btf", "dump", path, "--format", "c"])
            #expect(result.status == 1)
            #expect(result.stderr.contains("\(path): raw BTF: read of 256 bytes at offset 24 is past the end"))
        }
        var garbage = SplitMix(state: 42)
        let types = (0..<48).map { _ in UInt8.random(in: 0...255, using: &garbage) }
        let corrupt: [UInt8] = [0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 48, 0, 0, 0, 48, 0, 0, 0, 1, 0, 0, 0] + types + [0]
        for format in ["raw", "c"] {
            try withFile(corrupt) { path in
                let result = try SwiftBPFTool.run(["btf", "dump", path, "--format", format])
                #expect(result.status == 1, "\(format): \(result.stdout)")
                #expect(result.stderr.contains(path))
            }
        }

        let badFormat = try SwiftBPFTool.run(["btf", "dump", Self.object, "--format", "json"])
        #expect(badFormat.status != 0)
        #expect(badFormat.stderr.contains("'json' is invalid for '--format"))
    }
}
