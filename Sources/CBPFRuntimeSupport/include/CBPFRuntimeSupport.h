// Small C entry points the Swift runtime needs and the Swift standard library does not offer:
// atomic read-modify-write on raw memory that eBPF programs address, and the thread id.
#ifndef CBPF_RUNTIME_SUPPORT_H
#define CBPF_RUNTIME_SUPPORT_H

#include <stdint.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/// The calling thread's id (the kernel's "pid" of a task), for bpf_get_current_pid_tgid.
static inline int64_t cbpf_thread_id(void) {
#if defined(__linux__)
    return (int64_t)syscall(SYS_gettid);
#else
    return 0;
#endif
}

/// Makes freshly written machine code visible to instruction fetch (needed on arm64; a no-op on x86-64).
static inline void cbpf_clear_cache(void *begin, void *end) {
    __builtin___clear_cache((char *)begin, (char *)end);
}

#define CBPF_ATOMIC_OPS(bits)                                                                         \
    static inline uint##bits##_t cbpf_atomic_fetch_add##bits(void *p, uint##bits##_t v) {             \
        return __atomic_fetch_add((uint##bits##_t *)p, v, __ATOMIC_SEQ_CST);                          \
    }                                                                                                 \
    static inline uint##bits##_t cbpf_atomic_fetch_or##bits(void *p, uint##bits##_t v) {              \
        return __atomic_fetch_or((uint##bits##_t *)p, v, __ATOMIC_SEQ_CST);                           \
    }                                                                                                 \
    static inline uint##bits##_t cbpf_atomic_fetch_and##bits(void *p, uint##bits##_t v) {             \
        return __atomic_fetch_and((uint##bits##_t *)p, v, __ATOMIC_SEQ_CST);                          \
    }                                                                                                 \
    static inline uint##bits##_t cbpf_atomic_fetch_xor##bits(void *p, uint##bits##_t v) {             \
        return __atomic_fetch_xor((uint##bits##_t *)p, v, __ATOMIC_SEQ_CST);                          \
    }                                                                                                 \
    static inline uint##bits##_t cbpf_atomic_exchange##bits(void *p, uint##bits##_t v) {              \
        return __atomic_exchange_n((uint##bits##_t *)p, v, __ATOMIC_SEQ_CST);                         \
    }                                                                                                 \
    /* Returns the value that was in memory; stores `desired` only if it equalled `expected`. */      \
    static inline uint##bits##_t cbpf_atomic_compare_exchange##bits(void *p, uint##bits##_t expected,  \
                                                                    uint##bits##_t desired) {         \
        __atomic_compare_exchange_n((uint##bits##_t *)p, &expected, desired, 0, __ATOMIC_SEQ_CST,      \
                                    __ATOMIC_SEQ_CST);                                                \
        return expected;                                                                              \
    }

CBPF_ATOMIC_OPS(32)
CBPF_ATOMIC_OPS(64)

#undef CBPF_ATOMIC_OPS

#endif
