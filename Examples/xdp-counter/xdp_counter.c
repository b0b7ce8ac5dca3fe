// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_counter.c - SwiftBPF example: count packets and bytes per IP protocol
 * and drop UDP traffic to the discard port.
 *
 * Program: xdp_counter   SEC("xdp") -> BPF_PROG_TYPE_XDP / BPF_XDP
 * Map:     proto_stats   HASH, key __u32 (protocol bucket),
 *                        value struct proto_stats {__u64 packets; __u64 bytes;},
 *                        max_entries 8
 *
 * Buckets (the map key):
 *   6   IPPROTO_TCP   IPv4 frames carrying TCP
 *   17  IPPROTO_UDP   IPv4 frames carrying UDP
 *   1   IPPROTO_ICMP  IPv4 frames carrying ICMP
 *   256 OTHER         everything else: other IPv4 protocols, non-IPv4 frames
 *                     (ARP, IPv6, ...) and frames too short to parse
 * Every frame is counted exactly once, dropped ones included; "bytes" is the
 * whole Ethernet frame (data_end - data).
 *
 * Verdict: XDP_DROP (1) for IPv4 UDP whose destination port is 9 (discard),
 * XDP_PASS (2) for everything else. IPv4 options are honoured (ihl), so the
 * UDP header is found after a 24-byte IP header too.
 *
 * Expected results for sample.pcap / sample.pcapng (20 frames, 2864 bytes;
 * make_sample_pcap.py prints the same tally), starting from an empty map:
 *   verdicts:   XDP_DROP 4 (frames 7, 10, 15, 18), XDP_PASS 16
 *   proto_stats[6]   (TCP)   packets 5, bytes 1776
 *   proto_stats[17]  (UDP)   packets 8, bytes  602
 *   proto_stats[1]   (ICMP)  packets 3, bytes  266
 *   proto_stats[256] (other) packets 4, bytes  220  (ARP, IPv6, GRE, IGMP)
 */
#include "swiftbpf_helpers.h"

#define DISCARD_PORT 9
#define KEY_OTHER    256

struct proto_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct proto_stats);
} proto_stats SEC(".maps");

static __always_inline void account(__u32 key, __u64 bytes)
{
	struct proto_stats *s = bpf_map_lookup_elem(&proto_stats, &key);

	if (s) {
		__sync_fetch_and_add(&s->packets, 1);
		__sync_fetch_and_add(&s->bytes, bytes);
	} else {
		struct proto_stats init = { .packets = 1, .bytes = bytes };
		/* Another CPU may insert the key first; then add to its entry. */
		if (bpf_map_update_elem(&proto_stats, &key, &init, BPF_NOEXIST)) {
			s = bpf_map_lookup_elem(&proto_stats, &key);
			if (s) {
				__sync_fetch_and_add(&s->packets, 1);
				__sync_fetch_and_add(&s->bytes, bytes);
			}
		}
	}
}

SEC("xdp")
int xdp_counter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 bytes = data_end - data;
	__u32 key = KEY_OTHER;
	int action = XDP_PASS;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		goto out;

	struct iphdr *iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end)
		goto out;
	__u32 ihl_bytes = iph->ihl * 4;
	if (ihl_bytes < sizeof(*iph))
		goto out;

	switch (iph->protocol) {
	case IPPROTO_TCP:
		key = IPPROTO_TCP;
		break;
	case IPPROTO_ICMP:
		key = IPPROTO_ICMP;
		break;
	case IPPROTO_UDP: {
		key = IPPROTO_UDP;
		struct udphdr *udp = (void *)iph + ihl_bytes;
		if ((void *)(udp + 1) <= data_end &&
		    udp->dest == bpf_htons(DISCARD_PORT))
			action = XDP_DROP;
		break;
	}
	default:
		break;
	}
out:
	account(key, bytes);
	return action;
}

char LICENSE[] SEC("license") = "GPL";
