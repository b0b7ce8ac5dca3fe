import BPFObject
import CBPFLinuxSupport

extension KernelMap {
    /// One page of a batch lookup: the entries and the cursor for the next page (nil at the end).
    public struct BatchPage: Sendable, Hashable {
        public var keys: [[UInt8]]
        public var values: [[UInt8]]
        /// Pass to the next `lookupBatch(after:)`; nil when the map has no more entries.
        public var cursor: [UInt8]?
    }

    /// The batch cursor's size: the kernel uses a bucket number (hash) or a key (array); this holds both.
    private var cursorSize: Int { max(keySize, 8) }

    /// `BPF_MAP_LOOKUP_BATCH` (or `BPF_MAP_LOOKUP_AND_DELETE_BATCH` with `delete`): up to `count`
    /// entries after `cursor` (from the start when nil).
    public func lookupBatch(after cursor: [UInt8]? = nil, count: Int, delete: Bool = false, flags: UpdateFlags = []) throws(BPFError) -> BatchPage {
        let command: BPFCommand = delete ? .mapLookupAndDeleteBatch : .mapLookupBatch
        guard count > 0 else { throw BPFError.invalidArgument("batch count must be positive", command: command) }
        let valueSize = userValueSize
        var keys = [UInt8](repeating: 0, count: count * keySize)
        var values = [UInt8](repeating: 0, count: count * valueSize)
        var inBatch = cursor.map { $0 + [UInt8](repeating: 0, count: max(0, cursorSize - $0.count)) }
        var outBatch = [UInt8](repeating: 0, count: cursorSize)
        var attr = cbpf_map_batch_attr()
        attr.map_fd = try fd.checked(command)
        attr.count = UInt32(count)
        attr.elem_flags = flags.rawValue
        var ended = false
        let result = keys.withUnsafeMutableBytes { k in
            values.withUnsafeMutableBytes { v in
                outBatch.withUnsafeMutableBytes { o in
                    withOptionalMutableBytes(&inBatch) { i in
                        attr.keys = address(k.baseAddress)
                        attr.values = address(v.baseAddress)
                        attr.out_batch = address(o.baseAddress)
                        attr.in_batch = address(i)
                        return capture { () throws(BPFError) in try BPFSyscall.call(command, &attr) }
                    }
                }
            }
        }
        do { try result.get() } catch where error.errno == .ENOENT { ended = true }
        let n = Int(attr.count)
        return BatchPage(
            keys: (0..<n).map { Array(keys[$0 * keySize ..< ($0 + 1) * keySize]) },
            values: (0..<n).map { Array(values[$0 * valueSize ..< ($0 + 1) * valueSize]) },
            cursor: ended ? nil : outBatch)
    }

    /// `BPF_MAP_UPDATE_BATCH`: stores every entry; returns how many the kernel stored.
    @discardableResult
    public func updateBatch(_ entries: [(key: [UInt8], value: [UInt8])], flags: UpdateFlags = []) throws(BPFError) -> Int {
        for entry in entries {
            guard entry.key.count == keySize, entry.value.count == userValueSize else {
                throw BPFError.invalidArgument("map \(name): batch entry sizes \(entry.key.count)/\(entry.value.count), the map's are \(keySize)/\(userValueSize)", command: .mapUpdateBatch)
            }
        }
        let keys = entries.flatMap(\.key)
        let values = entries.flatMap(\.value)
        var attr = cbpf_map_batch_attr()
        attr.map_fd = try fd.checked(.mapUpdateBatch)
        attr.count = UInt32(entries.count)
        attr.elem_flags = flags.rawValue
        let result = keys.withUnsafeBytes { k in
            values.withUnsafeBytes { v in
                attr.keys = address(k.baseAddress)
                attr.values = address(v.baseAddress)
                return capture { () throws(BPFError) in try BPFSyscall.call(.mapUpdateBatch, &attr) }
            }
        }
        try result.get()
        return Int(attr.count)
    }

    /// `BPF_MAP_DELETE_BATCH`: deletes every key; returns how many the kernel deleted.
    @discardableResult
    public func deleteBatch(keys: [[UInt8]]) throws(BPFError) -> Int {
        for key in keys where key.count != keySize {
            throw BPFError.invalidArgument("map \(name): key is \(key.count) bytes, the map's keys are \(keySize)", command: .mapDeleteBatch)
        }
        let flat = keys.flatMap { $0 }
        var attr = cbpf_map_batch_attr()
        attr.map_fd = try fd.checked(.mapDeleteBatch)
        attr.count = UInt32(keys.count)
        let result = flat.withUnsafeBytes { k in
            attr.keys = address(k.baseAddress)
            return capture { () throws(BPFError) in try BPFSyscall.call(.mapDeleteBatch, &attr) }
        }
        try result.get()
        return Int(attr.count)
    }
}

@inline(__always)
func withOptionalMutableBytes<R>(_ bytes: inout [UInt8]?, _ body: (UnsafeMutableRawPointer?) -> R) -> R {
    guard bytes != nil else { return body(nil) }
    return bytes!.withUnsafeMutableBytes { body($0.baseAddress) }
}
