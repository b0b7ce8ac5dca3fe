// SPDX-License-Identifier: GPL-2.0
/*
 * legacy_loaders.c - an object written for loaders older than libbpf 1.0:
 * map definitions in the "maps" section in three historical layouts of
 * differing sizes, a map in its own "maps/NAME" section, and programs in
 * sections no libbpf 1.x convention names. Built with ./build.sh.
 *
 * Maps:
 *   packets   "maps", 20 bytes (struct bpf_map_def): ARRAY 4/8, 2 entries
 *   by_proto  "maps", 36 bytes (iproute2 struct bpf_elf_map): HASH 4/8,
 *             256 entries, pinning 2 (PIN_GLOBAL_NS)
 *   totals    "maps", 28 bytes (samples/bpf struct bpf_map_def with
 *             inner_map_idx and numa_node): ARRAY 4/8, 4 entries
 *   sizes     "maps/sizes", 20 bytes: ARRAY 4/8, 16 entries
 *
 * Programs:
 *   count_socket  SEC("socket1")      socket filter (samples/bpf naming)
 *   count_xdp     SEC("xdp_prog")     XDP (older libbpf matched "xdp" as a prefix)
 *   count_tc      SEC("classifier_in") TC classifier (iproute2 naming)
 *   parse_packet  SEC("prog")         no convention: only XDP's context fits
 *                                     how it reads data/data_end
 *   any_context   SEC("prog_any")     no convention, and any type accepts it:
 *                                     the verifier cannot decide its type
 */
#include "swiftbpf_helpers.h"

struct bpf_map_def {
	__u32 type, key_size, value_size, max_entries, map_flags;
};

struct bpf_elf_map {
	__u32 type, size_key, size_value, max_elem, flags, id, pinning, inner_id, inner_idx;
};

struct bpf_map_def_samples {
	__u32 type, key_size, value_size, max_entries, map_flags, inner_map_idx, numa_node;
};

struct bpf_map_def SEC("maps") packets = {
	.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 2,
};

struct bpf_elf_map SEC("maps") by_proto = {
	.type = BPF_MAP_TYPE_HASH, .size_key = 4, .size_value = 8, .max_elem = 256, .pinning = 2,
};

struct bpf_map_def_samples SEC("maps") totals = {
	.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 4,
};

struct bpf_map_def SEC("maps/sizes") sizes = {
	.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 16,
};

static __always_inline void bump(void *map, __u32 key)
{
	__u64 *v = bpf_map_lookup_elem(map, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("socket1")
int count_socket(struct __sk_buff *skb)
{
	bump(&packets, 0);
	bump(&totals, skb->len & 3);
	return 0;
}

SEC("xdp_prog")
int count_xdp(struct xdp_md *ctx)
{
	__u32 proto = 6;
	__u64 one = 1;
	bpf_map_update_elem(&by_proto, &proto, &one, BPF_ANY);
	bump(&packets, 1);
	return XDP_PASS;
}

SEC("classifier_in")
int count_tc(struct __sk_buff *skb)
{
	bump(&sizes, skb->len & 15);
	return 0;
}

SEC("prog")
int parse_packet(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	if (data + 14 > end)
		return XDP_DROP;
	return data[12] == 8 ? XDP_PASS : XDP_DROP;
}

SEC("prog_any")
int any_context(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
