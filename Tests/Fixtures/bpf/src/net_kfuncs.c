// SPDX-License-Identifier: GPL-2.0
/*
 * net_kfuncs.c - the kernel objects XDP and TC programs look up (conntrack entries, sockets, SYN
 * cookies, the kernel test run's objects), as the Swift runtime answers them: it has none, so
 * lookups fail the way the kernel's fail when nothing is there (Docs/helpers.md, "kfuncs").
 *
 *   nk_ct_xdp    SEC("xdp"): bpf_xdp_ct_lookup of 10.0.0.1:1234 -> 10.0.0.2:80 (TCP) under ten sets
 *                of options; each opts.error kept in ct_errors: a valid 16-byte opts -ENOENT (-2); the
 *                12-byte layout -ENOENT; reserved[0] set -EINVAL (-22); l4proto ICMP -EPROTO (-71);
 *                netns_id -2 -EINVAL; an 8-byte tuple -EAFNOSUPPORT (-97); the 12-byte layout with a
 *                zone -EINVAL; netns_id 0x7ffffff0 -ENONET (-64); the IPv6 tuple -ENOENT; opts__sz 20
 *                -EINVAL. ct_zone_dir: the valid lookup's opts.ct_zone_dir, 3 (set by the lookup).
 *                Nothing is found: returns XDP_PASS (2).
 *   nk_ct_tc     SEC("tc"): the same through bpf_skb_ct_lookup (errors in ct_errors_tc); returns 0.
 *   nk_ct_short  SEC("xdp"): a lookup with opts__sz 4, which does not cover opts.error: the runtime
 *                leaves it (7) alone and returns 7, as Linux 6.18.44 does; kernels without the fix
 *                "bpf: Guard conntrack opts error writes" wrote -EINVAL past the 4 bytes the verifier
 *                checked (returning -22 here), so the differential test leaves it out.
 *   nk_syncookie SEC("xdp"): SYN cookies for a SYN built on the stack (IPv4 then IPv6, MSS option
 *                1460), kept in sc_results: [0] the IPv4 cookie's MSS 1460, [1] the ACK carrying it
 *                checks: 0, [2] the same ACK with the cookie + 1: -EACCES (-13), [3] a th_len that
 *                is not the header's: -EINVAL, [4] a SYN without an MSS option: MSS 536, [5] the IPv6
 *                cookie's MSS 1440, [6] its ACK: 0, [7] its ACK with the cookie + 2: -EACCES.
 *                Returns XDP_PASS (2).
 *   nk_reqsk     SEC("tc"): bpf_skc_lookup_tcp, and for a listener bpf_sk_assign_tcp_reqsk; no socket
 *                is found: returns 1.
 *   nk_skc_read  SEC("tc"): bpf_skc_lookup_tcp, then bpf_skc_to_tcp_request_sock and a read of its
 *                local port (as the kernel's test_btf_skc_cls_ingress does); no socket: returns 1.
 *   nk_test_ref  SEC("tc"): takes the kernel test run's object (struct prog_test_ref_kfunc) out of
 *                test_refs and releases it with bpf_kfunc_call_test_release; none is there: returns 0.
 */
#include "swiftbpf_helpers.h"

#define __ksym __attribute__((section(".ksyms")))
#define __kptr __attribute__((btf_type_tag("kptr")))

struct nf_conn {
	unsigned long status;
} __attribute__((preserve_access_index));

/* Linux 6.18's struct bpf_ct_opts (16 bytes); the older layout is its first 12. */
struct bpf_ct_opts___local {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u16 ct_zone_id;
	__u8 ct_zone_dir;
	__u8 reserved[3];
};

struct opts_buffer {
	struct bpf_ct_opts___local opts;
	__u8 extra[8];
};

struct bpf_tcp_req_attrs {
	__u32 rcv_tsval;
	__u32 rcv_tsecr;
	__u16 mss;
	__u8 rcv_wscale;
	__u8 snd_wscale;
	__u8 ecn_ok;
	__u8 wscale_ok;
	__u8 sack_ok;
	__u8 tstamp_ok;
	__u8 usec_ts_ok;
	__u8 reserved[3];
};

struct sock {
	int opaque;
};

/* The start of the kernel's struct request_sock (its struct sock_common), at the kernel's offsets. */
struct request_sock {
	__u32 skc_daddr;
	__u32 skc_rcv_saddr;
	__u32 skc_hash;
	__u16 skc_dport;
	__u16 skc_num;
};

struct prog_test_ref_kfunc {
	int a;
	int b;
};

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *xdp_ctx, struct bpf_sock_tuple *bpf_tuple, __u32 tuple__sz,
					 struct bpf_ct_opts___local *opts, __u32 opts__sz) __ksym;
extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb_ctx, struct bpf_sock_tuple *bpf_tuple, __u32 tuple__sz,
					 struct bpf_ct_opts___local *opts, __u32 opts__sz) __ksym;
extern void bpf_ct_release(struct nf_conn *nfct) __ksym;
extern int bpf_sk_assign_tcp_reqsk(struct __sk_buff *s, struct sock *sk, struct bpf_tcp_req_attrs *attrs, int attrs__sz) __ksym;
extern void bpf_kfunc_call_test_release(struct prog_test_ref_kfunc *p) __ksym;

static struct bpf_sock *(* const bpf_skc_lookup_tcp)(void *ctx, struct bpf_sock_tuple *tuple, __u32 tuple_size, __u64 netns, __u64 flags) = (void *) 99;
static void *(* const bpf_skc_to_tcp_sock)(void *sk) = (void *) 137;
static void *(* const bpf_skc_to_tcp_request_sock)(void *sk) = (void *) 140;
static void *(* const bpf_kptr_xchg)(void *dst, void *ptr) = (void *) 194;
static __s64 (* const bpf_tcp_raw_gen_syncookie_ipv4)(struct iphdr *iph, struct tcphdr *th, __u32 th_len) = (void *) 204;
static __s64 (* const bpf_tcp_raw_gen_syncookie_ipv6)(void *iph, struct tcphdr *th, __u32 th_len) = (void *) 205;
static long (* const bpf_tcp_raw_check_syncookie_ipv4)(struct iphdr *iph, struct tcphdr *th) = (void *) 206;
static long (* const bpf_tcp_raw_check_syncookie_ipv6)(void *iph, struct tcphdr *th) = (void *) 207;

struct test_value {
	struct prog_test_ref_kfunc __kptr *val;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct test_value);
} test_refs SEC(".maps");

int ct_errors[10];
int ct_errors_tc[10];
__u8 ct_zone_dir;
unsigned long ct_status;
int ct_found;
__s64 sc_results[8];
__u16 request_port;

#define LOOKUP(errors, i, tuple_size, buffer, opts_size)                                                   \
	do {                                                                                                \
		struct nf_conn *ct = xdp ? bpf_xdp_ct_lookup(ctx, &tuple, tuple_size, &(buffer).opts, opts_size)  \
					 : bpf_skb_ct_lookup(ctx, &tuple, tuple_size, &(buffer).opts, opts_size); \
		if (ct) {                                                                                   \
			ct_status = ct->status;                                                             \
			bpf_ct_release(ct);                                                                 \
			ct_found++;                                                                         \
		}                                                                                           \
		errors[i] = (buffer).opts.error;                                                            \
	} while (0)

#define RESET(buffer)                                   \
	do {                                            \
		__builtin_memset(&(buffer), 0, sizeof(buffer)); \
		(buffer).opts.netns_id = -1;            \
		(buffer).opts.l4proto = 6;              \
	} while (0)

static __always_inline void ct_lookups(void *ctx, int xdp, int *errors)
{
	struct bpf_sock_tuple tuple = {};
	struct opts_buffer b;

	tuple.saddr = bpf_htonl(0x0a000001);
	tuple.daddr = bpf_htonl(0x0a000002);
	tuple.sport = bpf_htons(1234);
	tuple.dport = bpf_htons(80);

	RESET(b);
	LOOKUP(errors, 0, 12, b, 16);
	ct_zone_dir = b.opts.ct_zone_dir;
	RESET(b);
	LOOKUP(errors, 1, 12, b, 12);
	RESET(b);
	b.opts.reserved[0] = 1;
	LOOKUP(errors, 2, 12, b, 16);
	RESET(b);
	b.opts.l4proto = 1;
	LOOKUP(errors, 3, 12, b, 16);
	RESET(b);
	b.opts.netns_id = -2;
	LOOKUP(errors, 4, 12, b, 16);
	RESET(b);
	LOOKUP(errors, 5, 8, b, 16);
	RESET(b);
	b.opts.ct_zone_id = 1;
	LOOKUP(errors, 6, 12, b, 12);
	RESET(b);
	b.opts.netns_id = 0x7ffffff0;
	LOOKUP(errors, 7, 12, b, 16);
	RESET(b);
	LOOKUP(errors, 8, 36, b, 16);
	RESET(b);
	LOOKUP(errors, 9, 12, b, 20);
}

SEC("xdp")
int nk_ct_xdp(struct xdp_md *ctx)
{
	ct_lookups(ctx, 1, ct_errors);
	return XDP_PASS + ct_found;
}

SEC("tc")
int nk_ct_tc(struct __sk_buff *ctx)
{
	ct_lookups(ctx, 0, ct_errors_tc);
	return ct_found;
}

SEC("xdp")
int nk_ct_short(struct xdp_md *ctx)
{
	struct bpf_sock_tuple tuple = {};
	struct opts_buffer b;
	struct nf_conn *ct;

	RESET(b);
	b.opts.error = 7;
	ct = bpf_xdp_ct_lookup(ctx, &tuple, 12, &b.opts, 4);
	if (ct) {
		bpf_ct_release(ct);
		return 1;
	}
	return b.opts.error;
}

struct tcp_syn {
	struct tcphdr th;
	__u8 options[4];
};

struct ip6 {
	__u8 head[8];
	__u8 saddr[16];
	__u8 daddr[16];
};

SEC("xdp")
int nk_syncookie(struct xdp_md *ctx)
{
	struct iphdr ip = {};
	struct ip6 ip6 = {};
	struct tcp_syn syn = {};
	struct tcphdr ack;
	__s64 v;

	ip.version = 4;
	ip.ihl = 5;
	ip.protocol = 6;
	ip.saddr = bpf_htonl(0x0a000001);
	ip.daddr = bpf_htonl(0x0a000002);
	syn.th.source = bpf_htons(40000);
	syn.th.dest = bpf_htons(80);
	syn.th.seq = bpf_htonl(1000);
	syn.th.doff_flags = bpf_htons(6 << 12 | TCP_FLAG_SYN);
	syn.options[0] = 2;	/* MSS 1460 */
	syn.options[1] = 4;
	syn.options[2] = 0x05;
	syn.options[3] = 0xb4;

	v = bpf_tcp_raw_gen_syncookie_ipv4(&ip, &syn.th, sizeof(syn));
	sc_results[0] = v < 0 ? v : v >> 32;
	ack = syn.th;
	ack.seq = bpf_htonl(1001);
	ack.ack_seq = bpf_htonl((__u32)v + 1);
	ack.doff_flags = bpf_htons(5 << 12 | TCP_FLAG_ACK);
	sc_results[1] = bpf_tcp_raw_check_syncookie_ipv4(&ip, &ack);
	ack.ack_seq = bpf_htonl((__u32)v + 2);
	sc_results[2] = bpf_tcp_raw_check_syncookie_ipv4(&ip, &ack);
	sc_results[3] = bpf_tcp_raw_gen_syncookie_ipv4(&ip, &syn.th, sizeof(syn.th));
	syn.options[0] = 1;
	syn.options[1] = 1;
	syn.options[2] = 1;
	syn.options[3] = 1;
	v = bpf_tcp_raw_gen_syncookie_ipv4(&ip, &syn.th, sizeof(syn));
	sc_results[4] = v < 0 ? v : v >> 32;

	ip6.head[0] = 0x60;
	ip6.head[6] = 6;
	ip6.saddr[15] = 1;
	ip6.daddr[15] = 2;
	syn.options[0] = 2;
	syn.options[1] = 4;
	syn.options[2] = 0x05;
	syn.options[3] = 0xb4;
	v = bpf_tcp_raw_gen_syncookie_ipv6(&ip6, &syn.th, sizeof(syn));
	sc_results[5] = v < 0 ? v : v >> 32;
	ack.ack_seq = bpf_htonl((__u32)v + 1);
	sc_results[6] = bpf_tcp_raw_check_syncookie_ipv6(&ip6, &ack);
	ack.ack_seq = bpf_htonl((__u32)v + 3);
	sc_results[7] = bpf_tcp_raw_check_syncookie_ipv6(&ip6, &ack);
	return XDP_PASS;
}

static __always_inline void listener_tuple(struct bpf_sock_tuple *tuple)
{
	__builtin_memset(tuple, 0, sizeof(*tuple));
	tuple->saddr = bpf_htonl(0x0a000001);
	tuple->daddr = bpf_htonl(0x0a000002);
	tuple->sport = bpf_htons(40000);
	tuple->dport = bpf_htons(80);
}

SEC("tc")
int nk_reqsk(struct __sk_buff *skb)
{
	struct bpf_tcp_req_attrs attrs = { .mss = 1460 };
	struct bpf_sock_tuple tuple;
	struct bpf_sock *skc;
	struct sock *sk;
	int ret = 2;

	listener_tuple(&tuple);
	skc = bpf_skc_lookup_tcp(skb, &tuple, 12, -1, 0);
	if (!skc)
		return 1;
	sk = bpf_skc_to_tcp_sock(skc);
	if (sk)
		ret = bpf_sk_assign_tcp_reqsk(skb, sk, &attrs, sizeof(attrs)) < 0 ? 3 : 0;
	bpf_sk_release(skc);
	return ret;
}

SEC("tc")
int nk_skc_read(struct __sk_buff *skb)
{
	struct bpf_sock_tuple tuple;
	struct request_sock *req;
	struct bpf_sock *skc;

	listener_tuple(&tuple);
	skc = bpf_skc_lookup_tcp(skb, &tuple, 12, -1, 0);
	if (!skc)
		return 1;
	req = bpf_skc_to_tcp_request_sock(skc);
	if (req)
		request_port = req->skc_num;
	bpf_sk_release(skc);
	return 0;
}

SEC("tc")
int nk_test_ref(struct __sk_buff *skb)
{
	struct prog_test_ref_kfunc *p;
	struct test_value *v;
	__u32 key = 0;

	v = bpf_map_lookup_elem(&test_refs, &key);
	if (!v)
		return 3;
	p = bpf_kptr_xchg(&v->val, 0);
	if (p) {
		bpf_kfunc_call_test_release(p);
		return 1;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
