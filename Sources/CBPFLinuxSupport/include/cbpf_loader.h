// Attr layouts the object loader needs (BTF load, BTF info), written from the kernel's UAPI
// (include/uapi/linux/bpf.h). Kept apart from CBPFLinuxSupport.h so the loader's additions stay
// in one place.
#ifndef CBPF_LOADER_H
#define CBPF_LOADER_H

#include <stdint.h>
#include <stddef.h>

/// BPF_BTF_LOAD.
struct cbpf_btf_load_attr {
    uint64_t btf __attribute__((aligned(8)));
    uint64_t btf_log_buf __attribute__((aligned(8)));
    uint32_t btf_size;
    uint32_t btf_log_size;
    uint32_t btf_log_level;
    uint32_t btf_log_true_size;
};

/// struct bpf_btf_info.
struct cbpf_btf_info {
    uint64_t btf __attribute__((aligned(8)));
    uint32_t btf_size;
    uint32_t id;
    uint64_t name __attribute__((aligned(8)));
    uint32_t name_len;
    uint32_t kernel_btf;
};

/// struct bpf_func_info.
struct cbpf_func_info {
    uint32_t insn_off;
    uint32_t type_id;
};

/// struct bpf_line_info.
struct cbpf_line_info {
    uint32_t insn_off;
    uint32_t file_name_off;
    uint32_t line_off;
    uint32_t line_col;
};

_Static_assert(offsetof(struct cbpf_btf_load_attr, btf_size) == 16, "btf_size");
_Static_assert(offsetof(struct cbpf_btf_load_attr, btf_log_true_size) == 28, "btf_log_true_size");
_Static_assert(offsetof(struct cbpf_btf_info, name) == 16, "btf info name");
_Static_assert(sizeof(struct cbpf_btf_info) == 32, "btf info size");

#endif
