// SPDX-License-Identifier: GPL-2.0
/*
 * license_version.c - the legacy "license" and "version" sections.
 *
 * Sections:
 *   license  8 bytes "GPL\0GPL\0": the old-style `_license` symbol first, then
 *            the `LICENSE` symbol every fixture carries. A loader should take
 *            the first NUL-terminated string, "GPL".
 *   version  4 bytes, __u32 0x00060c00 (KERNEL_VERSION(6, 12, 0)), stored
 *            little-endian as 00 0c 06 00. Old kernels required it for
 *            kprobe programs (kern_version in BPF_PROG_LOAD).
 *
 * Program: versioned_kprobe  SEC("kprobe/do_nanosleep")
 *          -> BPF_PROG_TYPE_KPROBE, target do_nanosleep; returns 0.
 */
#include "swiftbpf_helpers.h"

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x060c00;

SEC("kprobe/do_nanosleep")
int versioned_kprobe(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
