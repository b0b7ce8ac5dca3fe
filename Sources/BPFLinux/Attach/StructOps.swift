import BPFObject
import CBPFLinuxSupport

extension KernelObject {
    /// Registers struct_ops map `name` with the kernel — the TCP congestion control, scheduler, ...
    /// it defines becomes available — and returns the registration as a link: releasing it (or
    /// `close()`) unregisters. A `.struct_ops` map is registered by updating its element with the
    /// value the loader prepared (program fds at their members) and unregistered by deleting it; a
    /// `.struct_ops.link` map is updated, then registered through a struct_ops link
    /// (`BPF_LINK_CREATE`, `BPF_STRUCT_OPS`) that unregisters when closed and can be pinned. The
    /// kernel registers a `.struct_ops` map once; a `.struct_ops.link` map can take a new link after
    /// its last one closed.
    ///
    /// ```swift
    /// let loaded = try KernelObject(try ObjectFile(bytes: bytes))
    /// let registration = try loaded.registerStructOps("swiftbpf_cc")
    /// // "swiftbpf_cc" is now in /proc/sys/net/ipv4/tcp_available_congestion_control
    /// registration.close()   // unregistered
    /// ```
    public func registerStructOps(_ name: String) throws(BPFError) -> KernelLink {
        guard let map = map(named: name), let prepared = structOps[name], let spec = object.map(named: name)?.structOps else {
            let names = object.structOpsMaps.map(\.name)
            throw BPFError.invalidArgument("struct_ops map '\(name)': no such struct_ops map (the object has \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
        }
        let place = "struct_ops map '\(name)' (struct \(spec.kernelTypeName))"
        guard let value = prepared.value else {
            throw BPFError.invalidArgument("\(place): cannot be registered: \(prepared.missing ?? "a program is missing")")
        }
        do { try map.update(key: [0, 0, 0, 0], value: value) } catch where spec.isLink && error.errno == .EBUSY {
            // A `.struct_ops.link` map keeps its value once set: registered before (a link since
            // closed), it takes a new link as it is — libbpf skips EBUSY here too.
        } catch {
            var failure = error
            // The kernel checks the value at registration: say what it most likely refused.
            switch error.errno {
            case .EEXIST: failure.message += " — a \(spec.kernelTypeName) of the same name is already registered"
            case .EINVAL: failure.message += " — the kernel refused the value (a required member missing, a data member it does not accept, or a name already in use)"
            case .EBUSY: failure.message += " — the map was registered before: a .struct_ops map registers once (load the object again to register it anew; a .struct_ops.link map can be registered again)"
            default: break
            }
            failure.message = "\(place): registering: " + failure.message
            throw failure
        }
        let target = "struct_ops \(spec.kernelTypeName) \(name)"
        if !spec.isLink {
            return KernelLink(kind: .structOpsMap, fd: nil, target: target) {
                try? map.delete(key: [0, 0, 0, 0])
            }
        }
        var attr = cbpf_link_create_attr()
        attr.prog_fd = try map.fd.checked(.linkCreate)   // the map fd, for BPF_STRUCT_OPS
        attr.attach_type = AttachType.structOps.rawValue
        do {
            return KernelLink(kind: .bpfLink, fd: try BPFSyscall.callReturningFD(.linkCreate, &attr), target: target)
        } catch {
            var failure = error
            failure.message = "\(place): creating its struct_ops link: " + failure.message
            throw failure
        }
    }

    /// Registers every struct_ops map of the object, in its order (see `registerStructOps(_:)`), as a
    /// skeleton's attach does; if one fails, those registered by this call are unregistered.
    public func registerAllStructOps() throws(BPFError) -> [KernelLink] {
        var links: [KernelLink] = []
        for spec in object.structOpsMaps {
            do { links.append(try registerStructOps(spec.name)) } catch {
                for link in links { link.close() }
                throw error
            }
        }
        return links
    }
}
