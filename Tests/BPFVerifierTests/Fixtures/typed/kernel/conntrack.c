// SPDX-License-Identifier: GPL-2.0
/*
 * conntrack.c - the conntrack kfuncs and bpf_sock_destroy, built against the running kernel's types
 * (see typed_kernel.c), checked by ModernEBPFTests and loaded into the kernel by
 * ModernEBPFAgreementTests. ok_* are accepted by Linux 6.18, bad_* refused:
 *
 *  ok_lookup_mark       tc: an entry looked up, its mark read and written, released
 *  ok_alloc_insert      xdp: an entry allocated, its timeout set, inserted, the result released
 *  bad_release_alloc    an allocated entry (nf_conn___init) released as a looked-up one
 *  bad_write_status     a write to the entry's status (only mark is writable)
 *  bad_leak             a looked-up entry not released
 *  bad_null_tuple       a NULL tuple (the argument is not __nullable)
 *  bad_destroy_fentry   bpf_sock_destroy outside a socket iterator
 */
#include "vmlinux.h"

#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))

struct ct_options {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u16 ct_zone_id;
	__u8 ct_zone_dir;
	__u8 reserved[3];
};

extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb_ctx, struct bpf_sock_tuple *bpf_tuple, __u32 tuple__sz,
					 struct ct_options *opts, __u32 opts__sz) __ksym;
extern struct nf_conn___init *bpf_xdp_ct_alloc(struct xdp_md *xdp_ctx, struct bpf_sock_tuple *bpf_tuple, __u32 tuple__sz,
					       struct ct_options *opts, __u32 opts__sz) __ksym;
extern struct nf_conn *bpf_ct_insert_entry(struct nf_conn___init *nfct_i) __ksym;
extern void bpf_ct_set_timeout(struct nf_conn___init *nfct, __u32 timeout) __ksym;
extern void bpf_ct_release(struct nf_conn *nfct) __ksym;
extern int bpf_sock_destroy(struct sock_common *sock) __ksym;

#define IPPROTO_TCP_NUMBER 6

static __attribute__((always_inline)) void tuple_init(struct bpf_sock_tuple *tuple, struct ct_options *opts)
{
	__builtin_memset(tuple, 0, sizeof(*tuple));
	__builtin_memset(opts, 0, sizeof(*opts));
	tuple->ipv4.saddr = 0x0100007f;
	tuple->ipv4.daddr = 0x0100007f;
	tuple->ipv4.sport = 4242;
	tuple->ipv4.dport = 80;
	opts->netns_id = -1;
	opts->l4proto = IPPROTO_TCP_NUMBER;
}

long seen_mark;

SEC("tc")
int ok_lookup_mark(struct __sk_buff *skb)
{
	struct bpf_sock_tuple tuple;
	struct ct_options opts;
	struct nf_conn *ct;

	tuple_init(&tuple, &opts);
	ct = bpf_skb_ct_lookup(skb, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts));
	if (!ct)
		return 0;
	seen_mark = ct->mark;
	ct->mark = 42;
	bpf_ct_release(ct);
	return 1;
}

SEC("xdp")
int ok_alloc_insert(struct xdp_md *xdp)
{
	struct bpf_sock_tuple tuple;
	struct ct_options opts;
	struct nf_conn___init *fresh;
	struct nf_conn *ct;

	tuple_init(&tuple, &opts);
	fresh = bpf_xdp_ct_alloc(xdp, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts));
	if (!fresh)
		return 2;
	bpf_ct_set_timeout(fresh, 10000);
	ct = bpf_ct_insert_entry(fresh);
	if (ct)
		bpf_ct_release(ct);
	return 2;
}

SEC("xdp")
int bad_release_alloc(struct xdp_md *xdp)
{
	struct bpf_sock_tuple tuple;
	struct ct_options opts;
	struct nf_conn___init *fresh;

	tuple_init(&tuple, &opts);
	fresh = bpf_xdp_ct_alloc(xdp, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts));
	if (fresh)
		bpf_ct_release((struct nf_conn *)fresh);
	return 2;
}

SEC("tc")
int bad_write_status(struct __sk_buff *skb)
{
	struct bpf_sock_tuple tuple;
	struct ct_options opts;
	struct nf_conn *ct;

	tuple_init(&tuple, &opts);
	ct = bpf_skb_ct_lookup(skb, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts));
	if (!ct)
		return 0;
	ct->status = 0xf00;
	bpf_ct_release(ct);
	return 1;
}

SEC("tc")
int bad_leak(struct __sk_buff *skb)
{
	struct bpf_sock_tuple tuple;
	struct ct_options opts;
	struct nf_conn *ct;

	tuple_init(&tuple, &opts);
	ct = bpf_skb_ct_lookup(skb, &tuple, sizeof(tuple.ipv4), &opts, sizeof(opts));
	return ct ? 1 : 0;
}

SEC("tc")
int bad_null_tuple(struct __sk_buff *skb)
{
	struct bpf_sock_tuple tuple;
	struct ct_options opts;
	struct nf_conn *ct;

	tuple_init(&tuple, &opts);
	ct = bpf_skb_ct_lookup(skb, 0, 0, &opts, sizeof(opts));
	if (ct)
		bpf_ct_release(ct);
	return 0;
}

SEC("fentry/tcp_v4_destroy_sock")
int bad_destroy_fentry(unsigned long long *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];

	bpf_sock_destroy((struct sock_common *)sk);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
