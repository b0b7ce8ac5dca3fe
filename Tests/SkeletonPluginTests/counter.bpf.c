// SPDX-License-Identifier: GPL-2.0
/*
 * counter.bpf.c - built by the BPFSkeletons plugin into the test target,
 * which uses its generated skeleton `Counter`.
 *
 *   .rodata  const volatile __u16 watched_port = 53;
 *   .bss     __u64 packets_seen;
 *   flows    hash  struct flow_key {u32 saddr; u16 port; u8 proto; (pad)} ->
 *            struct flow_stats {u64 packets; u64 bytes; u32 last_len; (pad)}
 *   events   ringbuf of struct flow_stats
 *
 * count_flows SEC("xdp"): for an IPv4/UDP frame to watched_port, adds the
 *   frame to flows[{saddr, port, 17}] and outputs the updated stats; returns
 *   XDP_PASS (2); other frames: XDP_PASS, nothing counted.
 */
#include "../Fixtures/bpf/include/swiftbpf_helpers.h"

struct flow_key {
	__u32 saddr;
	__u16 port;
	__u8 proto;
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
	__u32 last_len;
};

const volatile __u16 watched_port = 53;
__u64 packets_seen;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096 * 4);
} events SEC(".maps");

SEC("xdp")
int count_flows(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u8 *p = data;

	if (data + 14 + 20 + 8 > end)
		return XDP_PASS;
	if (p[12] != 0x08 || p[13] != 0x00 || p[14 + 9] != 17)
		return XDP_PASS;
	__u16 port = (__u16)(p[14 + 20 + 2] << 8 | p[14 + 20 + 3]);
	if (port != watched_port)
		return XDP_PASS;

	struct flow_key key = {};
	__builtin_memcpy(&key.saddr, p + 14 + 12, 4);
	key.port = port;
	key.proto = 17;
	__u32 len = end - data;
	packets_seen++;

	struct flow_stats *stats = bpf_map_lookup_elem(&flows, &key);
	struct flow_stats fresh = {1, len, len};
	if (stats) {
		stats->packets++;
		stats->bytes += len;
		stats->last_len = len;
		fresh = *stats;
	} else {
		bpf_map_update_elem(&flows, &key, &fresh, BPF_NOEXIST);
	}
	bpf_ringbuf_output(&events, &fresh, sizeof(fresh), 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
