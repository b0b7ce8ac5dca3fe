import CBPFLinuxSupport

extension KernelProgram {
    /// Attaches a socket filter program to the socket `socket` (`SO_ATTACH_BPF`). The returned link
    /// detaches it (`SO_DETACH_BPF`) when released; it does not own the socket, which must stay open
    /// as long as the link.
    ///
    /// ```swift
    /// let link = try program.attachSocketFilter(socket: fd)
    /// ```
    public func attachSocketFilter(socket: Int32) throws(BPFError) -> KernelLink {
        let result = cbpf_socket_attach_bpf(socket, Int32(bitPattern: try fd.checked()))
        guard result == 0 else {
            throw BPFError.system("setsockopt(\(socket), SO_ATTACH_BPF, program \(name) (\(type)))", errno: -result,
                                  hint: "the fd must be a socket and the program a socket_filter")
        }
        return KernelLink(kind: .socketFilter, fd: nil, target: "socket filter on fd \(socket)", retaining: []) {
            _ = cbpf_socket_detach_bpf(socket)
        }
    }
}
