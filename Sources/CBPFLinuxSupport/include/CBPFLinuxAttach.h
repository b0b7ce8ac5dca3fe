// Attaching programs: the bpf_attr layouts of the link, attach and raw-tracepoint commands,
// struct bpf_link_info, struct perf_event_attr and the perf_event_open(2) call, and the small libc
// wrappers the attach code needs (ioctl, setsockopt, mount, open). Written from the kernel's UAPI
// field layout (include/uapi/linux/bpf.h, include/uapi/linux/perf_event.h); no kernel headers needed.
#ifndef CBPF_LINUX_ATTACH_H
#define CBPF_LINUX_ATTACH_H

#include "CBPFLinuxSupport.h"
#if defined(__linux__)
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#endif

/// BPF_LINK_CREATE.
struct cbpf_link_create_attr {
    uint32_t prog_fd;        /* or map_fd */
    uint32_t target_fd;      /* or target_ifindex */
    uint32_t attach_type;
    uint32_t flags;
    union {
        /* fentry/fexit/fmod_ret/lsm with a target: the BTF id and a cookie */
        struct { uint32_t target_btf_id; uint32_t pad; CBPF_ALIGNED_U64 cookie; } tracing;
        /* BPF_PERF_EVENT */
        struct { CBPF_ALIGNED_U64 bpf_cookie; } perf_event;
        /* BPF_TCX_INGRESS / EGRESS */
        struct { uint32_t relative_fd; uint32_t pad; CBPF_ALIGNED_U64 expected_revision; } tcx;
        /* BPF_TRACE_ITER */
        struct { CBPF_ALIGNED_U64 iter_info; uint32_t iter_info_len; } iter;
        /* BPF_TRACE_UPROBE_MULTI: a path, and per probe a file offset, a ref_ctr_offset and a cookie */
        struct {
            CBPF_ALIGNED_U64 path;
            CBPF_ALIGNED_U64 offsets;
            CBPF_ALIGNED_U64 ref_ctr_offsets;
            CBPF_ALIGNED_U64 cookies;
            uint32_t cnt;
            uint32_t flags;
            uint32_t pid;
        } uprobe_multi;
    };
};

/// BPF_LINK_UPDATE.
struct cbpf_link_update_attr {
    uint32_t link_fd;
    uint32_t new_prog_fd;
    uint32_t flags;
    uint32_t old_prog_fd;
};

/// BPF_LINK_DETACH.
struct cbpf_link_detach_attr {
    uint32_t link_fd;
};

/// BPF_PROG_ATTACH, BPF_PROG_DETACH.
struct cbpf_prog_attach_attr {
    uint32_t target_fd;      /* or target_ifindex */
    uint32_t attach_bpf_fd;
    uint32_t attach_type;
    uint32_t attach_flags;
    uint32_t replace_bpf_fd;
    uint32_t relative_fd;    /* or relative_id */
    CBPF_ALIGNED_U64 expected_revision;
};

/// BPF_RAW_TRACEPOINT_OPEN.
struct cbpf_raw_tracepoint_attr {
    CBPF_ALIGNED_U64 name;
    uint32_t prog_fd;
    uint32_t pad;
    CBPF_ALIGNED_U64 cookie;
};

/// BPF_ENABLE_STATS.
struct cbpf_enable_stats_attr {
    uint32_t type;
};

/// struct bpf_link_info: the common head and the per-type union as raw 64-bit words (offset 16).
struct cbpf_link_info {
    uint32_t type;
    uint32_t id;
    uint32_t prog_id;
    uint32_t pad;
    CBPF_ALIGNED_U64 words[8];
};

_Static_assert(offsetof(struct cbpf_link_create_attr, tracing.cookie) == 24, "tracing.cookie");
_Static_assert(offsetof(struct cbpf_link_create_attr, perf_event.bpf_cookie) == 16, "perf_event.bpf_cookie");
_Static_assert(offsetof(struct cbpf_link_create_attr, tcx.expected_revision) == 24, "tcx.expected_revision");
_Static_assert(offsetof(struct cbpf_link_create_attr, uprobe_multi.cookies) == 40, "uprobe_multi.cookies");
_Static_assert(offsetof(struct cbpf_link_create_attr, uprobe_multi.pid) == 56, "uprobe_multi.pid");
_Static_assert(offsetof(struct cbpf_prog_attach_attr, expected_revision) == 24, "expected_revision");
_Static_assert(offsetof(struct cbpf_raw_tracepoint_attr, cookie) == 16, "raw_tp cookie");
_Static_assert(offsetof(struct cbpf_link_info, words) == 16, "link info union");

/// struct perf_event_attr (PERF_ATTR_SIZE_VER8, 136 bytes). `flags` holds the bitfield word
/// (disabled, inherit, ..., freq, ...): see `cbpf_perf_flag_*`.
struct cbpf_perf_event_attr {
    uint32_t type;
    uint32_t size;
    uint64_t config;
    uint64_t sample_period;   /* or sample_freq */
    uint64_t sample_type;
    uint64_t read_format;
    uint64_t flags;
    uint32_t wakeup_events;   /* or wakeup_watermark */
    uint32_t bp_type;
    uint64_t config1;         /* kprobe_func, uprobe_path, bp_addr */
    uint64_t config2;         /* kprobe_addr, probe_offset, bp_len */
    uint64_t branch_sample_type;
    uint64_t sample_regs_user;
    uint32_t sample_stack_user;
    int32_t clockid;
    uint64_t sample_regs_intr;
    uint32_t aux_watermark;
    uint16_t sample_max_stack;
    uint16_t reserved2;
    uint32_t aux_sample_size;
    uint32_t reserved3;
    uint64_t sig_data;
    uint64_t config3;
};
_Static_assert(sizeof(struct cbpf_perf_event_attr) == 136, "perf_event_attr size");
_Static_assert(offsetof(struct cbpf_perf_event_attr, flags) == 40, "perf flags");
_Static_assert(offsetof(struct cbpf_perf_event_attr, config1) == 56, "config1");
_Static_assert(offsetof(struct cbpf_perf_event_attr, sample_regs_intr) == 96, "sample_regs_intr");

static const uint64_t cbpf_perf_flag_disabled = 1ull << 0;
static const uint64_t cbpf_perf_flag_inherit = 1ull << 1;
static const uint64_t cbpf_perf_flag_exclude_kernel = 1ull << 5;
static const uint64_t cbpf_perf_flag_freq = 1ull << 10;
static const uint64_t cbpf_perf_flag_watermark = 1ull << 14;

/// perf_event_open(attr, pid, cpu, group_fd, flags | PERF_FLAG_FD_CLOEXEC): an fd or -errno.
static inline int cbpf_perf_event_open(struct cbpf_perf_event_attr *attr, int pid, int cpu, int group_fd, unsigned long flags) {
#if defined(__linux__) && defined(SYS_perf_event_open)
    attr->size = sizeof(*attr);
    long r = syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags | 8UL /* PERF_FLAG_FD_CLOEXEC */);
    return r < 0 ? -errno : (int)r;
#else
    (void)attr; (void)pid; (void)cpu; (void)group_fd; (void)flags;
    return -ENOSYS;
#endif
}

/// PERF_EVENT_IOC_ENABLE, _DISABLE, _SET_BPF.
static const unsigned long cbpf_perf_ioc_enable = 0x2400;
static const unsigned long cbpf_perf_ioc_disable = 0x2401;
static const unsigned long cbpf_perf_ioc_set_bpf = 0x40042408;

/// ioctl(fd, request, arg): the result or -errno.
static inline int cbpf_ioctl(int fd, unsigned long request, unsigned long arg) {
#if defined(__linux__)
    int r = ioctl(fd, request, arg);
    return r < 0 ? -errno : r;
#else
    (void)fd; (void)request; (void)arg;
    return -ENOSYS;
#endif
}

/// setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd): 0 or -errno.
static inline int cbpf_socket_attach_bpf(int socket_fd, int prog_fd) {
#if defined(__linux__)
    return setsockopt(socket_fd, SOL_SOCKET, 50 /* SO_ATTACH_BPF */, &prog_fd, sizeof(prog_fd)) < 0 ? -errno : 0;
#else
    (void)socket_fd; (void)prog_fd;
    return -ENOSYS;
#endif
}

/// setsockopt(fd, SOL_SOCKET, SO_DETACH_BPF): 0 or -errno.
static inline int cbpf_socket_detach_bpf(int socket_fd) {
#if defined(__linux__)
    int zero = 0;
    return setsockopt(socket_fd, SOL_SOCKET, 27 /* SO_DETACH_BPF */, &zero, sizeof(zero)) < 0 ? -errno : 0;
#else
    (void)socket_fd;
    return -ENOSYS;
#endif
}

/// mount(source, target, fstype, 0, NULL): 0 or -errno.
static inline int cbpf_mount(const char *source, const char *target, const char *fstype) {
#if defined(__linux__)
    return mount(source, target, fstype, 0, NULL) < 0 ? -errno : 0;
#else
    (void)source; (void)target; (void)fstype;
    return -ENOSYS;
#endif
}

/// open(path, O_RDONLY | O_CLOEXEC [| O_DIRECTORY]): an fd or -errno.
static inline int cbpf_open_readonly(const char *path, int directory) {
#if defined(__linux__)
    int r = open(path, O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
    return r < 0 ? -errno : r;
#else
    (void)path; (void)directory;
    return -ENOSYS;
#endif
}

/// read(fd, buffer, count): the byte count or -errno.
static inline long cbpf_read(int fd, void *buffer, long count) {
#if defined(__linux__)
    ssize_t r = read(fd, buffer, (size_t)count);
    return r < 0 ? -errno : (long)r;
#else
    (void)fd; (void)buffer; (void)count;
    return -ENOSYS;
#endif
}

/// unlink(path): 0 or -errno.
static inline int cbpf_unlink(const char *path) {
#if defined(__linux__)
    return unlink(path) < 0 ? -errno : 0;
#else
    (void)path;
    return -ENOSYS;
#endif
}

/// if_nametoindex(name): the index, or 0 when there is no such interface.
static inline unsigned cbpf_if_nametoindex(const char *name) {
#if defined(__linux__)
    return if_nametoindex(name);
#else
    (void)name;
    return 0;
#endif
}

/// if_indextoname(index): writes at most 16 bytes into `name`; 0 or -errno.
static inline int cbpf_if_indextoname(unsigned index, char *name) {
#if defined(__linux__)
    return if_indextoname(index, name) ? 0 : -errno;
#else
    (void)index; (void)name;
    return -ENOSYS;
#endif
}

#endif
