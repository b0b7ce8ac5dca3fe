// Reading events from the kernel: mmap of ring buffer and perf buffer pages, epoll for wake-ups,
// an eventfd to interrupt a wait, and the acquire/release atomics the ring protocols need.
#ifndef CBPF_LINUX_EVENTS_H
#define CBPF_LINUX_EVENTS_H

#include "CBPFLinuxSupport.h"
#if defined(__linux__)
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <poll.h>
#endif

/// The page size.
static inline long cbpf_page_size(void) {
#if defined(__linux__)
    return sysconf(_SC_PAGESIZE);
#else
    return 4096;
#endif
}

/// mmap(NULL, length, writable ? RW : R, MAP_SHARED, fd, offset): the address, or NULL with *error = errno.
static inline void *cbpf_mmap_shared(int fd, size_t length, int writable, int64_t offset, int *error) {
#if defined(__linux__)
    void *p = mmap(NULL, length, writable ? (PROT_READ | PROT_WRITE) : PROT_READ, MAP_SHARED, fd, (off_t)offset);
    if (p == MAP_FAILED) { *error = errno; return NULL; }
    *error = 0;
    return p;
#else
    (void)fd; (void)length; (void)writable; (void)offset;
    *error = ENOSYS;
    return NULL;
#endif
}

/// munmap(address, length).
static inline void cbpf_munmap(void *address, size_t length) {
#if defined(__linux__)
    munmap(address, length);
#else
    (void)address; (void)length;
#endif
}

/// epoll_create1(EPOLL_CLOEXEC): an fd or -errno.
static inline int cbpf_epoll_create(void) {
#if defined(__linux__)
    int r = epoll_create1(EPOLL_CLOEXEC);
    return r < 0 ? -errno : r;
#else
    return -ENOSYS;
#endif
}

/// epoll_ctl(epfd, EPOLL_CTL_ADD, fd, {EPOLLIN, data = tag}): 0 or -errno.
static inline int cbpf_epoll_add(int epfd, int fd, uint64_t tag) {
#if defined(__linux__)
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = EPOLLIN;
    event.data.u64 = tag;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) < 0 ? -errno : 0;
#else
    (void)epfd; (void)fd; (void)tag;
    return -ENOSYS;
#endif
}

/// epoll_wait(epfd, ..., timeout_ms): the number of ready fds (their tags in `tags`), or -errno.
static inline int cbpf_epoll_wait(int epfd, uint64_t *tags, int capacity, int timeout_ms) {
#if defined(__linux__)
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int n = epoll_wait(epfd, events, capacity, timeout_ms);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) tags[i] = events[i].data.u64;
    return n;
#else
    (void)epfd; (void)tags; (void)capacity; (void)timeout_ms;
    return -ENOSYS;
#endif
}

/// eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK): an fd or -errno.
static inline int cbpf_eventfd(void) {
#if defined(__linux__)
    int r = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return r < 0 ? -errno : r;
#else
    return -ENOSYS;
#endif
}

/// Adds 1 to an eventfd (wakes its waiters).
static inline void cbpf_eventfd_signal(int fd) {
#if defined(__linux__)
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof(one));
    (void)r;
#else
    (void)fd;
#endif
}

/// Resets an eventfd's counter (non-blocking read).
static inline void cbpf_eventfd_drain(int fd) {
#if defined(__linux__)
    uint64_t value;
    ssize_t r = read(fd, &value, sizeof(value));
    (void)r;
#else
    (void)fd;
#endif
}

/// Loads with acquire ordering (pairs with the kernel's smp_store_release).
static inline uint64_t cbpf_load_acquire_u64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_ACQUIRE);
}
static inline uint32_t cbpf_load_acquire_u32(const void *address) {
    return __atomic_load_n((const uint32_t *)address, __ATOMIC_ACQUIRE);
}
/// Stores with release ordering (pairs with the kernel's smp_load_acquire).
static inline void cbpf_store_release_u64(void *address, uint64_t value) {
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_RELEASE);
}

#endif
