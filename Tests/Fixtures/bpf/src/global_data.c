// SPDX-License-Identifier: GPL-2.0
/*
 * global_data.c - global variables in every data section a loader must turn
 * into an internal array map (one entry, value = the section's bytes), plus a
 * .kconfig extern the loader must supply.
 *
 * Sections / variables (initial bytes as laid out by clang):
 *   .data         __u64 data_counter = 100; __u32 data_step = 5;
 *   .rodata       const volatile __u32 cfg_multiplier = 3;
 *                 const volatile char  cfg_tag[8]     = "swbpf";
 *                 (a loader may let user space rewrite .rodata before load;
 *                  the map is then frozen / read-only to the program)
 *   .bss          __u64 bss_runs; __u64 last_result; __u32 kernel_major;
 *                 __u32 kernel_minor; __u32 tag_len;   (all zero)
 *   .data.custom  __u32 custom_value = 7;  (a separate map of its own)
 *   .kconfig      extern unsigned int LINUX_KERNEL_VERSION;  (undefined
 *                 symbol; the loader provides KERNEL_VERSION(a,b,c) =
 *                 a<<16 | b<<8 | c)
 *
 * Program: global_update  SEC("xdp") -> BPF_PROG_TYPE_XDP / BPF_XDP
 * Each run, in order:
 *   bss_runs     += 1
 *   data_counter += data_step
 *   custom_value *= 2
 *   last_result   = data_counter * cfg_multiplier + custom_value
 *   kernel_major  = LINUX_KERNEL_VERSION >> 16
 *   kernel_minor  = (LINUX_KERNEL_VERSION >> 8) & 0xff
 *   tag_len       = length of cfg_tag up to its first NUL (max 8)
 *   returns XDP_PASS (2)
 *
 * Expected with default .rodata and LINUX_KERNEL_VERSION = 0x060c00 (6.12.0):
 *   run 1: data_counter 105, custom_value 14, last_result 105*3+14 = 329,
 *          bss_runs 1, kernel_major 6, kernel_minor 12, tag_len 5
 *   run 2: data_counter 110, custom_value 28, last_result 358, bss_runs 2
 * With cfg_multiplier rewritten to 10 before load, run 1 gives
 *   last_result 105*10+14 = 1064.
 */
#include "swiftbpf_helpers.h"

/* .data */
__u64 data_counter = 100;
__u32 data_step = 5;

/* .rodata: const volatile keeps clang from folding the values in, so the
 * program really loads them from the map and user space can override them. */
const volatile __u32 cfg_multiplier = 3;
const volatile char cfg_tag[8] = "swbpf";

/* .bss */
__u64 bss_runs;
__u64 last_result;
__u32 kernel_major;
__u32 kernel_minor;
__u32 tag_len;

/* A custom data section: becomes its own map named after the section. */
__u32 custom_value __attribute__((section(".data.custom"))) = 7;

/* Supplied by the loader, not by the object file. */
extern unsigned int LINUX_KERNEL_VERSION __attribute__((section(".kconfig")));

SEC("xdp")
int global_update(struct xdp_md *ctx)
{
	bss_runs += 1;
	data_counter += data_step;
	custom_value *= 2;
	last_result = data_counter * cfg_multiplier + custom_value;

	kernel_major = LINUX_KERNEL_VERSION >> 16;
	kernel_minor = (LINUX_KERNEL_VERSION >> 8) & 0xff;

	__u32 n = 0;
	for (int i = 0; i < 8; i++) {
		if (cfg_tag[i] == 0)
			break;
		n++;
	}
	tag_len = n;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
