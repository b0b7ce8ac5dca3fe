// SPDX-License-Identifier: GPL-2.0
/*
 * maps_hash_array.c - the two basic BTF-defined map kinds.
 *
 * Program: count_by_proto   SEC("xdp")   -> BPF_PROG_TYPE_XDP / BPF_XDP
 * Maps:    proto_packets    HASH   key __u32 (IPv4 protocol number)
 *                                  value __u64 (packets), max_entries 256
 *          total_bytes      ARRAY  key __u32, value __u64, max_entries 1
 *
 * Behaviour: every frame adds its length (data_end - data) to
 * total_bytes[0]. An IPv4 frame whose 20-byte base header fits in the frame
 * also adds 1 to proto_packets[iph->protocol]; other frames (ARP, IPv6,
 * truncated) touch only total_bytes. The program always returns XDP_PASS (2).
 *
 * What a test should observe, starting from empty maps:
 *   run 1: a 54-byte IPv4/TCP frame  -> retval 2, proto_packets = {6: 1},
 *          total_bytes[0] = 54
 *   run 2: a 42-byte IPv4/UDP frame  -> retval 2, proto_packets = {6: 1, 17: 1},
 *          total_bytes[0] = 96
 *   run 3: a 42-byte ARP frame       -> retval 2, proto_packets unchanged,
 *          total_bytes[0] = 138
 */
#include "swiftbpf_helpers.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} proto_packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} total_bytes SEC(".maps");

SEC("xdp")
int count_by_proto(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	__u64 *bytes = bpf_map_lookup_elem(&total_bytes, &zero);

	if (bytes)
		__sync_fetch_and_add(bytes, (__u64)(data_end - data));

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;

	struct iphdr *iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;

	__u32 proto = iph->protocol;
	__u64 *count = bpf_map_lookup_elem(&proto_packets, &proto);
	if (count) {
		__sync_fetch_and_add(count, 1);
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&proto_packets, &proto, &one, BPF_NOEXIST);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
