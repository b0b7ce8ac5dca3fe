import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// BTF with the cases real objects rarely have, built by hand.
enum TrickyBTF {
    static let btf: BTF = {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, signed: true)
        let uint = b.int("unsigned int", size: 4)
        let char = b.int("char", size: 1, signed: true)
        // Packed: an int at byte 1.
        _ = b.structure("packed_pair", size: 5, [("a", char, 0, 0), ("b", int, 8, 0)])
        // Bitfields with a byte-wide hole between y and z.
        _ = b.structure("flags", size: 4, [("x", uint, 0, 3), ("y", uint, 3, 5), ("z", uint, 16, 8)])
        // An anonymous union inside a struct.
        let anonymousUnion = b.structure("", size: 4, union: true, [("i", int, 0, 0), ("u", uint, 0, 0)])
        _ = b.structure("with_anon", size: 8, [("", anonymousUnion, 0, 0), ("tail", int, 32, 0)])
        // A cycle: node_b holds node_a by value (node_a comes later), node_a points back at node_b.
        let nodeB = b.nextID, pointerB = nodeB + 1, nodeA = nodeB + 2
        _ = b.structure("node_b", size: 16, [("a", nodeA, 0, 0), ("self", pointerB, 64, 0)])
        _ = b.pointer(nodeB)
        _ = b.structure("node_a", size: 8, [("b", pointerB, 0, 0)])
        // A function-pointer typedef, and a struct with a callback taking the struct and varargs.
        let pointerChar = b.pointer(char)
        let prototype = b.functionPrototype(returning: int, [("", int), ("", pointerChar)])
        _ = b.typedef("fn_t", b.pointer(prototype))
        let ops = b.nextID
        _ = b.structure("ops", size: 8, [("cb", ops + 1, 0, 0)])
        _ = b.pointer(ops + 2)
        _ = b.functionPrototype(returning: 0, [("", ops + 3), ("", 0)])
        _ = b.pointer(ops)
        // Enums: 64-bit values, a 64-bit enum of small values, a one-byte enum, an unreferenced anonymous one.
        _ = b.enumeration64("big", [("BIG_A", 1), ("BIG_B", .max)])
        _ = b.enumeration64("small64", signed: true, [("S_NEG", UInt64(bitPattern: -1)), ("S_TWO", 2)])
        _ = b.enumeration("tiny", size: 1, [("T_ZERO", 0), ("T_ONE", 1)])
        _ = b.enumeration("", signed: true, [("LONE", 7)])
        // A forward declaration used through a pointer.
        let opaque = b.forward("opaque")
        _ = b.structure("holder", size: 8, [("o", b.pointer(opaque), 0, 0)])
        // C keywords as names; a decl tag (not written).
        let keywords = b.structure("kw", size: 4, [("default", int, 0, 0)])
        _ = b.typedef("register", int)
        _ = b.declTag("kw_tag", keywords)
        // One name in three kinds: struct and union share C's tag namespace, typedef and enumerator the other.
        _ = b.structure("dup", size: 4, [("a", int, 0, 0)])
        _ = b.structure("dup", size: 4, union: true, [("b", int, 0, 0)])
        _ = b.typedef("dup", int)
        _ = b.enumeration("colors", [("dup", 1), ("RED", 2)])
        // Qualifiers, arrays, float, _Bool, an integer name C does not know, a type tag.
        let constVolatileInt = b.qualifier(.const, b.qualifier(.volatile, int))
        let constPointer = b.qualifier(.const, b.pointer(int))
        let indexType = uint
        let name = b.array(b.qualifier(.const, char), index: indexType, count: 8)
        let matrix = b.array(b.array(int, index: indexType, count: 3), index: indexType, count: 2)
        let double = b.float("double", size: 8)
        let bool = b.int("_Bool", size: 1, bool: true)
        let byte = b.int("u8", size: 1)
        let user = b.pointer(b.typeTag("user", int))
        _ = b.structure("misc", size: 72, [
            ("p", b.pointer(constVolatileInt), 0, 0), ("q", constPointer, 64, 0), ("name", name, 128, 0),
            ("m", matrix, 192, 0), ("d", double, 384, 0), ("flag", bool, 448, 0), ("small", byte, 456, 0),
            ("up", user, 512, 0),
        ])
        // Alignment larger than natural (aligned(64)), and a struct that holds it after a char.
        let aligned = b.structure("aligned64", size: 64, [("x", int, 0, 0)])
        _ = b.structure("outer", size: 128, [("c", char, 0, 0), ("in", aligned, 512, 0)])
        // A union larger than its members.
        _ = b.structure("wide", size: 16, union: true, [("a", int, 0, 0)])
        // A typedef of an anonymous struct.
        _ = b.typedef("pair_t", b.structure("", size: 8, [("first", int, 0, 0), ("second", int, 32, 0)]))
        // x86-64's va_list: clang's own __builtin_va_list is `void *` for BPF, so the kernel's is written out.
        let vaTag = b.structure("__va_list_tag", size: 24, [
            ("gp_offset", uint, 0, 0), ("fp_offset", uint, 32, 0), ("overflow_arg_area", b.pointer(0), 64, 0),
            ("reg_save_area", b.pointer(0), 128, 0),
        ])
        let vaList = b.typedef("va_list", b.typedef("__builtin_va_list", b.array(vaTag, index: indexType, count: 1)))
        _ = b.structure("va_format", size: 32, [("fmt", pointerChar, 0, 0), ("va", vaList, 64, 0)])
        // Not written in C: a function, a variable, a data section.
        _ = b.function("main_fn", prototype)
        let variable = b.variable("global_v", int)
        _ = b.dataSection(".data", size: 4, [(variable, 0, 4)])
        return try! BTF(bytes: b.bytes)
    }()
}

/// `/sys/kernel/btf/vmlinux`, parsed and written once for all tests that use it.
enum VMLinux {
    static let path = "/sys/kernel/btf/vmlinux"
    static let available = FileManager.default.isReadableFile(atPath: path)
    static let skipReason = Comment(rawValue: "\(path) is absent or unreadable (a kernel without CONFIG_DEBUG_INFO_BTF, or not Linux)")

    struct Dump: Sendable {
        var btf: BTF
        var header: String
        var parseSeconds: Double
        var formatSeconds: Double
    }

    static let dump: Result<Dump, ObjectError> = {
        let bytes = (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))) ?? []
        let clock = ContinuousClock()
        var btf: BTF?
        let parse = clock.measure { btf = try? BTF(fileBytes: bytes) }
        guard let btf else { return .failure(ObjectError(path, "did not parse")) }
        var header = ""
        var failure: ObjectError?
        let format = clock.measure {
            do { header = try BTFCFormatter(btf: btf).format() } catch { failure = error as? ObjectError ?? ObjectError(path, "\(error)") }
        }
        if let failure { return .failure(failure) }
        return .success(Dump(btf: btf, header: header, parseSeconds: parse.seconds, formatSeconds: format.seconds))
    }()
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

@Suite("BTF as C declarations (btf dump format c)")
struct BTFCFormatterTests {
    static let clangReason = Comment(rawValue: BPFClang.skipReason)

    @Test("each fixture's C dump compiles with clang -target bpf, with every struct layout asserted",
          .enabled(if: BPFClang.executable != nil, clangReason), arguments: Fixtures.names)
    func fixtureCompiles(name: String) throws {
        let btf = try BTF(fileBytes: Fixtures.bytes(name))
        let header = try BTFCFormatter(btf: btf).format()
        let asserts = LayoutAsserts.make(for: btf)
        // An object with no structs leaves the preserve_access_index region empty, which -Wall reports.
        let outcome = try BPFClang.check(header + "\n" + asserts.text, flags: ["-Wall", "-Werror", "-Wno-pragma-clang-attribute"])
        #expect(outcome.succeeded, "\(name): \(outcome.diagnostics)")
    }

    @Test("fixture dumps hold the structs their sources define, once each")
    func fixtureContents() throws {
        let header = try BTFCFormatter(btf: BTF(fileBytes: Fixtures.bytes("xdp_packets"))).format()
        #expect(header.hasPrefix("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n"))
        #expect(header.contains("""
            struct xdp_md {
            \t__u32 data;
            \t__u32 data_end;
            \t__u32 data_meta;
            \t__u32 ingress_ifindex;
            \t__u32 rx_queue_index;
            \t__u32 egress_ifindex;
            };
            """))
        #expect(header.hasSuffix("#endif /* __VMLINUX_H__ */\n"))
        let all = try Fixtures.names.map { try BTFCFormatter(btf: BTF(fileBytes: Fixtures.bytes($0))).format() }
        for (name, text) in zip(Fixtures.names, all) {
            let definitions = text.split(separator: "\n").filter {
                $0.hasSuffix(" {") && !$0.hasPrefix("\t") && $0.split(separator: " ").count == 3 && !$0.hasPrefix("typedef")
            }
            #expect(Set(definitions).count == definitions.count, "\(name) defines a type twice")
        }
        #expect(all.joined().contains("struct __sk_buff {"))
        #expect(all.joined().contains("struct bpf_map_def {"))
    }

    @Test("hand-built BTF: packing, bitfields, anonymous union, a pointer cycle, function pointers, enum64, fwd")
    func trickyText() throws {
        let header = try BTFCFormatter(btf: TrickyBTF.btf).format()
        let expected = [
            "struct packed_pair {\n\tchar a;\n\tint b;\n} __attribute__((packed));\n",
            "struct flags {\n\tunsigned int x: 3;\n\tunsigned int y: 5;\n\tchar: 8;\n\tunsigned int z: 8;\n\tchar: 8;\n};\n",
            "struct with_anon {\n\tunion {\n\t\tint i;\n\t\tunsigned int u;\n\t};\n\tint tail;\n};\n",
            "struct node_b;\n\nstruct node_a {\n\tstruct node_b *b;\n};\n\nstruct node_b {\n\tstruct node_a a;\n\tstruct node_b *self;\n};\n",
            "typedef int (*fn_t)(int, char *);\n",
            "struct ops {\n\tvoid (*cb)(struct ops *, ...);\n};\n",
            "enum big {\n\tBIG_A = 1,\n\tBIG_B = 18446744073709551615ULL,\n};\n",
            "enum small64 {\n\tS_NEG = -1,\n\tS_TWO = 2,\n} __attribute__((mode(DI)));\n",
            "enum tiny {\n\tT_ZERO = 0,\n\tT_ONE = 1,\n} __attribute__((mode(QI)));\n",
            "enum {\n\tLONE = 7,\n};\n",
            "struct opaque;\n\nstruct holder {\n\tstruct opaque *o;\n};\n",
            "struct kw {\n\tint default_;\n};\n",
            "typedef int register_;\n",
            "struct dup {\n\tint a;\n};\n\nunion dup___2 {\n\tint b;\n};\n\ntypedef int dup;\n",
            "enum colors {\n\tdup___2 = 1,\n\tRED = 2,\n};\n",
            """
            struct misc {
            \tconst volatile int *p;
            \tint *const q;
            \tconst char name[8];
            \tint m[2][3];
            \tdouble d;
            \t_Bool flag;
            \tunsigned char small;
            \tint __attribute__((btf_type_tag("user"))) *up;
            };

            """,
            "struct aligned64 {\n\tint x;\n\tint: 32;\n" + String(repeating: "\tlong: 64;\n", count: 7) + "};\n",
            "struct outer {\n\tchar c;\n\tchar: 8;\n\tshort: 16;\n\tint: 32;\n" + String(repeating: "\tlong: 64;\n", count: 7)
                + "\tstruct aligned64 in;\n};\n",
            "union wide {\n\tint a;\n\tstruct {\n\t\tlong: 64;\n\t\tlong: 64;\n\t};\n};\n",
            "typedef struct {\n\tint first;\n\tint second;\n} pair_t;\n",
            "typedef struct __va_list_tag va_list[1];\n",
        ]
        for text in expected {
            #expect(header.contains(text), "missing:\n\(text)\n--- in:\n\(header)")
        }
        for absent in ["main_fn", "global_v", ".data", "kw_tag", "struct opaque {"] {
            #expect(!header.contains(absent), "\(absent) should not be written")
        }
        #expect(!header.contains("__builtin_va_list"))
        var voidVaList = BTFBuilder()
        _ = voidVaList.typedef("my_va", voidVaList.typedef("__builtin_va_list", 0))
        #expect(try BTFCFormatter(btf: BTF(bytes: voidVaList.bytes)).format().contains("typedef __builtin_va_list my_va;\n"))
        let dropped = try BTFCFormatter(btf: TrickyBTF.btf, options: .init(typeTags: false)).format()
        #expect(dropped.contains("\tint *up;\n"))
    }

    @Test("hand-built BTF compiles with clang and keeps its layouts", .enabled(if: BPFClang.executable != nil, clangReason))
    func trickyCompiles() throws {
        let header = try BTFCFormatter(btf: TrickyBTF.btf).format()
        let asserts = LayoutAsserts.make(for: TrickyBTF.btf)
        #expect(asserts.count >= 40)
        let outcome = try BPFClang.check(header + "\n" + asserts.text + """
            _Static_assert(sizeof(union dup___2) == 4, "renamed union");
            _Static_assert(sizeof(struct with_anon) == 8 && __builtin_offsetof(struct with_anon, u) == 0, "anonymous union");
            _Static_assert(dup___2 == 1 && BIG_B == 0xffffffffffffffffULL && LONE == 7, "enumerators");
            _Static_assert(sizeof(pair_t) == 8, "typedef of an anonymous struct");
            int swiftbpf_check(struct flags *f, fn_t fn, struct ops *o) {
                f->z = 200;
                return fn(f->x, 0) + (int)sizeof(o->cb);
            }

            """)
        #expect(outcome.succeeded, "\(outcome.diagnostics)")
    }

    @Test("a layout that is wrong fails the asserts (the check can fail)", .enabled(if: BPFClang.executable != nil, clangReason))
    func wrongLayoutFails() throws {
        let header = try BTFCFormatter(btf: TrickyBTF.btf).format()
        let asserts = LayoutAsserts.make(for: TrickyBTF.btf)
        // Dropping the packed attribute moves packed_pair.b to offset 4 and makes the struct 8 bytes.
        let broken = header.replacingOccurrences(of: "int b;\n} __attribute__((packed));", with: "int b;\n};")
        #expect(broken != header)
        let outcome = try BPFClang.check(broken + "\n" + asserts.text)
        #expect(!outcome.succeeded)
        #expect(outcome.diagnostics.contains("packed_pair"))
    }

    @Test("corrupt BTF: missing types, loops and mutated bytes give errors, never a crash")
    func corrupt() throws {
        var missing = BTFBuilder()
        _ = missing.typedef("dangling", 99)
        #expect(throws: ObjectError.self) { try BTFCFormatter(btf: BTF(bytes: missing.bytes)).format() }

        var loop = BTFBuilder()
        _ = loop.qualifier(.const, 2)
        _ = loop.pointer(1)
        _ = loop.typedef("looped", 1)
        let loopError = #expect(throws: ObjectError.self) { try BTFCFormatter(btf: BTF(bytes: loop.bytes)).format() }
        #expect(loopError?.message.contains("levels deep") == true)

        var selfContaining = BTFBuilder()
        _ = selfContaining.structure("itself", size: 4, [("me", 1, 0, 0)])
        _ = try BTFCFormatter(btf: BTF(bytes: selfContaining.bytes)).format()   // invalid C, but no hang

        var notAType = BTFBuilder()
        let int = notAType.int("int", size: 4, signed: true)
        _ = notAType.typedef("bad", notAType.variable("v", int))
        #expect(throws: ObjectError.self) { try BTFCFormatter(btf: BTF(bytes: notAType.bytes)).format() }

        // Seeded byte mutations of a real object's BTF: each parses and prints, or throws.
        let elf = try ELFFile(bytes: Fixtures.bytes("helpers_misc"))
        let original = elf.contents(of: try #require(elf.section(named: ".BTF")))
        var random = SplitMix(state: 0x5eed_b7f)
        var parsed = 0, refused = 0
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 24..<bytes.count, using: &random)
                bytes[at] = UInt8.random(in: 0...255, using: &random)
            }
            do {
                let btf = try BTF(bytes: bytes)
                _ = BTFRawFormatter(btf: btf).format()
                _ = try BTFCFormatter(btf: btf).format()
                parsed += 1
            } catch {
                refused += 1
            }
        }
        #expect(parsed + refused == 300)
        #expect(parsed > 0 && refused > 0, "parsed \(parsed), refused \(refused)")
    }
}

@Suite("BTF files")
struct BTFFileTests {
    @Test("an ELF object's .BTF, a raw blob, and clear errors for everything else")
    func loading() throws {
        let fromELF = try BTF(fileBytes: Fixtures.bytes("maps_hash_array"))
        #expect(fromELF.typeID(named: "xdp_md", kind: .structure) != nil)
        let raw = try BTF(fileBytes: BTFBuilder().bytes)
        #expect(raw.types.count == 1)

        // Rename .BTF (its name is the tail of ".rel.BTF" in the string table, so patch every ".BTF\0").
        var bytes = try Fixtures.bytes("maps_hash_array")
        let name = Array(".BTF\0".utf8)
        let places = (0...(bytes.count - name.count)).filter { Array(bytes[$0..<($0 + name.count)]) == name }
        try #require(!places.isEmpty)
        for at in places { bytes[at + 1] = UInt8(ascii: "X") }
        let noBTF = #expect(throws: ObjectError.self) { try BTF(fileBytes: bytes) }
        #expect(noBTF?.description == "ELF object: has no .BTF section (compile with clang -g to get one)")

        let garbage = #expect(throws: ObjectError.self) { try BTF(fileBytes: Array("hello, world".utf8)) }
        #expect(garbage?.description == "file header: neither an ELF object (\\x7fELF) nor raw BTF (magic 0xeb9f)")
        let truncated = #expect(throws: ObjectError.self) { try BTF(fileBytes: [0x9f, 0xeb, 1, 0, 24]) }
        #expect(truncated?.place == "raw BTF")
        let bigEndian = #expect(throws: ObjectError.self) { try BTF(fileBytes: [0xeb, 0x9f, 1, 0]) }
        #expect(bigEndian?.message.contains("big-endian") == true)
    }
}

@Suite("BTF raw listing (btf dump, bpftool's default format)")
struct BTFRawFormatterTests {
    @Test("hand-built types of every kind, in bpftool's text")
    func everyKind() throws {
        var b = BTFBuilder()
        let int = b.int("int", size: 4, signed: true)
        let char = b.int("char", size: 1, char: true)
        let pointer = b.pointer(int)
        let array = b.array(char, index: int, count: 16)
        let pair = b.structure("pair", size: 8, [("a", int, 0, 0), ("", int, 32, 3)])
        _ = b.structure("u", size: 4, union: true, [("x", int, 0, 0)])
        _ = b.enumeration("e", signed: true, [("NEG", -2), ("POS", 3)])
        _ = b.enumeration("ue", [("HIGH", 0xffff_fff0)])
        _ = b.forward("later", union: true)
        _ = b.typedef("int_t", int)
        _ = b.qualifier(.volatile, int)
        _ = b.qualifier(.const, int)
        _ = b.qualifier(.restrict, pointer)
        let prototype = b.functionPrototype(returning: int, [("argc", int), ("argv", pointer)])
        _ = b.function("main", prototype, linkage: 1)
        let variable = b.variable("counter", int, linkage: 0)
        _ = b.dataSection(".bss", size: 4, [(variable, 0, 4)])
        _ = b.float("double", size: 8)
        _ = b.declTag("tag", pair, component: 1)
        _ = b.typeTag("user", int)
        _ = b.enumeration64("e64", signed: true, [("MINUS_ONE", UInt64(bitPattern: -1))])
        _ = b.enumeration64("u64e", [("TOP", .max)])
        _ = array
        let text = BTFRawFormatter(btf: try BTF(bytes: b.bytes)).format()
        #expect(text == """
            [1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED
            [2] INT 'char' size=1 bits_offset=0 nr_bits=8 encoding=CHAR
            [3] PTR '(anon)' type_id=1
            [4] ARRAY '(anon)' type_id=2 index_type_id=1 nr_elems=16
            [5] STRUCT 'pair' size=8 vlen=2
            \t'a' type_id=1 bits_offset=0
            \t'(anon)' type_id=1 bits_offset=32 bitfield_size=3
            [6] UNION 'u' size=4 vlen=1
            \t'x' type_id=1 bits_offset=0
            [7] ENUM 'e' encoding=SIGNED size=4 vlen=2
            \t'NEG' val=-2
            \t'POS' val=3
            [8] ENUM 'ue' encoding=UNSIGNED size=4 vlen=1
            \t'HIGH' val=4294967280
            [9] FWD 'later' fwd_kind=union
            [10] TYPEDEF 'int_t' type_id=1
            [11] VOLATILE '(anon)' type_id=1
            [12] CONST '(anon)' type_id=1
            [13] RESTRICT '(anon)' type_id=3
            [14] FUNC_PROTO '(anon)' ret_type_id=1 vlen=2
            \t'argc' type_id=1
            \t'argv' type_id=3
            [15] FUNC 'main' type_id=14 linkage=global
            [16] VAR 'counter' type_id=1, linkage=static
            [17] DATASEC '.bss' size=4 vlen=1
            \ttype_id=16 offset=0 size=4 (VAR 'counter')
            [18] FLOAT 'double' size=8
            [19] DECL_TAG 'tag' type_id=5 component_idx=1
            [20] TYPE_TAG 'user' type_id=1
            [21] ENUM64 'e64' encoding=SIGNED size=8 vlen=1
            \t'MINUS_ONE' val=-1
            [22] ENUM64 'u64e' encoding=UNSIGNED size=8 vlen=1
            \t'TOP' val=18446744073709551615

            """)
    }
}

@Suite("BTF dump of /sys/kernel/btf/vmlinux", .enabled(if: VMLinux.available, VMLinux.skipReason))
struct VMLinuxDumpTests {
    @Test("parsed and written as C in seconds, every named type defined once")
    func speedAndShape() throws {
        let dump = try VMLinux.dump.get()
        print("vmlinux: \(dump.btf.types.count - 1) types; parse \(String(format: "%.2f", dump.parseSeconds)) s, "
              + "C dump \(String(format: "%.2f", dump.formatSeconds)) s, \(dump.header.utf8.count) bytes")
        // Generous bounds for a debug build on a loaded machine; the point is "seconds, not minutes".
        #expect(dump.parseSeconds < 20)
        #expect(dump.formatSeconds < 30)
        for name in ["struct task_struct {", "struct sk_buff {", "struct xdp_md {", "struct __sk_buff {"] {
            #expect(dump.header.contains("\n\(name)\n"), "\(name) is not defined")
        }
        // Named definitions start a line with "struct NAME {" (anonymous ones are inline or "enum {").
        let definitions = dump.header.split(separator: "\n").filter {
            $0.hasSuffix(" {") && !$0.hasPrefix("\t") && $0.split(separator: " ").count == 3 && !$0.hasPrefix("typedef")
        }
        #expect(definitions.count > 5000)
        #expect(Set(definitions).count == definitions.count, "a type is defined twice")
    }

    @Test("the header compiles with clang -target bpf and keeps struct layouts",
          .enabled(if: BPFClang.executable != nil, Comment(rawValue: BPFClang.skipReason)))
    func compiles() throws {
        let dump = try VMLinux.dump.get()
        // Every struct, union, enum and typedef with a unique name: clang checks them all in about a second.
        let asserts = LayoutAsserts.make(for: dump.btf)
        print("vmlinux: \(asserts.count) layout asserts")
        #expect(asserts.count > 50_000)
        for name in ["task_struct", "sk_buff", "xdp_md", "__sk_buff"] {
            #expect(asserts.text.contains("sizeof(struct \(name)) == "), "no layout check for struct \(name)")
        }
        let outcome = try BPFClang.check(dump.header + "\n" + asserts.text)
        #expect(outcome.succeeded, "\(outcome.diagnostics.prefix(4000))")
    }
}
