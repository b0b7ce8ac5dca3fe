// SPDX-License-Identifier: GPL-2.0
/*
 * kernel_context.c - what real TC programs ask of the kernel beyond the packet, as the Swift
 * runtime answers it (Docs/helpers.md, "kfuncs"). All SEC("tc") unless said otherwise; run on
 * Frames.ipv4(length: 54) (IPv4/TCP, TTL 64) unless said otherwise.
 *
 *   kc_dead_r10     a write to r10 on a branch the verifier proves never taken (r0 = 2; if r0 == 2
 *                   skip it): dead code, accepted by the kernel, which replaces it; returns 2.
 *   kc_tail_depth   counts its entries in `entries` and calls a bpf-to-bpf subprogram that tail-calls
 *                   kc_tail_depth again through `self_table`: each tail call replaces the subprogram's
 *                   frame, so the run nests 34 programs deep (the first and 33 tail calls, the
 *                   kernel's limit), far past 8 frames; returns `entries`: 34 on the first run.
 *   kc_rdonly_cast  copies the IPv4 header to the stack and reads its TTL through bpf_rdonly_cast to
 *                   the kernel's struct iphdr: 64.
 *   kc_kern_ctx     IPv6 frames only (others: TC_ACT_SHOT, 2): the kernel's sk_buff behind the
 *                   context (bpf_cast_to_kern_ctx), its `len`: the frame's length (the Swift runtime
 *                   gives a view of the sk_buff with the fields it knows).
 *   kc_kern_skb     the sk_buff's `len` (returned) and, through its shared info (`head + end`, cast
 *                   with bpf_rdonly_cast), `meta_len` and `frag_list->len` into kern_shared: 0 and 0
 *                   (the kernel's frag_list is NULL, whose read gives 0; the runtime's head is NULL).
 *   kc_kern_xdp     SEC("xdp"): the xdp_buff's data_end - data (returned: the frame's length), and its
 *                   rxq->dev->ifindex into kern_ifindex: the kernel's loopback 1; the runtime has no
 *                   device (rxq NULL), and the reads through NULL give 0, as the kernel's probe loads.
 *   kc_crypto       encrypts the packet with the crypto context kept in `crypto_ctxs` if there is
 *                   one; none was created: returns 3 (and `crypto_status` stays 0).
 *   kc_crypto_setup SEC("syscall"): bpf_crypto_ctx_create for "skcipher"/"ecb(aes)"; on failure
 *                   `crypto_status` is the error and it returns 1, else it keeps the context and
 *                   returns 0. The Swift runtime has no crypto types: -EOPNOTSUPP (-95), 1.
 *   kc_current_task bpf_get_current_task, then bpf_probe_read_kernel of the task's first 4 bytes:
 *                   returns 1 when the task is 0 (the Swift runtime: no kernel task) and the read
 *                   failed with -EFAULT, 2 when a task was read (the kernel).
 *   kc_cgroup       bpf_skb_cgroup_id, bpf_skb_ancestor_cgroup_id(skb, 0) and (skb, 1) of the test
 *                   run's skb, kept in `cgroup_ids`: its socket is in the root cgroup, so 1, 1, 0;
 *                   returns 0.
 */
#include "swiftbpf_helpers.h"

#define __ksym __attribute__((section(".ksyms")))
#define __kptr __attribute__((btf_type_tag("kptr")))

/* The kernel's types, as far as these programs read them (CO-RE adjusts the offsets). */
struct sk_buff {
	unsigned int len;
	unsigned int end;
	unsigned char *head;
} __attribute__((preserve_access_index));

struct skb_shared_info {
	__u8 meta_len;
	struct sk_buff *frag_list;
} __attribute__((preserve_access_index));

struct net_device {
	int ifindex;
} __attribute__((preserve_access_index));

struct xdp_rxq_info {
	struct net_device *dev;
} __attribute__((preserve_access_index));

struct xdp_buff {
	void *data;
	void *data_end;
	struct xdp_rxq_info *rxq;
} __attribute__((preserve_access_index));

struct bpf_crypto_ctx {
	int opaque;
};
struct bpf_crypto_params {
	char type[14];
	__u8 reserved[2];
	char algo[128];
	__u8 key[256];
	__u32 key_len;
	__u32 authsize;
};

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags, struct bpf_dynptr *ptr) __ksym;
extern struct bpf_crypto_ctx *bpf_crypto_ctx_create(const struct bpf_crypto_params *params, __u32 params__sz, int *err) __ksym;
extern void bpf_crypto_ctx_release(struct bpf_crypto_ctx *ctx) __ksym;
extern int bpf_crypto_encrypt(struct bpf_crypto_ctx *ctx, const struct bpf_dynptr *src, const struct bpf_dynptr *dst,
			      const struct bpf_dynptr *siv) __ksym;

static __u64 (* const bpf_get_current_task)(void) = (void *) 35;
static __u64 (* const bpf_skb_cgroup_id)(struct __sk_buff *skb) = (void *) 79;
static __u64 (* const bpf_skb_ancestor_cgroup_id)(struct __sk_buff *skb, int level) = (void *) 83;
static void *(* const bpf_kptr_xchg)(void *dst, void *ptr) = (void *) 194;

int kc_tail_depth(struct __sk_buff *skb);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct __sk_buff *));
} self_table SEC(".maps") = {
	.values = { [0] = &kc_tail_depth },
};

struct crypto_value {
	struct bpf_crypto_ctx __kptr *ctx;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct crypto_value);
} crypto_ctxs SEC(".maps");

int entries;
int crypto_status;
char encrypted[16];
__u64 cgroup_ids[3];
__u32 kern_shared[2];
int kern_ifindex;

SEC("tc")
__attribute__((naked)) int kc_dead_r10(void)
{
	asm volatile("r0 = 2;"
		     "if r0 == 2 goto 1f;"
		     "r10 = 0;"
		     "1: exit;" ::: "memory");
}

static __noinline int tail_again(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &self_table, 0);
	return 0;
}

SEC("tc")
int kc_tail_depth(struct __sk_buff *skb)
{
	entries++;
	tail_again(skb);
	return entries;
}

SEC("tc")
int kc_rdonly_cast(struct __sk_buff *skb)
{
	struct iphdr header, *ip;

	if (bpf_skb_load_bytes(skb, 14, &header, sizeof(header)))
		return 1;
	ip = bpf_rdonly_cast(&header, __builtin_btf_type_id(*(struct iphdr *)0, 1));
	return ip->ttl;
}

SEC("tc")
int kc_kern_ctx(struct __sk_buff *skb)
{
	struct sk_buff *kskb;

	if (skb->protocol != bpf_htons(0x86dd))
		return TC_ACT_SHOT;
	kskb = bpf_cast_to_kern_ctx(skb);
	return kskb->len;
}

SEC("tc")
int kc_kern_skb(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	struct skb_shared_info *shared;

	shared = bpf_rdonly_cast(kskb->head + kskb->end, __builtin_btf_type_id(*(struct skb_shared_info *)0, 1));
	kern_shared[0] = shared->meta_len;
	kern_shared[1] = shared->frag_list->len;
	return kskb->len;
}

SEC("xdp")
int kc_kern_xdp(struct xdp_md *ctx)
{
	struct xdp_buff *kctx = bpf_cast_to_kern_ctx(ctx);

	kern_ifindex = kctx->rxq->dev->ifindex;
	return kctx->data_end - kctx->data;
}

SEC("tc")
int kc_crypto(struct __sk_buff *skb)
{
	struct bpf_dynptr source, destination;
	struct bpf_crypto_ctx *ctx;
	struct crypto_value *v;
	__u32 key = 0;

	v = bpf_map_lookup_elem(&crypto_ctxs, &key);
	if (!v)
		return 4;
	ctx = v->ctx;
	if (!ctx)
		return 3;
	bpf_dynptr_from_skb(skb, 0, &source);
	bpf_dynptr_from_mem(encrypted, sizeof(encrypted), 0, &destination);
	crypto_status = bpf_crypto_encrypt(ctx, &source, &destination, 0);
	return 0;
}

SEC("syscall")
int kc_crypto_setup(void *args)
{
	struct bpf_crypto_params params = {
		.type = "skcipher",
		.algo = "ecb(aes)",
		.key_len = 16,
	};
	struct bpf_crypto_ctx *ctx, *old;
	struct crypto_value *v;
	__u32 key = 0;
	int err = 0;

	ctx = bpf_crypto_ctx_create(&params, sizeof(params), &err);
	if (!ctx) {
		crypto_status = err;
		return 1;
	}
	v = bpf_map_lookup_elem(&crypto_ctxs, &key);
	if (!v) {
		bpf_crypto_ctx_release(ctx);
		return 2;
	}
	old = bpf_kptr_xchg(&v->ctx, ctx);
	if (old)
		bpf_crypto_ctx_release(old);
	return 0;
}

SEC("tc")
int kc_current_task(struct __sk_buff *skb)
{
	__u64 task = bpf_get_current_task();
	__u32 first = 7;

	if (bpf_probe_read_kernel(&first, sizeof(first), (void *)task) == -14 && task == 0 && first == 0)
		return 1;
	return 2;
}

SEC("tc")
int kc_cgroup(struct __sk_buff *skb)
{
	cgroup_ids[0] = bpf_skb_cgroup_id(skb);
	cgroup_ids[1] = bpf_skb_ancestor_cgroup_id(skb, 0);
	cgroup_ids[2] = bpf_skb_ancestor_cgroup_id(skb, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
