// SPDX-License-Identifier: GPL-2.0
/*
 * dynptrs.c - dynptr programs built against the running kernel's types (see typed_kernel.c),
 * loaded into the kernel by DynptrAgreementTests, whose verdicts ours must equal. ok_* are
 * accepted by Linux 6.18, bad_* refused:
 *
 *  ok_local_rw            a local dynptr over a map value: write, read, a slice written
 *  ok_ringbuf_submit      a ringbuf dynptr: a slice written, then submitted
 *  ok_ringbuf_failed      a reservation that failed is still discarded
 *  ok_overwrite_local     a local dynptr's slots overwritten by a number: the dynptr is gone
 *  ok_skb_slice           tc: an skb dynptr, a read-only slice read
 *  ok_xdp_slice           xdp: an xdp dynptr, a read-only slice read
 *  ok_clone_adjust        xdp: a clone, adjusted, its size read
 *  ok_callback_sample     bpf_user_ringbuf_drain's callback reads its sample through bpf_dynptr_read
 *  bad_ringbuf_leak       a ringbuf dynptr never submitted or discarded
 *  bad_ringbuf_overwrite  a store over a ringbuf dynptr (it holds a reference)
 *  bad_read_slot          the dynptr's own bytes read directly
 *  bad_slice_after_submit a slice written after its ringbuf dynptr was submitted
 *  bad_submit_twice       a ringbuf dynptr submitted twice
 *  bad_submit_local       a local dynptr submitted as if it were a ringbuf one
 *  bad_uninit             bpf_dynptr_read from stack that holds no dynptr
 *  bad_from_stack         bpf_dynptr_from_mem over stack memory (only map values)
 *  bad_helper_writes_slot bpf_dynptr_read into the dynptr's own slots
 *  bad_slice_write        a write through bpf_dynptr_slice's read-only slice
 *  bad_slice_var_size     bpf_dynptr_slice with a size not known when verified
 *  bad_slice_after_pull   an skb slice read after bpf_skb_pull_data may have moved the packet
 *  bad_xdp_in_tc          bpf_dynptr_from_xdp in a tc program
 *  bad_slice_after_overwrite  a local dynptr's slice used after the dynptr was overwritten
 *  bad_callback_release   the callback's sample discarded as if the program owned it
 */
#include "vmlinux.h"

#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

static long (*bpf_dynptr_from_mem)(void *data, __u32 size, __u64 flags, struct bpf_dynptr *ptr) = (void *)197;
static long (*bpf_ringbuf_reserve_dynptr)(void *ringbuf, __u32 size, __u64 flags, struct bpf_dynptr *ptr) = (void *)198;
static void (*bpf_ringbuf_submit_dynptr)(struct bpf_dynptr *ptr, __u64 flags) = (void *)199;
static void (*bpf_ringbuf_discard_dynptr)(struct bpf_dynptr *ptr, __u64 flags) = (void *)200;
static long (*bpf_dynptr_read)(void *dst, __u32 len, const struct bpf_dynptr *src, __u32 offset, __u64 flags) = (void *)201;
static long (*bpf_dynptr_write)(const struct bpf_dynptr *dst, __u32 offset, void *src, __u32 len, __u64 flags) = (void *)202;
static void *(*bpf_dynptr_data)(const struct bpf_dynptr *ptr, __u32 offset, __u32 len) = (void *)203;
static long (*bpf_user_ringbuf_drain)(void *map, void *callback_fn, void *ctx, __u64 flags) = (void *)209;
static long (*bpf_skb_pull_data)(struct __sk_buff *skb, __u32 len) = (void *)39;
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern int bpf_dynptr_from_xdp(struct xdp_md *xdp, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt, __u32 buffer__szk) __ksym;
extern int bpf_dynptr_clone(const struct bpf_dynptr *p, struct bpf_dynptr *clone__uninit) __ksym;
extern int bpf_dynptr_adjust(const struct bpf_dynptr *p, __u32 start, __u32 end) __ksym;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;

struct value {
	__u64 data[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct value);
} values SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} requests SEC(".maps");

long sink;

static struct value *first_value(void)
{
	__u32 key = 0;
	return bpf_map_lookup_elem(&values, &key);
}

SEC("xdp")
int ok_local_rw(struct xdp_md *ctx)
{
	struct value *v = first_value();
	struct bpf_dynptr d;
	__u64 in = 7, out = 0;
	__u64 *p;

	if (!v)
		return XDP_PASS;
	bpf_dynptr_from_mem(v, sizeof(*v), 0, &d);
	bpf_dynptr_write(&d, 0, &in, sizeof(in), 0);
	bpf_dynptr_read(&out, sizeof(out), &d, 8, 0);
	p = bpf_dynptr_data(&d, 16, 8);
	if (p)
		*p = out;
	return XDP_PASS;
}

SEC("xdp")
int ok_ringbuf_submit(struct xdp_md *ctx)
{
	struct bpf_dynptr d;
	__u64 *p;

	bpf_ringbuf_reserve_dynptr(&events, 16, 0, &d);
	p = bpf_dynptr_data(&d, 0, 16);
	if (!p) {
		bpf_ringbuf_discard_dynptr(&d, 0);
		return XDP_PASS;
	}
	p[0] = 1;
	p[1] = 2;
	bpf_ringbuf_submit_dynptr(&d, 0);
	return XDP_PASS;
}

SEC("xdp")
int ok_ringbuf_failed(struct xdp_md *ctx)
{
	struct bpf_dynptr d;

	if (bpf_ringbuf_reserve_dynptr(&events, 8, 0, &d)) {
		bpf_ringbuf_discard_dynptr(&d, 0);
		return XDP_DROP;
	}
	bpf_ringbuf_submit_dynptr(&d, 0);
	return XDP_PASS;
}

SEC("xdp")
int ok_overwrite_local(struct xdp_md *ctx)
{
	struct value *v = first_value();
	struct bpf_dynptr d;
	volatile __u64 *slot = (volatile __u64 *)&d;

	if (!v)
		return XDP_PASS;
	bpf_dynptr_from_mem(v, sizeof(*v), 0, &d);
	slot[0] = 1;
	slot[1] = 2;
	sink = slot[0] + slot[1];
	return XDP_PASS;
}

SEC("tc")
int ok_skb_slice(struct __sk_buff *skb)
{
	struct bpf_dynptr d;
	__u8 buffer[14] = {};
	__u8 *eth;

	bpf_dynptr_from_skb(skb, 0, &d);
	eth = bpf_dynptr_slice(&d, 0, buffer, sizeof(buffer));
	if (!eth)
		return 2;
	sink = eth[12];
	return 0;
}

SEC("xdp")
int ok_xdp_slice(struct xdp_md *ctx)
{
	struct bpf_dynptr d;
	__u8 buffer[14] = {};
	__u8 *eth;

	bpf_dynptr_from_xdp(ctx, 0, &d);
	eth = bpf_dynptr_slice(&d, 0, buffer, sizeof(buffer));
	if (!eth)
		return XDP_DROP;
	sink = eth[13];
	return XDP_PASS;
}

SEC("xdp")
int ok_clone_adjust(struct xdp_md *ctx)
{
	struct bpf_dynptr d, c;

	bpf_dynptr_from_xdp(ctx, 0, &d);
	bpf_dynptr_clone(&d, &c);
	bpf_dynptr_adjust(&c, 1, 10);
	sink = bpf_dynptr_size(&c) + bpf_dynptr_size(&d);
	return XDP_PASS;
}

static long read_sample(struct bpf_dynptr *sample, void *ctx)
{
	__u64 first = 0;

	bpf_dynptr_read(&first, sizeof(first), sample, 0, 0);
	sink += first;
	return 0;
}

SEC("xdp")
int ok_callback_sample(struct xdp_md *ctx)
{
	bpf_user_ringbuf_drain(&requests, read_sample, 0, 0);
	return XDP_PASS;
}

SEC("xdp")
int bad_ringbuf_leak(struct xdp_md *ctx)
{
	struct bpf_dynptr d;
	__u64 *p;

	bpf_ringbuf_reserve_dynptr(&events, 8, 0, &d);
	p = bpf_dynptr_data(&d, 0, 8);
	if (p)
		*p = 1;
	return XDP_PASS;
}

SEC("xdp")
int bad_ringbuf_overwrite(struct xdp_md *ctx)
{
	struct bpf_dynptr d;
	volatile __u64 *slot = (volatile __u64 *)&d;

	bpf_ringbuf_reserve_dynptr(&events, 8, 0, &d);
	slot[1] = 0;
	bpf_ringbuf_discard_dynptr(&d, 0);
	return XDP_PASS;
}

SEC("xdp")
int bad_read_slot(struct xdp_md *ctx)
{
	struct value *v = first_value();
	struct bpf_dynptr d;

	if (!v)
		return XDP_PASS;
	bpf_dynptr_from_mem(v, sizeof(*v), 0, &d);
	sink = *(volatile __u32 *)&d;
	return XDP_PASS;
}

SEC("xdp")
int bad_slice_after_submit(struct xdp_md *ctx)
{
	struct bpf_dynptr d;
	__u64 *p;

	bpf_ringbuf_reserve_dynptr(&events, 8, 0, &d);
	p = bpf_dynptr_data(&d, 0, 8);
	if (!p) {
		bpf_ringbuf_discard_dynptr(&d, 0);
		return XDP_PASS;
	}
	bpf_ringbuf_submit_dynptr(&d, 0);
	*p = 1;
	return XDP_PASS;
}

SEC("xdp")
int bad_submit_twice(struct xdp_md *ctx)
{
	struct bpf_dynptr d;

	bpf_ringbuf_reserve_dynptr(&events, 8, 0, &d);
	bpf_ringbuf_submit_dynptr(&d, 0);
	bpf_ringbuf_submit_dynptr(&d, 0);
	return XDP_PASS;
}

SEC("xdp")
int bad_submit_local(struct xdp_md *ctx)
{
	struct value *v = first_value();
	struct bpf_dynptr d;

	if (!v)
		return XDP_PASS;
	bpf_dynptr_from_mem(v, sizeof(*v), 0, &d);
	bpf_ringbuf_submit_dynptr(&d, 0);
	return XDP_PASS;
}

SEC("xdp")
int bad_uninit(struct xdp_md *ctx)
{
	struct bpf_dynptr d;
	__u64 out = 0;

	__builtin_memset(&d, 0, sizeof(d));
	bpf_dynptr_read(&out, sizeof(out), &d, 0, 0);
	sink = out;
	return XDP_PASS;
}

SEC("xdp")
int bad_from_stack(struct xdp_md *ctx)
{
	__u64 buffer[2] = {};
	struct bpf_dynptr d;
	__u64 out = 0;

	bpf_dynptr_from_mem(buffer, sizeof(buffer), 0, &d);
	bpf_dynptr_read(&out, sizeof(out), &d, 0, 0);
	sink = out;
	return XDP_PASS;
}

SEC("xdp")
int bad_helper_writes_slot(struct xdp_md *ctx)
{
	struct value *v = first_value();
	struct bpf_dynptr d;

	if (!v)
		return XDP_PASS;
	bpf_dynptr_from_mem(v, sizeof(*v), 0, &d);
	bpf_dynptr_read(&d, 8, &d, 0, 0);
	return XDP_PASS;
}

SEC("tc")
int bad_slice_write(struct __sk_buff *skb)
{
	struct bpf_dynptr d;
	__u8 buffer[14] = {};
	__u8 *eth;

	bpf_dynptr_from_skb(skb, 0, &d);
	eth = bpf_dynptr_slice(&d, 0, buffer, sizeof(buffer));
	if (!eth)
		return 2;
	eth[0] = 0xff;
	return 0;
}

SEC("tc")
int bad_slice_var_size(struct __sk_buff *skb)
{
	struct bpf_dynptr d;
	__u8 *data;
	__u32 size = skb->len & 7;

	bpf_dynptr_from_skb(skb, 0, &d);
	data = bpf_dynptr_slice(&d, 0, 0, size);
	if (!data)
		return 2;
	sink = data[0];
	return 0;
}

SEC("tc")
int bad_slice_after_pull(struct __sk_buff *skb)
{
	struct bpf_dynptr d;
	__u8 buffer[14] = {};
	__u8 *eth;

	bpf_dynptr_from_skb(skb, 0, &d);
	eth = bpf_dynptr_slice(&d, 0, buffer, sizeof(buffer));
	if (!eth)
		return 2;
	bpf_skb_pull_data(skb, 64);
	sink = eth[12];
	return 0;
}

SEC("tc")
int bad_xdp_in_tc(struct __sk_buff *skb)
{
	struct bpf_dynptr d;

	bpf_dynptr_from_xdp((struct xdp_md *)skb, 0, &d);
	sink = bpf_dynptr_size(&d);
	return 0;
}

SEC("xdp")
int bad_slice_after_overwrite(struct xdp_md *ctx)
{
	struct value *v = first_value();
	struct bpf_dynptr d;
	volatile __u64 *slot = (volatile __u64 *)&d;
	__u64 *p;

	if (!v)
		return XDP_PASS;
	bpf_dynptr_from_mem(v, sizeof(*v), 0, &d);
	p = bpf_dynptr_data(&d, 0, 8);
	if (!p)
		return XDP_PASS;
	slot[0] = 0;
	sink = *p;
	return XDP_PASS;
}

static long release_sample(struct bpf_dynptr *sample, void *ctx)
{
	bpf_ringbuf_discard_dynptr(sample, 0);
	return 0;
}

SEC("xdp")
int bad_callback_release(struct xdp_md *ctx)
{
	bpf_user_ringbuf_drain(&requests, release_sample, 0, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
