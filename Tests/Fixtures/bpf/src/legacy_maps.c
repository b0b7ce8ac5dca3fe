// SPDX-License-Identifier: GPL-2.0
/*
 * legacy_maps.c - maps declared the pre-BTF way: fixed-size records in an
 * ELF section named "maps". The loader finds each map from a symbol in that
 * section (st_value = offset, record size = section size / number of map
 * symbols, here 20 bytes) and reads five __u32 fields.
 *
 * Maps (section "maps", 2 records of 20 bytes):
 *   legacy_counters  offset 0:  type 2 (ARRAY), key_size 4, value_size 8,
 *                               max_entries 2, map_flags 0
 *   legacy_by_size   offset 20: type 1 (HASH), key_size 4, value_size 8,
 *                               max_entries 64, map_flags 0
 *
 * Program: legacy_count  SEC("xdp") -> BPF_PROG_TYPE_XDP / BPF_XDP
 *   legacy_counters[0] += 1 (packets), legacy_counters[1] += frame length,
 *   legacy_by_size[len / 64] += 1 (frame-size histogram, 64-byte buckets).
 *   Returns XDP_PASS (2).
 *   Example, fresh maps, one 60-byte and one 130-byte frame:
 *   legacy_counters = [2, 190], legacy_by_size = {0: 1, 2: 1}.
 */
#include "swiftbpf_helpers.h"

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_counters = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 2,
};

struct bpf_map_def SEC("maps") legacy_by_size = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 64,
};

SEC("xdp")
int legacy_count(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u32 key = 0;
	__u64 *v;

	v = bpf_map_lookup_elem(&legacy_counters, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	key = 1;
	v = bpf_map_lookup_elem(&legacy_counters, &key);
	if (v)
		__sync_fetch_and_add(v, (__u64)len);

	key = len / 64;
	v = bpf_map_lookup_elem(&legacy_by_size, &key);
	if (v) {
		__sync_fetch_and_add(v, 1);
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&legacy_by_size, &key, &one, BPF_NOEXIST);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
