// A host program with USDT probes written by hand (no <sys/sdt.h>): each probe is a nop whose
// address, with its arguments' locations as the compiler chose them, goes into a .note.stapsdt note.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SWIFTBPF_STR(x) #x
#define SWIFTBPF_XSTR(x) SWIFTBPF_STR(x)

// The prelink marker every note records the address of.
__asm__(".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n"
        ".weak _.stapsdt.base\n.hidden _.stapsdt.base\n"
        "_.stapsdt.base: .space 1\n.size _.stapsdt.base,1\n.popsection\n");

// A note: namesz, descsz, type 3, "stapsdt", then pc, base, semaphore, provider, name, arguments.
#define SWIFTBPF_NOTE(provider, name, semaphore, args) \
    "990: nop\n" \
    ".pushsection .note.stapsdt,\"?\",\"note\"\n" \
    ".balign 4\n" \
    ".4byte 992f-991f, 994f-993f, 3\n" \
    "991: .asciz \"stapsdt\"\n" \
    "992: .balign 4\n" \
    "993: .8byte 990b\n" \
    ".8byte _.stapsdt.base\n" \
    ".8byte " semaphore "\n" \
    ".asciz \"" #provider "\"\n" \
    ".asciz \"" #name "\"\n" \
    ".asciz \"" args "\"\n" \
    "994: .balign 4\n" \
    ".popsection\n"

// The semaphore of swiftbpf:gated: the kernel counts attached uprobes in it.
unsigned short swiftbpf_gated_semaphore __attribute__((section(".probes"), used));

__attribute__((noinline)) void fire(int i, long big, short small) {
    volatile long on_stack = big * 2;
    // swiftbpf:args: a constant, a signed int and a short in registers, a long in memory.
    __asm__ __volatile__(SWIFTBPF_NOTE(swiftbpf, args, "0", "-4@$-7 -4@%k[i] -2@%w[s] 8@%[m]")
                         :: [i] "r"(i), [s] "r"(small), [m] "m"(on_stack));
    if (swiftbpf_gated_semaphore)
        __asm__ __volatile__(SWIFTBPF_NOTE(swiftbpf, gated, "swiftbpf_gated_semaphore", "8@%[b]") :: [b] "r"(big));
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3;
    char c;
    if (argc > 2 && read(0, &c, 1) != 1) return 2;
    for (int i = 0; i < n; i++) fire(i, 1000 + i, (short)(-i));
    printf("%d\n", swiftbpf_gated_semaphore);
    return 0;
}
