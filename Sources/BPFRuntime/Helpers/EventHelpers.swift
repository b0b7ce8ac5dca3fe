/// Events to user space: `bpf_ringbuf_output`, `reserve`, `submit`, `discard`, `query` and
/// `bpf_perf_event_output`.
enum EventHelpers {
    static let einval = UInt64(bitPattern: -22)

    static func ring(_ call: borrowing HelperCall, argument n: Int = 1) throws(HelperError) -> RingBufferMap {
        guard let ring = call.map(handle: call.argument(n)) as? RingBufferMap else {
            throw HelperError("argument \(n) (0x\(String(call.argument(n), radix: 16))) is not a ring buffer map")
        }
        return ring
    }

    /// The ring buffer a reserved record belongs to (records are only ever inside one ring's data).
    static func owner(of record: UInt64, _ call: borrowing HelperCall) throws(HelperError) -> RingBufferMap {
        for map in call.state.pointee.maps {
            if let ring = map as? RingBufferMap {
                let base = UInt64(UInt(bitPattern: ring.data.baseAddress!))
                if record >= base && record < base + UInt64(ring.data.count) { return ring }
            }
        }
        throw HelperError("0x\(String(record, radix: 16)) is not a ring buffer record")
    }

    static let all: [Helper] = [
        Helper(id: KernelHelperID.ringbufReserve, name: "bpf_ringbuf_reserve") { call in
            let ring = try ring(call)
            let size = Int(call.argument(2))
            guard call.argument(3) == 0, size > 0, let record = ring.reserve(size) else { return 0 }
            call.grant(ring.region(record: record, length: size))
            return UInt64(UInt(bitPattern: record))
        },
        Helper(id: KernelHelperID.ringbufSubmit, name: "bpf_ringbuf_submit") { call in
            let ring = try owner(of: call.argument(1), call)
            do throws(MapError) { try ring.commit(UnsafeRawPointer(bitPattern: UInt(call.argument(1)))!, discard: false) } catch { throw HelperError(error.description) }
            return 0
        },
        Helper(id: KernelHelperID.ringbufDiscard, name: "bpf_ringbuf_discard") { call in
            let ring = try owner(of: call.argument(1), call)
            do throws(MapError) { try ring.commit(UnsafeRawPointer(bitPattern: UInt(call.argument(1)))!, discard: true) } catch { throw HelperError(error.description) }
            return 0
        },
        Helper(id: KernelHelperID.ringbufOutput, name: "bpf_ringbuf_output") { call in
            let ring = try ring(call)
            let size = Int(call.argument(3))
            guard call.argument(4) & ~3 == 0 else { return einval }
            let data = try call.memory(at: call.argument(2), size: size, write: false)
            return ring.output(UnsafeRawBufferPointer(start: data, count: size)) ? 0 : UInt64(bitPattern: -11)
        },
        Helper(id: KernelHelperID.ringbufQuery, name: "bpf_ringbuf_query") { call in
            let ring = try ring(call)
            switch call.argument(2) {
            case 0: return ring.available
            case 1: return UInt64(ring.size)
            case 2: return ring.consumerPosition
            case 3: return ring.producerPosition
            default: return 0
            }
        },
        Helper(id: KernelHelperID.perfEventOutput, name: "bpf_perf_event_output") { call in
            guard let perf = call.map(handle: call.argument(2)) as? PerfEventArrayMap else {
                throw HelperError("argument 2 (0x\(String(call.argument(2), radix: 16))) is not a perf event array")
            }
            let flags = call.argument(3)
            let indexBits = flags & 0xffff_ffff
            let contextLength = Int((flags >> 32) & 0xfffff)
            guard flags >> 52 == 0 else { return einval }
            let index = indexBits == 0xffff_ffff ? call.cpu : Int(indexBits)
            var bytes = try call.read(at: call.argument(4), size: Int(call.argument(5)))
            if contextLength > 0 {
                // Packet programs may append the packet's first bytes (BPF_F_CTXLEN_MASK).
                guard let packet = call.environment?.packet else { return einval }
                bytes += packet.bytes.prefix(contextLength)
            }
            return MapHelpers.errno { () throws(MapError) in try perf.output(index: index, bytes) }
        },
    ]
}

/// Control flow and synchronisation: `bpf_tail_call`, `bpf_loop`, `bpf_for_each_map_elem`,
/// `bpf_spin_lock` and `bpf_spin_unlock`.
enum ControlHelpers {
    static let einval = UInt64(bitPattern: -22)
    /// The most iterations `bpf_loop` allows (1 << 23), as in Linux.
    static let maxLoops: UInt64 = 1 << 23

    static let all: [Helper] = [
        Helper(id: KernelHelperID.tailCall, name: "bpf_tail_call") { call in
            guard let array = call.map(handle: call.argument(2)) as? ProgramArrayMap else {
                throw HelperError("argument 2 (0x\(String(call.argument(2), radix: 16))) is not a program array")
            }
            // On success the target replaces the program; on failure the program goes on.
            guard let target = array.slotProgram( Int(UInt32(truncatingIfNeeded: call.argument(3)))) else { return UInt64(bitPattern: -2) }
            guard call.requestTailCall(target.interpreter, maps: target.maps) else { return UInt64(bitPattern: -7) }
            call.setTailCallContext(call.argument(1))
            return 0
        },
        Helper(id: KernelHelperID.loop, name: "bpf_loop") { call in
            let count = call.argument(1)
            guard call.argument(4) == 0 else { return einval }
            guard count <= maxLoops else { return UInt64(bitPattern: -7) }
            var i: UInt64 = 0
            while i < count {
                let result = try call.invokeCallback(call.argument(2), i, call.argument(3))
                i += 1
                if result == 1 { break }
            }
            return i
        },
        Helper(id: KernelHelperID.forEachMapElem, name: "bpf_for_each_map_elem") { call in
            guard let map = call.map(handle: call.argument(1)) else {
                throw HelperError("argument 1 (0x\(String(call.argument(1), radix: 16))) is not a map")
            }
            guard call.argument(4) == 0 else { return einval }
            let callback = call.argument(2), context = call.argument(3)
            let mapHandle = call.argument(1)
            let cpu = map.spec.type.isPerCPU ? call.cpu : 0
            let scratch = call.scratchBuffer(max(map.spec.keySize, 8))
            let keyAddress = UInt64(UInt(bitPattern: scratch.baseAddress!))
            func visit(_ key: UnsafeRawPointer, _ value: UnsafeMutableRawPointer) throws -> Bool {
                scratch.baseAddress!.copyMemory(from: key, byteCount: map.spec.keySize)
                let result = try call.invokeCallback(callback, mapHandle, keyAddress, UInt64(UInt(bitPattern: value)), context)
                return result != 0
            }
            if let array = map as? ArrayMap {
                return UInt64(try array.forEachElement(cpu: cpu) { index, value in
                    try withUnsafeBytes(of: index) { try visit($0.baseAddress!, value) }
                })
            }
            if let hash = map as? HashMap {
                return UInt64(try hash.forEachElement(cpu: cpu, visit))
            }
            return einval
        },
        Helper(id: KernelHelperID.spinLock, name: "bpf_spin_lock") { call in
            let word = try call.memory(at: call.argument(1), size: 4, write: true)
            guard call.argument(1) % 4 == 0 else { throw HelperError("bpf_spin_lock: misaligned lock at 0x\(String(call.argument(1), radix: 16))") }
            guard call.state.pointee.heldSpinLock == nil else { throw HelperError("bpf_spin_lock: the program already holds a spin lock") }
            guard !call.regions.pointee.stack.contains(UInt(call.argument(1)), UInt(call.argument(1)) + 4) else {
                throw HelperError("bpf_spin_lock: the lock at 0x\(String(call.argument(1), radix: 16)) is on the stack; locks live in map values")
            }
            guard SpinLock.lock(word) else {
                throw HelperError("bpf_spin_lock: the lock at 0x\(String(call.argument(1), radix: 16)) stayed held (a deadlock, or a lock word set by a plain store)")
            }
            call.state.pointee.heldSpinLock = word
            return 0
        },
        Helper(id: KernelHelperID.spinUnlock, name: "bpf_spin_unlock") { call in
            let word = try call.memory(at: call.argument(1), size: 4, write: true)
            guard call.state.pointee.heldSpinLock == word else { throw HelperError("bpf_spin_unlock: the program does not hold this lock") }
            SpinLock.unlock(word)
            call.state.pointee.heldSpinLock = nil
            return 0
        },
    ]
}
