// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_filter.bpf.c - drop IPv4 UDP to the ports in `blocked_ports` (and ICMP
 * when the constant block_icmp is set); count passed and dropped frames.
 *
 *   blocked_ports  hash: __u16 port (host order) -> __u8 (any value)
 *   verdicts       percpu_array[2] of __u64: [0] passed, [1] dropped
 *   block_icmp     const volatile __u8 (.rodata), 0 by default
 */
#include "swiftbpf_helpers.h"

#define IPPROTO_ICMP 1
#define IPPROTO_UDP 17

const volatile __u8 block_icmp = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} blocked_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

static __always_inline int verdict(int action)
{
	__u32 slot = action == XDP_DROP ? 1 : 0;
	__u64 *count = bpf_map_lookup_elem(&verdicts, &slot);

	if (count)
		*count += 1;
	return action;
}

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return verdict(XDP_PASS);
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return verdict(XDP_PASS);
	if (ip->protocol == IPPROTO_ICMP && block_icmp)
		return verdict(XDP_DROP);
	if (ip->protocol != IPPROTO_UDP)
		return verdict(XDP_PASS);
	struct udphdr *udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end)
		return verdict(XDP_PASS);
	__u16 port = bpf_ntohs(udp->dest);
	if (bpf_map_lookup_elem(&blocked_ports, &port))
		return verdict(XDP_DROP);
	return verdict(XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
