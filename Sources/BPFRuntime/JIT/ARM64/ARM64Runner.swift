/// The C source of the static AArch64 runner that ``ARM64Emulator`` builds with clang
/// (`--target=aarch64-linux-gnu -static -nostdlib -fuse-ld=lld`) and runs under `qemu-aarch64`.
/// No libc: a tiny `_start` and raw system calls.
///
/// Protocol (little-endian 64-bit words on stdin, one job after another, a zero magic ends):
/// a 20-word header — magic, code length, memory length, instruction-slot count, instruction
/// budget, memory address (0: anywhere), then the frame's layout (size, savedRSP, budget,
/// registers, callLimit, virtualLow, virtualLength, loadRegions, storeRegions, regionCount,
/// regionEntryBytes, serviceSlot, stack bytes, stack bytes per frame) — then the code, the memory
/// and the instruction slots, each padded to 8 bytes. The runner maps the code executable, fills a
/// ``JITFrame`` (r1 the memory, r2 its length, r10 the stack's top; regions: the memory and the
/// stack), puts its service's address in the frame and calls the code. Its service does what
/// ``JITRuntime/service(_:pc:)`` does for the conformance helpers (id 5, `unwind`): helper calls,
/// accesses the inline checks refused (an error, or the access when allowed), legacy packet loads
/// over the memory, and the errors. For each job it writes at once an 8-word result — magic,
/// status (0 finished, 1 error), r0, error kind, pc, two details, memory length — and the memory.
enum ARM64Runner {
    static let jobMagic: UInt64 = 0x0141_3634_4150_4253
    static let resultMagic: UInt64 = 0x0252_3634_4150_4253
    static let headerWords = 20
    static let resultWords = 8

    /// Error kinds the runner reports.
    enum ErrorKind: UInt64 { case outOfBounds = 1, misaligned, limit, depth, unknownHelper, fellOff, unsupported }

    static let source = #"""
    /* SwiftBPF's arm64 runner: runs JIT code for one job after another (see ARM64Runner.swift). */
    typedef unsigned long u64; typedef long i64; typedef unsigned int u32; typedef int i32;
    typedef unsigned short u16; typedef short i16; typedef unsigned char u8; typedef signed char i8;

    __asm__(".global _start\n_start:\n mov x29, #0\n mov x30, #0\n bl runner_main\n mov x8, #94\n svc #0\n");

    static i64 sys6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f) {
        register i64 x8 __asm__("x8") = n; register i64 x0 __asm__("x0") = a; register i64 x1 __asm__("x1") = b;
        register i64 x2 __asm__("x2") = c; register i64 x3 __asm__("x3") = d; register i64 x4 __asm__("x4") = e;
        register i64 x5 __asm__("x5") = f;
        __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
        return x0;
    }
    #define SYS_read 63
    #define SYS_write 64
    #define SYS_munmap 215
    #define SYS_mmap 222
    #define SYS_mprotect 226

    void *memset(void *d, int c, u64 n) { u8 *p = d; while (n--) *p++ = (u8)c; return d; }
    void *memcpy(void *d, const void *s, u64 n) { u8 *p = d; const u8 *q = s; while (n--) *p++ = *q++; return d; }

    static int read_exact(void *buf, u64 n) {
        u8 *p = buf;
        while (n) { i64 got = sys6(SYS_read, 0, (i64)p, (i64)n, 0, 0, 0); if (got <= 0) return -1; p += got; n -= (u64)got; }
        return 0;
    }
    static int write_all(const void *buf, u64 n) {
        const u8 *p = buf;
        while (n) { i64 put = sys6(SYS_write, 1, (i64)p, (i64)n, 0, 0, 0); if (put <= 0) return -1; p += put; n -= (u64)put; }
        return 0;
    }
    static void *map(u64 address, u64 n) {
        if (n == 0) n = 1;
        /* PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS (|MAP_FIXED_NOREPLACE at a given address) */
        i64 p = sys6(SYS_mmap, (i64)address, (i64)n, 3, address ? 0x100022 : 0x22, -1, 0);
        if (p < 0 && p > -4096) return 0;
        return (void *)p;
    }
    static u64 pad8(u64 n) { return (n + 7) & ~7UL; }

    enum { H_MAGIC, H_CODE, H_MEM, H_SLOTS, H_BUDGET, H_ADDR, H_FRAME, H_SAVEDSP, H_BUDGETOFF, H_REGS, H_CALLLIMIT,
           H_VLOW, H_VLEN, H_LOADREG, H_STOREREG, H_REGCOUNT, H_REGBYTES, H_SERVICE, H_STACK, H_PERFRAME, H_WORDS };

    static u64 hdr[H_WORDS];
    static u64 *slots; static u8 *mem; static u64 mem_len; static u8 *stack;
    static u64 err_kind, err_pc, err_a, err_b;

    static u64 fail(u64 kind, u64 pc, u64 a, u64 b) { err_kind = kind; err_pc = pc; err_a = a; err_b = b; return 3; }

    static int within(u64 a, u64 size, u64 start, u64 len) { return len && a >= start && a <= start + len - size && size <= len; }
    static int allowed(u64 a, u64 size) {
        return within(a, size, (u64)mem, mem_len) || within(a, size, (u64)stack, hdr[H_STACK]);
    }

    static u64 service(u8 *frame, u32 pc) {
        u64 *r = (u64 *)(frame + hdr[H_REGS]);
        if (pc >= hdr[H_SLOTS]) return fail(6, pc, 0, 0);
        u64 ins = slots[pc];
        u32 opcode = ins & 0xff, dst = (ins >> 8) & 0xf, src = (ins >> 12) & 0xf;
        i64 off = (i16)(ins >> 16); i64 imm = (i32)(ins >> 32);
        u32 cls = opcode & 7;
        static const u64 sizes[4] = {4, 2, 1, 8};
        u64 size = sizes[(opcode >> 3) & 3];
        if (cls == 1 || cls == 2 || cls == 3) {
            if (dst > 10 || src > 10) return fail(7, pc, 0, 0);
            u64 a = r[cls == 1 ? src : dst] + (u64)off;
            int write = cls != 1;
            if (!allowed(a, size)) return fail(1, pc, a, size | (u64)write << 8);
            if (cls == 3 && (opcode & 0xe0) == 0xc0) return fail(a % size ? 2 : 7, pc, a, size);
            if (cls == 1) {
                int sx = (opcode & 0xe0) == 0x80;
                switch (size) {
                case 1: r[dst] = sx ? (u64)(i64)*(i8 *)a : *(u8 *)a; break;
                case 2: r[dst] = sx ? (u64)(i64)*(i16 *)a : *(u16 *)a; break;
                case 4: r[dst] = sx ? (u64)(i64)*(i32 *)a : *(u32 *)a; break;
                default: r[dst] = *(u64 *)a;
                }
            } else {
                u64 v = cls == 2 ? (u64)imm : r[src];
                switch (size) {
                case 1: *(u8 *)a = (u8)v; break;
                case 2: *(u16 *)a = (u16)v; break;
                case 4: *(u32 *)a = (u32)v; break;
                default: *(u64 *)a = v;
                }
            }
            return 0;
        }
        if (cls == 0) {
            /* Legacy packet loads over the memory: out of bounds ends the program with r0 = 0. */
            i64 o = imm;
            if (opcode >= 0x40) o += (i64)r[src];
            if (!mem_len || o < 0 || o > (i64)mem_len - (i64)size) { r[0] = 0; return 1; }
            u8 *p = mem + o;
            if (size == 1) r[0] = p[0];
            else if (size == 2) r[0] = (u64)p[0] << 8 | p[1];
            else r[0] = (u64)p[0] << 24 | (u64)p[1] << 16 | (u64)p[2] << 8 | p[3];
            return 0;
        }
        if (opcode == 0x85 && src == 1) return fail(4, pc, 0, 0);
        if (opcode == 0x85 || opcode == 0x8d) {
            i64 id = opcode == 0x85 ? imm : (i64)r[dst];
            if (id == 5) { r[0] = r[1]; return r[1] == 0 ? 1 : 0; }
            return fail(5, pc, (u64)id, 0);
        }
        return fail(3, pc, 0, 0);
    }

    static void set_region(u8 *frame, u64 table, u64 index, u64 start, u64 len) {
        u64 *e = (u64 *)(frame + table + index * hdr[H_REGBYTES]);
        u64 end = start + len;
        e[0] = len == 0 ? ~0UL : start;
        e[1] = len >= 1 ? end - 1 : 0; e[2] = len >= 2 ? end - 2 : 0;
        e[3] = len >= 4 ? end - 4 : 0; e[4] = len >= 8 ? end - 8 : 0;
    }

    static void flush(u8 *p, u64 n) {
        for (u64 i = 0; i < n; i += 4) __asm__ volatile("dc cvau, %0" :: "r"(p + i) : "memory");
        __asm__ volatile("dsb ish" ::: "memory");
        for (u64 i = 0; i < n; i += 4) __asm__ volatile("ic ivau, %0" :: "r"(p + i) : "memory");
        __asm__ volatile("dsb ish\nisb" ::: "memory");
    }

    int runner_main(void) {
        for (;;) {
            if (read_exact(hdr, sizeof hdr) != 0 || hdr[H_MAGIC] != 0x0141363441504253UL) return 0;
            u64 code_len = hdr[H_CODE], slot_bytes = hdr[H_SLOTS] * 8;
            mem_len = hdr[H_MEM];
            u8 *code = map(0, pad8(code_len));
            u8 *memory = map(hdr[H_ADDR], pad8(mem_len));
            slots = map(0, slot_bytes);
            u8 *frame = map(0, hdr[H_FRAME]);
            stack = map(0, hdr[H_STACK]);
            if (!code || !memory || !slots || !frame || !stack) return 2;
            if (read_exact(code, pad8(code_len)) || read_exact(memory, pad8(mem_len)) || read_exact(slots, slot_bytes)) return 3;
            flush(code, code_len);
            if (sys6(SYS_mprotect, (i64)code, (i64)pad8(code_len), 5, 0, 0, 0) != 0) return 4;
            mem = mem_len ? memory : 0;
            u64 *r = (u64 *)(frame + hdr[H_REGS]);
            r[1] = (u64)mem; r[2] = mem_len; r[10] = (u64)stack + hdr[H_STACK];
            *(u64 *)(frame + hdr[H_BUDGETOFF]) = hdr[H_BUDGET];
            *(u64 *)(frame + hdr[H_CALLLIMIT]) = (u64)stack + 2 * hdr[H_PERFRAME];
            for (u64 t = 0; t < 2; t++) {
                u64 table = t ? hdr[H_STOREREG] : hdr[H_LOADREG];
                set_region(frame, table, 0, 0, 0);
                set_region(frame, table, 1, (u64)mem, mem_len);
                set_region(frame, table, 2, (u64)stack, hdr[H_STACK]);
                for (u64 i = 3; i < hdr[H_REGCOUNT]; i++) set_region(frame, table, i, 0, 0);
            }
            *(u64 *)(frame + hdr[H_SERVICE]) = (u64)&service;
            err_kind = 0;
            u64 r0 = ((u64 (*)(u8 *))code)(frame);
            u64 out[8] = {0x0252363441504253UL, err_kind ? 1 : 0, r0, err_kind, err_pc, err_a, err_b, mem_len};
            if (write_all(out, sizeof out) || write_all(memory, pad8(mem_len))) return 5;
            sys6(SYS_munmap, (i64)code, (i64)pad8(code_len), 0, 0, 0, 0);
            sys6(SYS_munmap, (i64)memory, (i64)(mem_len ? pad8(mem_len) : 1), 0, 0, 0, 0);
            sys6(SYS_munmap, (i64)slots, (i64)(slot_bytes ? slot_bytes : 1), 0, 0, 0, 0);
            sys6(SYS_munmap, (i64)frame, (i64)hdr[H_FRAME], 0, 0, 0, 0);
            sys6(SYS_munmap, (i64)stack, (i64)hdr[H_STACK], 0, 0, 0, 0);
        }
    }
    """#
}
