import Testing
import BPFObject

/// `SKBAccess` holds its byte sets as constants; these tests derive them again from the field
/// names its comments give (the kernel's `*_is_valid_access` rules), through `SKBLayout.range`.
@Suite struct SKBAccessTests {
    /// Every byte of `struct __sk_buff` but `flow_keys` and the denied fields; the fields written.
    static func derived(_ type: ProgramType) -> (readable: Set<Int>, writable: Set<Int>)? {
        let socketFields = ["family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6", "remote_port", "local_port"]
        let denied: [String], written: [String]
        switch type {
        case .socketFilter:
            (denied, written) = (socketFields + ["tc_classid", "data", "data_end", "data_meta", "tstamp", "wire_len"], ["cb"])
        case .schedCls, .schedAct:
            (denied, written) = (socketFields, ["mark", "queue_mapping", "priority", "tc_index", "cb", "tc_classid", "tstamp"])
        case .cgroupSkb:
            (denied, written) = (["tc_classid", "data_meta", "wire_len"], ["mark", "priority", "cb", "tstamp"])
        case .lwtIn, .lwtOut, .lwtXmit, .lwtSeg6local:
            (denied, written) = (socketFields + ["tc_classid", "data_meta", "tstamp", "wire_len"], ["mark", "priority", "cb"])
        case .skSkb:
            (denied, written) = (["tc_classid", "data_meta", "tstamp", "wire_len", "mark"], ["tc_index", "priority"])
        default:
            return nil
        }
        var readable = Set(0..<SKBLayout.size)
        for name in denied + ["flow_keys"] { readable.subtract(SKBLayout.range(name)) }
        return (readable, Set(written.flatMap { SKBLayout.range($0) }))
    }

    @Test(arguments: [ProgramType.socketFilter, .schedCls, .schedAct, .cgroupSkb, .lwtIn, .lwtOut, .lwtXmit, .lwtSeg6local, .skSkb,
                      .xdp, .kprobe])
    func byteSetsMatchTheFieldNames(_ type: ProgramType) throws {
        let access = SKBAccess(type)
        guard let expected = Self.derived(type) else {
            #expect(access == nil)
            return
        }
        let rules = try #require(access)
        #expect(Set(rules.readable.flatMap { $0 }) == expected.readable)
        #expect(Set(rules.writable.flatMap { $0 }) == expected.writable)
        for offset in 0..<SKBLayout.size {
            #expect(rules.canRead(offset: offset, size: 1) == expected.readable.contains(offset), "\(type) byte \(offset)")
        }
    }
}
