// SPDX-License-Identifier: GPL-2.0
/*
 * pin_by_name.c - a map pinned by name (LIBBPF_PIN_BY_NAME): a second load of
 * the object reuses the pinned map instead of creating a new one.
 *
 * pin_count (xdp): pinned_counter[0] += 1; returns XDP_PASS (2). Two loads,
 * one run each, leave pinned_counter[0] = 2 in the one shared map.
 */
#include "swiftbpf_helpers.h"

#define LIBBPF_PIN_BY_NAME 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pinned_counter SEC(".maps");

SEC("xdp")
int pin_count(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&pinned_counter, &key);
	if (value)
		__sync_fetch_and_add(value, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
