// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_packets.c - direct packet access with data/data_end bounds checks and
 * the XDP head/tail/meta adjustment helpers. All programs are SEC("xdp")
 * -> BPF_PROG_TYPE_XDP / BPF_XDP.
 *
 * xdp_filter: parses Ethernet -> IPv4 (honouring ihl, rejecting ihl < 5)
 *             -> UDP/ICMP.
 *   IPv4 UDP with destination port 9 (discard)      -> XDP_DROP (1)
 *   IPv4 ICMP                                       -> swaps the Ethernet
 *        source and destination MACs in place and returns XDP_TX (3)
 *   everything else (TCP, other UDP, ARP, IPv6, truncated frames) -> XDP_PASS (2)
 *   Per-verdict counters: .bss verdicts[v] += 1 for the returned verdict v.
 *   Example: a 42-byte frame dst 02:00:00:00:00:02 src 02:00:00:00:00:01,
 *   IPv4 ICMP -> retval 3, output frame has dst ..:01 and src ..:02,
 *   rest unchanged; verdicts[3] == 1.
 *
 * xdp_reshape: shrinks the tail by 4 bytes (bpf_xdp_adjust_tail(ctx, -4)),
 *   then grows the head by 8 bytes (bpf_xdp_adjust_head(ctx, -8)) and writes
 *   the marker bytes "SWBPF\0\0\1" (53 57 42 50 46 00 00 01) there.
 *   Output frame = marker + input[0 .. len-4). So a 60-byte input becomes a
 *   64-byte output. Returns XDP_PASS (2); XDP_ABORTED (0) if a helper fails
 *   or the frame is shorter than 18 bytes (nothing is changed then).
 *
 * xdp_meta:  reserves 4 bytes of metadata (bpf_xdp_adjust_meta(ctx, -4)) and
 *   stores the __u32 0xC0FFEE there (host byte order); also records the
 *   metadata length seen afterwards (data - data_meta = 4) in .bss meta_len.
 *   Packet bytes are unchanged. Returns XDP_PASS (2), XDP_ABORTED on failure.
 */
#include "swiftbpf_helpers.h"

#define DISCARD_PORT 9

__u64 verdicts[5];
__u32 meta_len;

static __always_inline int verdict(int v)
{
	if (v >= 0 && v < 5)
		verdicts[v] += 1;
	return v;
}

static __always_inline void swap_macs(struct ethhdr *eth)
{
	unsigned char tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
}

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return verdict(XDP_PASS);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return verdict(XDP_PASS);

	struct iphdr *iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		return verdict(XDP_PASS);
	__u32 hdr_len = iph->ihl * 4;
	if (hdr_len < sizeof(*iph))
		return verdict(XDP_PASS);

	if (iph->protocol == IPPROTO_ICMP) {
		swap_macs(eth);
		return verdict(XDP_TX);
	}
	if (iph->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (void *)iph + hdr_len;
		if ((void *)(udp + 1) > data_end)
			return verdict(XDP_PASS);
		if (udp->dest == bpf_htons(DISCARD_PORT))
			return verdict(XDP_DROP);
	}
	return verdict(XDP_PASS);
}

SEC("xdp")
int xdp_reshape(struct xdp_md *ctx)
{
	static const char marker[8] = { 'S', 'W', 'B', 'P', 'F', 0, 0, 1 };

	if (ctx->data_end - ctx->data < 18)
		return XDP_ABORTED;
	if (bpf_xdp_adjust_tail(ctx, -4))
		return XDP_ABORTED;
	if (bpf_xdp_adjust_head(ctx, -8))
		return XDP_ABORTED;

	/* Packet pointers must be re-read after any adjust helper. */
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (data + 8 > data_end)
		return XDP_ABORTED;
	__builtin_memcpy(data, marker, 8);
	return XDP_PASS;
}

SEC("xdp")
int xdp_meta(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_meta(ctx, -4))
		return XDP_ABORTED;

	void *data = (void *)(long)ctx->data;
	void *meta = (void *)(long)ctx->data_meta;
	__u32 *slot = meta;
	if ((void *)(slot + 1) > data)
		return XDP_ABORTED;
	*slot = 0xC0FFEE;
	meta_len = (__u32)(data - meta);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
