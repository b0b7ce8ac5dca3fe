// SPDX-License-Identifier: GPL-2.0
/*
 * verifier_rules.c - C programs for the verifier's rules: each safe program
 * has an unsafe twin that breaks one rule. Built with ./build.sh.
 *
 *   checked_lookup / unchecked_lookup     NULL check of a hash map lookup
 *   bounded_index  / unbounded_index      index into a map value's array
 *   submitted_record / leaked_record      ringbuf reserve, then submit
 *   init_key       / uninit_key           helper reads the key from the stack
 *   packet_parse   / packet_overread      packet bounds against data_end
 *   loop_sum                              a bounded loop over a map value
 *   locked_add                            a bpf_spin_lock pair
 */
#include "swiftbpf_helpers.h"

struct counter {
	__u64 count;
	__u64 slots[8];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct counter);
} table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct counter);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} records SEC(".maps");

struct locked_value {
	struct bpf_spin_lock lock;
	__u64 total;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct locked_value);
} locked SEC(".maps");

SEC("xdp")
int checked_lookup(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct counter *v = bpf_map_lookup_elem(&flows, &key);

	if (!v)
		return XDP_PASS;
	v->count++;
	return XDP_PASS;
}

SEC("xdp")
int unchecked_lookup(struct xdp_md *ctx)
{
	__u32 key = 1;
	struct counter *v = bpf_map_lookup_elem(&flows, &key);

	v->count++;
	return XDP_PASS;
}

SEC("xdp")
int bounded_index(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u32 i = ctx->ingress_ifindex;
	struct counter *v = bpf_map_lookup_elem(&table, &key);

	if (!v)
		return XDP_PASS;
	if (i < 8)
		v->slots[i]++;
	return XDP_PASS;
}

SEC("xdp")
int unbounded_index(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u32 i = ctx->ingress_ifindex & 15;
	struct counter *v = bpf_map_lookup_elem(&table, &key);

	if (!v)
		return XDP_PASS;
	v->slots[i]++;
	return XDP_PASS;
}

SEC("xdp")
int submitted_record(struct xdp_md *ctx)
{
	__u64 *r = bpf_ringbuf_reserve(&records, sizeof(__u64), 0);

	if (!r)
		return XDP_PASS;
	*r = ctx->ingress_ifindex;
	bpf_ringbuf_submit(r, 0);
	return XDP_PASS;
}

SEC("xdp")
int leaked_record(struct xdp_md *ctx)
{
	__u64 *r = bpf_ringbuf_reserve(&records, sizeof(__u64), 0);

	if (!r)
		return XDP_PASS;
	*r = ctx->ingress_ifindex;
	if (ctx->rx_queue_index == 0)
		bpf_ringbuf_submit(r, 0);
	return XDP_PASS;
}

SEC("xdp")
int init_key(struct xdp_md *ctx)
{
	__u32 key = ctx->rx_queue_index & 3;
	struct counter *v = bpf_map_lookup_elem(&table, &key);

	return v ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int uninit_key(struct xdp_md *ctx)
{
	__u32 key;
	struct counter *v;

	if (ctx->rx_queue_index)
		key = 2;
	v = bpf_map_lookup_elem(&table, &key);
	return v ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int packet_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);

	if ((void *)(iph + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	return iph->ttl > 1 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int packet_overread(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	return iph->ttl > 1 ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int loop_sum(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct counter *v = bpf_map_lookup_elem(&table, &key);
	__u64 sum = 0;

	if (!v)
		return XDP_PASS;
	for (int i = 0; i < 8; i++)
		sum += v->slots[i];
	v->count = sum;
	return XDP_PASS;
}

SEC("xdp")
int locked_add(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct locked_value *v = bpf_map_lookup_elem(&locked, &key);

	if (!v)
		return XDP_PASS;
	bpf_spin_lock(&v->lock);
	v->total += 1;
	bpf_spin_unlock(&v->lock);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
