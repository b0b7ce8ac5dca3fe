// SPDX-License-Identifier: GPL-2.0
/*
 * tc_skb.c - programs whose context is struct __sk_buff.
 *
 * tc_mark      SEC("tc") -> BPF_PROG_TYPE_SCHED_CLS (attach type 0; tc/tcx)
 *   Input skb->mark == 0xdead               -> TC_ACT_SHOT (2), nothing written.
 *   Otherwise:
 *     skb->mark     = 0x42
 *     skb->priority = 3
 *     skb->cb[0]    = skb->len
 *     skb->cb[1]    = IPv4 protocol byte read with bpf_skb_load_bytes at
 *                     offset 23 when skb->protocol == htons(ETH_P_IP), else 0
 *     bytes 0..5 (destination MAC) overwritten with 02:00:00:00:00:01 through
 *     bpf_skb_store_bytes
 *     returns TC_ACT_OK (0)
 *   Example: 54-byte IPv4/TCP frame, mark 0 -> retval 0, mark 0x42,
 *   priority 3, cb[0] 54, cb[1] 6, dst MAC 02:00:00:00:00:01.
 *
 * tc_pad       SEC("tc") -> BPF_PROG_TYPE_SCHED_CLS
 *   bpf_skb_pull_data(skb, 14) then reads the EtherType by direct access
 *   (skb->data / skb->data_end) into .bss last_ethertype (host order).
 *   Frames shorter than 64 bytes are zero-padded to 64 with
 *   bpf_skb_change_tail(skb, 64, 0). Returns TC_ACT_OK (0), or
 *   TC_ACT_SHOT (2) if a helper failed or the frame is shorter than 14 bytes.
 *   Example: 42-byte ARP frame -> retval 0, output 64 bytes (22 zero bytes
 *   appended), last_ethertype 0x0806.
 *
 * socket_len   SEC("socket") -> BPF_PROG_TYPE_SOCKET_FILTER (attach type 0)
 *   Returns the number of bytes to keep: min(skb->len, 100).
 *   Example: 60-byte packet -> 60; 1500-byte packet -> 100.
 *
 * cgroup_ingress SEC("cgroup_skb/ingress") -> BPF_PROG_TYPE_CGROUP_SKB /
 *   BPF_CGROUP_INET_INGRESS. cg_stats[0] += 1 (packets), cg_stats[1] +=
 *   skb->len (bytes); returns 1 (allow) if skb->len <= 1500, else 0 (drop).
 */
#include "swiftbpf_helpers.h"

#define SKIP_MARK 0xdead

__u32 last_ethertype;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} cg_stats SEC(".maps");

SEC("tc")
int tc_mark(struct __sk_buff *skb)
{
	static const unsigned char new_dst[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };
	__u8 proto = 0;

	if (skb->mark == SKIP_MARK)
		return TC_ACT_SHOT;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN + 9, &proto, 1))
			proto = 0;
	}

	skb->mark = 0x42;
	skb->priority = 3;
	skb->cb[0] = skb->len;
	skb->cb[1] = proto;

	unsigned char dst[ETH_ALEN];
	__builtin_memcpy(dst, new_dst, ETH_ALEN);
	if (bpf_skb_store_bytes(skb, 0, dst, ETH_ALEN, 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc")
int tc_pad(struct __sk_buff *skb)
{
	if (bpf_skb_pull_data(skb, ETH_HLEN))
		return TC_ACT_SHOT;

	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;
	last_ethertype = bpf_ntohs(eth->h_proto);

	if (skb->len < 64 && bpf_skb_change_tail(skb, 64, 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("socket")
int socket_len(struct __sk_buff *skb)
{
	__u32 len = skb->len;

	return len < 100 ? len : 100;
}

SEC("cgroup_skb/ingress")
int cgroup_ingress(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&cg_stats, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	key = 1;
	v = bpf_map_lookup_elem(&cg_stats, &key);
	if (v)
		__sync_fetch_and_add(v, (__u64)skb->len);
	return skb->len <= 1500 ? 1 : 0;
}

char LICENSE[] SEC("license") = "GPL";
