// The bpf(2) system call and the parts of `union bpf_attr` and the info structs SwiftBPF uses,
// written from the kernel's UAPI field layout (include/uapi/linux/bpf.h) so that no kernel headers
// are needed to build. Each command has its own struct; the kernel zero-fills the bytes past the
// size we pass, so a struct only needs the fields up to the last one we set.
#ifndef CBPF_LINUX_SUPPORT_H
#define CBPF_LINUX_SUPPORT_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <errno.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#endif

#include "cbpf_loader.h"

#define CBPF_ALIGNED_U64 uint64_t __attribute__((aligned(8)))

/// BPF_MAP_CREATE.
struct cbpf_map_create_attr {
    uint32_t map_type;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    uint32_t inner_map_fd;
    uint32_t numa_node;
    char map_name[16];
    uint32_t map_ifindex;
    uint32_t btf_fd;
    uint32_t btf_key_type_id;
    uint32_t btf_value_type_id;
    uint32_t btf_vmlinux_value_type_id;
    CBPF_ALIGNED_U64 map_extra;
};

/// BPF_MAP_LOOKUP_ELEM, UPDATE_ELEM, DELETE_ELEM, GET_NEXT_KEY, LOOKUP_AND_DELETE_ELEM, MAP_FREEZE.
struct cbpf_map_elem_attr {
    uint32_t map_fd;
    CBPF_ALIGNED_U64 key;
    CBPF_ALIGNED_U64 value;   /* or next_key */
    CBPF_ALIGNED_U64 flags;
};

/// BPF_MAP_*_BATCH.
struct cbpf_map_batch_attr {
    CBPF_ALIGNED_U64 in_batch;
    CBPF_ALIGNED_U64 out_batch;
    CBPF_ALIGNED_U64 keys;
    CBPF_ALIGNED_U64 values;
    uint32_t count;
    uint32_t map_fd;
    CBPF_ALIGNED_U64 elem_flags;
    CBPF_ALIGNED_U64 flags;
};

/// BPF_PROG_LOAD.
struct cbpf_prog_load_attr {
    uint32_t prog_type;
    uint32_t insn_cnt;
    CBPF_ALIGNED_U64 insns;
    CBPF_ALIGNED_U64 license;
    uint32_t log_level;
    uint32_t log_size;
    CBPF_ALIGNED_U64 log_buf;
    uint32_t kern_version;
    uint32_t prog_flags;
    char prog_name[16];
    uint32_t prog_ifindex;
    uint32_t expected_attach_type;
    uint32_t prog_btf_fd;
    uint32_t func_info_rec_size;
    CBPF_ALIGNED_U64 func_info;
    uint32_t func_info_cnt;
    uint32_t line_info_rec_size;
    CBPF_ALIGNED_U64 line_info;
    uint32_t line_info_cnt;
    uint32_t attach_btf_id;
    uint32_t attach_prog_fd;
    uint32_t core_relo_cnt;
    CBPF_ALIGNED_U64 fd_array;
    CBPF_ALIGNED_U64 core_relos;
    uint32_t core_relo_rec_size;
    uint32_t log_true_size;
};

/// BPF_OBJ_PIN, BPF_OBJ_GET.
struct cbpf_obj_attr {
    CBPF_ALIGNED_U64 pathname;
    uint32_t bpf_fd;
    uint32_t file_flags;
};

/// BPF_PROG_TEST_RUN.
struct cbpf_test_run_attr {
    uint32_t prog_fd;
    uint32_t retval;
    uint32_t data_size_in;
    uint32_t data_size_out;
    CBPF_ALIGNED_U64 data_in;
    CBPF_ALIGNED_U64 data_out;
    uint32_t repeat;
    uint32_t duration;
    uint32_t ctx_size_in;
    uint32_t ctx_size_out;
    CBPF_ALIGNED_U64 ctx_in;
    CBPF_ALIGNED_U64 ctx_out;
    uint32_t flags;
    uint32_t cpu;
    uint32_t batch_size;
};

/// BPF_*_GET_NEXT_ID, BPF_*_GET_FD_BY_ID.
struct cbpf_get_id_attr {
    uint32_t id;          /* start_id, prog_id, map_id, btf_id, link_id */
    uint32_t next_id;
    uint32_t open_flags;
};

/// BPF_OBJ_GET_INFO_BY_FD.
struct cbpf_info_attr {
    uint32_t bpf_fd;
    uint32_t info_len;
    CBPF_ALIGNED_U64 info;
};

/// struct bpf_prog_info.
struct cbpf_prog_info {
    uint32_t type;
    uint32_t id;
    uint8_t tag[8];
    uint32_t jited_prog_len;
    uint32_t xlated_prog_len;
    CBPF_ALIGNED_U64 jited_prog_insns;
    CBPF_ALIGNED_U64 xlated_prog_insns;
    uint64_t load_time;
    uint32_t created_by_uid;
    uint32_t nr_map_ids;
    CBPF_ALIGNED_U64 map_ids;
    char name[16];
    uint32_t ifindex;
    uint32_t gpl_compatible;   /* bit 0 */
    uint64_t netns_dev;
    uint64_t netns_ino;
    uint32_t nr_jited_ksyms;
    uint32_t nr_jited_func_lens;
    CBPF_ALIGNED_U64 jited_ksyms;
    CBPF_ALIGNED_U64 jited_func_lens;
    uint32_t btf_id;
    uint32_t func_info_rec_size;
    CBPF_ALIGNED_U64 func_info;
    uint32_t nr_func_info;
    uint32_t nr_line_info;
    CBPF_ALIGNED_U64 line_info;
    CBPF_ALIGNED_U64 jited_line_info;
    uint32_t nr_jited_line_info;
    uint32_t line_info_rec_size;
    uint32_t jited_line_info_rec_size;
    uint32_t nr_prog_tags;
    CBPF_ALIGNED_U64 prog_tags;
    uint64_t run_time_ns;
    uint64_t run_cnt;
    uint64_t recursion_misses;
    uint32_t verified_insns;
    uint32_t attach_btf_obj_id;
    uint32_t attach_btf_id;
};

/// struct bpf_map_info.
struct cbpf_map_info {
    uint32_t type;
    uint32_t id;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    char name[16];
    uint32_t ifindex;
    uint32_t btf_vmlinux_value_type_id;
    uint64_t netns_dev;
    uint64_t netns_ino;
    uint32_t btf_id;
    uint32_t btf_key_type_id;
    uint32_t btf_value_type_id;
    uint32_t btf_vmlinux_id;
    CBPF_ALIGNED_U64 map_extra;
};

// The UAPI offsets, checked at compile time.
_Static_assert(offsetof(struct cbpf_map_create_attr, map_name) == 28, "map_name");
_Static_assert(offsetof(struct cbpf_map_create_attr, btf_vmlinux_value_type_id) == 60, "btf_vmlinux_value_type_id");
_Static_assert(offsetof(struct cbpf_map_create_attr, map_extra) == 64, "map_extra");
_Static_assert(offsetof(struct cbpf_map_elem_attr, key) == 8, "key");
_Static_assert(offsetof(struct cbpf_map_elem_attr, flags) == 24, "flags");
_Static_assert(offsetof(struct cbpf_map_batch_attr, count) == 32, "count");
_Static_assert(offsetof(struct cbpf_map_batch_attr, flags) == 48, "batch flags");
_Static_assert(offsetof(struct cbpf_prog_load_attr, prog_name) == 48, "prog_name");
_Static_assert(offsetof(struct cbpf_prog_load_attr, expected_attach_type) == 68, "expected_attach_type");
_Static_assert(offsetof(struct cbpf_prog_load_attr, fd_array) == 120, "fd_array");
_Static_assert(offsetof(struct cbpf_prog_load_attr, log_true_size) == 140, "log_true_size");
_Static_assert(offsetof(struct cbpf_test_run_attr, repeat) == 32, "repeat");
_Static_assert(offsetof(struct cbpf_test_run_attr, ctx_out) == 56, "ctx_out");
_Static_assert(offsetof(struct cbpf_test_run_attr, batch_size) == 72, "batch_size");
_Static_assert(offsetof(struct cbpf_prog_info, name) == 64, "prog name");
_Static_assert(offsetof(struct cbpf_prog_info, run_time_ns) == 192, "run_time_ns");
_Static_assert(offsetof(struct cbpf_prog_info, attach_btf_id) == 224, "attach_btf_id");
_Static_assert(offsetof(struct cbpf_map_info, name) == 24, "map name");
_Static_assert(offsetof(struct cbpf_map_info, netns_dev) == 48, "netns_dev");
_Static_assert(offsetof(struct cbpf_map_info, map_extra) == 80, "map_extra info");

/// bpf(cmd, attr, size): the result (an fd or 0) or -errno. -ENOSYS where there is no bpf(2).
static inline int64_t cbpf_bpf(int cmd, void *attr, uint32_t size) {
#if defined(__linux__) && defined(SYS_bpf)
    long r = syscall(SYS_bpf, cmd, attr, size);
    return r < 0 ? -(int64_t)errno : (int64_t)r;
#else
    (void)cmd; (void)attr; (void)size;
    return -ENOSYS;
#endif
}

/// Copies at most 15 bytes of `src` into a 16-byte name field, NUL-terminated.
static inline void cbpf_set_name(char *dst, const char *src) {
    memset(dst, 0, 16);
    strncpy(dst, src, 15);
}

/// close(fd): 0 or -errno.
static inline int cbpf_close(int fd) {
#if defined(__linux__)
    return close(fd) < 0 ? -errno : 0;
#else
    (void)fd;
    return -ENOSYS;
#endif
}

/// The filesystem magic of `path` (statfs f_type), or -errno.
static inline int64_t cbpf_fs_magic(const char *path) {
#if defined(__linux__)
    struct statfs s;
    if (statfs(path, &s) < 0) return -(int64_t)errno;
    return (int64_t)(uint64_t)(uint32_t)s.f_type;
#else
    (void)path;
    return -ENOSYS;
#endif
}

/// mount -t bpf bpf PATH: 0 or -errno.
static inline int cbpf_mount_bpffs(const char *path) {
#if defined(__linux__)
    return mount("bpf", path, "bpf", 0, NULL) < 0 ? -errno : 0;
#else
    (void)path;
    return -ENOSYS;
#endif
}

// Attaching programs and reading events (separate headers, part of this module).
#include "CBPFLinuxAttach.h"
#include "CBPFLinuxEvents.h"
#include "CBPFLinuxNet.h"

/// Pins the calling thread to the CPU it runs on; the previous affinity mask goes to `saved`
/// (at least 128 bytes). Returns the CPU, or -1.
int cbpf_pin_thread_to_current_cpu(unsigned char *saved, unsigned long size);
/// Restores a mask saved by cbpf_pin_thread_to_current_cpu.
int cbpf_restore_thread_affinity(const unsigned char *saved, unsigned long size);

#endif
