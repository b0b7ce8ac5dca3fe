/// Why an object file could not be read: the place (section, symbol, instruction) and the cause.
///
/// ```swift
/// do { _ = try ObjectFile(bytes: data) } catch let error as ObjectError { print(error) }
/// // section 'xdp' (index 3): relocation 2 names symbol 'counts', which is in no map section
/// ```
public struct ObjectError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Where the problem is, e.g. `section '.maps'` or `ELF header`.
    public var place: String
    /// What is wrong.
    public var message: String

    public init(_ place: String, _ message: String) {
        self.place = place
        self.message = message
    }

    public var description: String { "\(place): \(message)" }
}

/// Little-endian reads that throw instead of trapping when the data is short.
struct ByteReader {
    let bytes: [UInt8]
    let place: String

    init(_ bytes: [UInt8], place: String) {
        self.bytes = bytes
        self.place = place
    }

    func check(_ offset: Int, _ size: Int) throws(ObjectError) {
        guard offset >= 0, size >= 0, offset <= bytes.count, size <= bytes.count - offset else {
            throw ObjectError(place, "read of \(size) bytes at offset \(offset) is past the end (\(bytes.count) bytes)")
        }
    }

    func u8(_ offset: Int) throws(ObjectError) -> UInt8 {
        try check(offset, 1)
        return bytes[offset]
    }

    func u16(_ offset: Int) throws(ObjectError) -> UInt16 {
        try check(offset, 2)
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    func u32(_ offset: Int) throws(ObjectError) -> UInt32 {
        try check(offset, 4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[offset + i]) << (8 * i) }
        return v
    }

    func u64(_ offset: Int) throws(ObjectError) -> UInt64 {
        try check(offset, 8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[offset + i]) << (8 * i) }
        return v
    }

    func slice(_ offset: Int, _ size: Int) throws(ObjectError) -> [UInt8] {
        try check(offset, size)
        return Array(bytes[offset..<(offset + size)])
    }

    /// A NUL-terminated string starting at `offset`.
    func cString(_ offset: Int) throws(ObjectError) -> String {
        try check(offset, 0)
        var end = offset
        while end < bytes.count && bytes[end] != 0 { end += 1 }
        guard end < bytes.count else { throw ObjectError(place, "string at offset \(offset) is not terminated") }
        return String(decoding: bytes[offset..<end], as: UTF8.self)
    }
}
