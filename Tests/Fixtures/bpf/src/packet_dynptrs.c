// SPDX-License-Identifier: GPL-2.0
/*
 * packet_dynptrs.c - dynptrs over the packet (bpf_dynptr_from_xdp, bpf_dynptr_from_skb) and the
 * skb's delivery time (bpf_skb_set_tstamp), compared with the kernel (differential test):
 *
 *   pd_xdp   (xdp) a dynptr over the packet: its size, the EtherType read with bpf_dynptr_read,
 *            the IPv4 protocol through a slice, bpf_dynptr_data (NULL on packet dynptrs), a
 *            write of 0x42 over the first byte (the output packet shows it), a read past the end
 *            (-E2BIG), flags (-EINVAL) -> size + 20000 (EtherType IPv4) + 1000 * protocol + (data NULL ? 100 : 0) + 10 * (errors ok).
 *   pd_skb   (tc) the same over the skb; then bpf_skb_set_tstamp: mono 0
 *            (-EINVAL), mono 1234, an unknown type (-EINVAL) -> the first result plus tstamp and
 *            tstamp_type read back folded in.
 */
#include "swiftbpf_helpers.h"

#define __ksym __attribute__((section(".ksyms")))

extern int bpf_dynptr_from_xdp(struct xdp_md *x, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern int bpf_dynptr_from_skb(struct __sk_buff *s, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt, __u32 buffer__szk) __ksym;

static long (* const bpf_skb_set_tstamp)(struct __sk_buff *skb, __u64 tstamp, __u32 tstamp_type) = (void *) 192;

static __always_inline int probe(struct bpf_dynptr *d)
{
	__u8 buf[20] = {}, *ip, mark = 0x42, tail[4];
	__u16 ethertype = 0;
	int r = bpf_dynptr_size(d), errors = 0;

	if (bpf_dynptr_read(&ethertype, sizeof(ethertype), d, 12, 0) == 0 && ethertype == __builtin_bswap16(0x0800))
		r += 20000;
	ip = bpf_dynptr_slice(d, 14, buf, sizeof(buf));
	if (ip)
		r += 1000 * ip[9];
	if (!bpf_dynptr_data(d, 0, 4))
		r += 100;
	bpf_dynptr_write(d, 0, &mark, 1, 0);
	if (bpf_dynptr_read(tail, sizeof(tail), d, bpf_dynptr_size(d) - 2, 0) == -7)
		errors++;
	if (bpf_dynptr_read(tail, sizeof(tail), d, 0, 1) == -22)
		errors++;
	return r + 10 * errors;
}

SEC("xdp")
int pd_xdp(struct xdp_md *ctx)
{
	struct bpf_dynptr d;

	if (bpf_dynptr_from_xdp(ctx, 0, &d))
		return 1;
	return probe(&d);
}

SEC("tc")
int pd_skb(struct __sk_buff *skb)
{
	struct bpf_dynptr d;
	int r;

	if (bpf_dynptr_from_skb(skb, 0, &d))
		return 1;
	r = probe(&d);
	if (bpf_skb_set_tstamp(skb, 0, 1) == -22)
		r += 100000;
	if (bpf_skb_set_tstamp(skb, 1234, 1) == 0)
		r += 200000;
	if (bpf_skb_set_tstamp(skb, 99, 7) == -22)
		r += 400000;
	return r + (skb->tstamp == 1234 ? 1000000 : 0) + (skb->tstamp_type == 1 ? 2000000 : 0);
}

char _license[] SEC("license") = "GPL";
