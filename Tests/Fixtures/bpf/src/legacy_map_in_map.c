/* A map of maps declared the iproute2 way: 36-byte struct bpf_elf_map records in section "maps",
 * the outer map naming its inner template by id (inner_id), as tc objects written for iproute2 do.
 *
 * Maps: flows_inner  id 1: ARRAY, key 4, value 8, 4 entries (the inner template)
 *       flows_outer  id 2: ARRAY_OF_MAPS, key 4, value 4, 2 entries, inner_id 1
 *
 * Program: count_inner SEC("classifier"): looks up flows_outer[0]; when user space has put an
 * inner map there, adds 1 to its entry 0 and returns TC_ACT_OK (0) + the new count * 10; without
 * one returns TC_ACT_SHOT (2).
 */
#include "swiftbpf_helpers.h"

struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

struct bpf_elf_map SEC("maps") flows_inner = {
	.type = BPF_MAP_TYPE_ARRAY,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u64),
	.max_elem = 4,
	.id = 1,
};

struct bpf_elf_map SEC("maps") flows_outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.size_key = sizeof(__u32),
	.size_value = sizeof(__u32),
	.max_elem = 2,
	.id = 2,
	.inner_id = 1,
};

SEC("classifier")
int count_inner(struct __sk_buff *skb)
{
	__u32 key = 0;
	void *inner = bpf_map_lookup_elem(&flows_outer, &key);
	if (!inner)
		return TC_ACT_SHOT;
	__u64 *count = bpf_map_lookup_elem(inner, &key);
	if (!count)
		return TC_ACT_SHOT;
	*count += 1;
	return *count * 10;
}

char LICENSE[] SEC("license") = "GPL";
