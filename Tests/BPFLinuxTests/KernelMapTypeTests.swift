import BPFLinux
import BPFObject
import BPFTestSupport
import Foundation
import Testing

/// Round trips for the kernel map types KernelMapTests does not cover: device, CPU and socket maps,
/// LRU per-CPU hashes, bloom filters, stack traces, cgroup arrays, socket storage (with BTF), and
/// the types user space can only create (XSK, perf event array, user ring buffer, arena).
@Suite(.requires(Kernel.bpf))
struct KernelMapTypeTests {
    func map(_ type: MapType, key: Int = 4, value: Int = 4, entries: Int = 4, flags: UInt32 = 0, extra: UInt64 = 0) throws -> KernelMap {
        var spec = MapSpec(name: "t_\(type.kernelName)", type: type, keySize: key, valueSize: value, maxEntries: entries, flags: flags)
        spec.mapExtra = extra
        return try KernelMap(spec)
    }

    /// A UDP socket bound to 127.0.0.1 (socket maps take bound sockets).
    func boundUDPSocket() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(result == 0)
        return fd
    }

    @Test func lruPerCPUHash() throws {
        let m = try map(.lruPerCPUHash, value: 8)
        try m.update(key: UInt32(1), value: UInt64(7))
        let values = try #require(try m.perCPUValues(key: UInt32(1), as: UInt64.self))
        #expect(values.count == (try PossibleCPUs.count) && values.allSatisfy { $0 == 7 })
        try m.delete(key: UInt32(1))
        #expect(try m.perCPUValues(key: UInt32(1), as: UInt64.self) == nil)
    }

    @Test func bloomFilter() throws {
        let m = try map(.bloomFilter, key: 0, value: 8, entries: 64, extra: 3)
        #expect(try m.peek() == nil, "an empty filter holds nothing (the all-zero value is looked for)")
        try m.push([UInt8](repeating: 0, count: 8))
        #expect(try m.peek() != nil)
    }

    @Test func devmapAndDevmapHash() throws {
        for type in [MapType.devmap, .devmapHash] {
            let m = try map(type)
            try m.update(key: UInt32(0), value: UInt32(1))   // ifindex 1: loopback
            #expect(try m.lookup(key: UInt32(0), as: UInt32.self) == 1)
            try m.delete(key: UInt32(0))
            #expect(try m.lookup(key: UInt32(0), as: UInt32.self) == nil)
        }
    }

    @Test func cpumap() throws {
        let m = try map(.cpumap, entries: 1)
        try m.update(key: UInt32(0), value: UInt32(192))   // queue size
        #expect(try m.lookup(key: UInt32(0), as: UInt32.self) == 192)
        try m.delete(key: UInt32(0))
    }

    @Test func stackTraceStartsEmpty() throws {
        let m = try map(.stackTrace, value: 8 * 16, entries: 16)
        #expect(try m.lookup(key: [0, 0, 0, 0]) == nil)
        #expect(try m.keys().isEmpty)
    }

    @Test func sockmapAndSockhash() throws {
        for type in [MapType.sockmap, .sockhash] {
            let m = try map(type, value: 8)
            let fd = try boundUDPSocket()
            defer { close(fd) }
            try m.update(key: UInt32(3), value: UInt64(fd))
            let cookie = try #require(try m.lookup(key: UInt32(3), as: UInt64.self), "lookups return the socket cookie")
            #expect(cookie != 0)
            try m.delete(key: UInt32(3))
            #expect(try m.lookup(key: UInt32(3), as: UInt64.self) == nil)
        }
    }

    /// Cgroup arrays hold cgroup v2 fds.
    @Test(.requires(Kernel.cgroup2))
    func cgroupArray() throws {
        let m = try map(.cgroupArray, entries: 1)
        let fd = open(try #require(Cgroup.unifiedMountPoint()), O_RDONLY)
        try #require(fd >= 0, "cannot open the cgroup v2 mount")
        defer { close(fd) }
        try m.update(key: UInt32(0), value: UInt32(fd))
        try m.delete(key: UInt32(0))
        let again = #expect(throws: BPFError.self) { try m.delete(key: UInt32(0)) }
        #expect(again?.errno == .ENOENT)
    }

    @Test func socketStorageWithBTF() throws {
        // sk_storage needs BTF for its key and value: take the types of a fixture's BTF.
        let object = try ObjectFile(bytes: TestPaths.bytes("Tests/Fixtures/bpf/obj/maps_hash_array.o"))
        let local = try #require(object.btf)
        var encoder = BTFEncoder(types: KernelObject.sanitisedTypes(object))
        let btf = try KernelBTF.load(encoder.encoded())
        let key = try #require(object.map(named: "proto_packets")?.keyType)     // __u32
        let value = try #require(object.map(named: "proto_packets")?.valueType) // __u64
        #expect(try local.size(of: key) == 4 && local.size(of: value) == 8)
        var spec = MapSpec(name: "sk_store", type: .skStorage, keySize: 4, valueSize: 8, maxEntries: 0, flags: KernelMap.Flag.noPrealloc)
        spec.keyType = key
        spec.valueType = value
        let m = try KernelMap(spec, btf: btf)
        let fd = try boundUDPSocket()
        defer { close(fd) }
        try m.update(key: UInt32(fd), value: UInt64(0xfeed))
        #expect(try m.lookup(key: UInt32(fd), as: UInt64.self) == 0xfeed)
        try m.delete(key: UInt32(fd))
        #expect(try m.lookup(key: UInt32(fd), as: UInt64.self) == nil)
    }

    @Test func createOnlyTypes() throws {
        // User space cannot store into these without sockets or perf events of the right kind; creating
        // them and reading their info back is the round trip.
        let cpus = try PossibleCPUs.count
        let cases: [(MapType, Int, Int, Int, UInt32)] = [
            (.xskmap, 4, 4, 4, 0),
            (.perfEventArray, 4, 4, cpus, 0),
            (.userRingBuffer, 0, 0, 4096 * 4, 0),
        ]
        for (type, key, value, entries, flags) in cases {
            let m = try map(type, key: key, value: value, entries: entries, flags: flags)
            let info = try m.info()
            #expect(info.type == type && info.maxEntries == entries, "\(type)")
        }
    }

    @Test(.requires(Kernel.creates(.arena)))
    func arenaCreates() throws {
        let m = try map(.arena, key: 0, value: 0, entries: 4, flags: KernelMap.Flag.mmapable)
        let info = try m.info()
        #expect(info.type == .arena && info.maxEntries == 4)
    }

    /// The arena fixture's programs in the kernel, with the results they give in the Swift runtime
    /// (ArenaRuntimeTests): where the kernel creates arena maps (this one is skipped elsewhere).
    @Test(.requires(Kernel.creates(.arena)))
    func arenaProgramsRun() throws {
        let object = try ObjectFile(bytes: TestPaths.bytes("Tests/BPFVerifierTests/Fixtures/arena/arena.o"))
        var options = KernelLoadOptions()
        options.programs = ["list_push", "free_page", "walk_pages"]
        let loaded = try KernelObject(object, options: options)
        for name in ["list_push", "free_page", "walk_pages"] {
            let program = try #require(loaded.program(named: name))
            #expect(try program.testRun().returnValue == 0, "\(name)")
        }
    }
}
