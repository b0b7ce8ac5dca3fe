/// Packets the tests feed to programs.
public enum Frames {
    /// Ethernet + IPv4 (192.168.0.1 → 192.168.0.2, protocol `proto`) padded with zeros to `length` bytes.
    public static func ipv4(length: Int, proto: UInt8 = 6, destination: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]) -> [UInt8] {
        var f = [UInt8](repeating: 0, count: length)
        f.replaceSubrange(0..<6, with: destination)
        f.replaceSubrange(6..<12, with: [0x02, 0, 0, 0, 0, 0x01])
        f[12] = 0x08; f[13] = 0x00
        f[14] = 0x45
        let total = UInt16(length - 14)
        f[16] = UInt8(total >> 8); f[17] = UInt8(total & 0xff)
        f[22] = 64; f[23] = proto
        f.replaceSubrange(26..<30, with: [192, 168, 0, 1])
        f.replaceSubrange(30..<34, with: [192, 168, 0, 2])
        return f
    }

    /// A 42-byte ARP request.
    public static let arp: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x06]
        + [0, 1, 0x08, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 0x01, 192, 168, 0, 1, 0, 0, 0, 0, 0, 0, 192, 168, 0, 2]
}
