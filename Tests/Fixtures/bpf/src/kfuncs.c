// SPDX-License-Identifier: GPL-2.0
/*
 * kfuncs.c - kfuncs the Swift runtime implements, run in the runtime and (differential test) in the
 * kernel. All SEC("xdp"), run on Frames.ipv4(length: 60):
 *
 *   kf_iter_sum   sums the numbers 0..9 with an open-coded iterator (bpf_iter_num_*): 45, plus 100
 *                 for each further iterator that is empty (5..5) or refused (9..3: -EINVAL) -> 245.
 *   kf_nested     nested iterators: i in 0..3, j in 0..4, sums i * j -> 18; inside an RCU section.
 *   kf_dynptr     a local dynptr over a 32-byte map value: size 32, adjusted to [8, 24) -> size 16,
 *                 a clone of it, a read-only slice of 4 bytes at 4 (value bytes 12..15, set to
 *                 1, 2, 3, 4 first), a slice past the end (NULL): returns the slice's bytes summed
 *                 (10) + 100 * (size 16) -> 1610.
 */
#include "swiftbpf_helpers.h"

#define __ksym __attribute__((section(".ksyms")))

struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;
extern int bpf_dynptr_adjust(const struct bpf_dynptr *p, __u32 start, __u32 end) __ksym;
extern int bpf_dynptr_clone(const struct bpf_dynptr *p, struct bpf_dynptr *clone__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt, __u32 buffer__szk) __ksym;

struct value {
	__u8 bytes[32];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct value);
} values SEC(".maps");

SEC("xdp")
int kf_iter_sum(struct xdp_md *ctx)
{
	struct bpf_iter_num it;
	int *n, sum = 0;

	bpf_iter_num_new(&it, 0, 10);
	while ((n = bpf_iter_num_next(&it)))
		sum += *n;
	bpf_iter_num_destroy(&it);
	bpf_iter_num_new(&it, 5, 5);
	if (!bpf_iter_num_next(&it))
		sum += 100;
	bpf_iter_num_destroy(&it);
	if (bpf_iter_num_new(&it, 9, 3) == -22 && !bpf_iter_num_next(&it))
		sum += 100;
	bpf_iter_num_destroy(&it);
	return sum;
}

SEC("xdp")
int kf_nested(struct xdp_md *ctx)
{
	struct bpf_iter_num outer, inner;
	int *i, *j, sum = 0;

	bpf_rcu_read_lock();
	bpf_iter_num_new(&outer, 0, 3);
	while ((i = bpf_iter_num_next(&outer))) {
		bpf_iter_num_new(&inner, 0, 4);
		while ((j = bpf_iter_num_next(&inner)))
			sum += *i * *j;
		bpf_iter_num_destroy(&inner);
	}
	bpf_iter_num_destroy(&outer);
	bpf_rcu_read_unlock();
	return sum;
}

SEC("xdp")
int kf_dynptr(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct value *v = bpf_map_lookup_elem(&values, &key);
	struct bpf_dynptr d, c;
	__u8 *p;
	int result = 0;

	if (!v)
		return 0;
	v->bytes[12] = 1;
	v->bytes[13] = 2;
	v->bytes[14] = 3;
	v->bytes[15] = 4;
	bpf_dynptr_from_mem(v, sizeof(*v), 0, &d);
	if (bpf_dynptr_size(&d) != 32)
		return 1;
	bpf_dynptr_adjust(&d, 8, 24);
	bpf_dynptr_clone(&d, &c);
	p = bpf_dynptr_slice(&c, 4, 0, 4);
	if (!p)
		return 2;
	result = p[0] + p[1] + p[2] + p[3];
	if (bpf_dynptr_slice(&c, 14, 0, 4))
		return 3;
	return result + 100 * bpf_dynptr_size(&c);
}

char LICENSE[] SEC("license") = "GPL";
