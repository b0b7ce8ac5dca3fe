/// `may_goto` programs shared by the runtime's and the verifier's tests.
public enum MayGotoPrograms {
    /// A loop bounded only by may_goto that stops at the first zero byte of its 16-byte input
    /// (r0 = its index), or gives up when the budget runs out (r0 = 0xffff).
    public static let scan = """
        mov %r3, 0
        loop:
        may_goto out
        mov %r4, %r3
        and %r4, 15
        mov %r5, %r1
        add %r5, %r4
        ldxb %r5, [%r5]
        jeq %r5, 0, found
        add %r3, 1
        ja loop
        found:
        mov %r0, %r3
        exit
        out:
        mov %r0, 0xffff
        exit
        """
}
