// SPDX-License-Identifier: GPL-2.0
/*
 * exceptions.c - bpf_throw, built against the running kernel's types (see typed_kernel.c) and loaded
 * into the kernel by the agreement test. ok_* are accepted by Linux 6.18, bad_* refused:
 *
 *  ok_throw            tc: throws when the packet is longer than 100 bytes
 *  ok_throw_subprog    tc: a function it calls throws (the whole program ends)
 *  bad_throw_lock      throws while holding a bpf_spin_lock
 *  bad_throw_reference throws while holding a socket reference
 *  bad_throw_rcu       throws inside a bpf_rcu_read_lock section
 *  bad_throw_pointer   throws a pointer as the cookie
 *  bad_throw_callback  throws from a bpf_loop callback
 *  ok_callback         names an exception callback (__exception_cb) that returns the cookie's low bit
 *  bad_callback_args   names an exception callback taking two arguments
 *  bad_callback_called calls its own exception callback
 *  bad_callback_throws names an exception callback that throws
 */
#include "vmlinux.h"

#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_spin_lock)(struct bpf_spin_lock *lock) = (void *)93;
static long (*bpf_spin_unlock)(struct bpf_spin_lock *lock) = (void *)94;
static struct bpf_sock *(*bpf_sk_lookup_tcp)(void *ctx, struct bpf_sock_tuple *tuple, __u32 size, __u64 netns, __u64 flags) = (void *)84;
static long (*bpf_sk_release)(void *sock) = (void *)86;
static long (*bpf_loop)(__u32 nr_loops, void *callback_fn, void *callback_ctx, __u64 flags) = (void *)181;

extern void bpf_throw(__u64 cookie) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

struct locked {
	struct bpf_spin_lock lock;
	__u64 value;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct locked);
} values SEC(".maps");

long sink;

/* Our spelling of libbpf's __exception_cb: the BTF tag that names a program's exception callback. */
#define exception_callback(name) __attribute__((btf_decl_tag("exception_callback:" #name)))

SEC("tc")
int ok_throw(struct __sk_buff *skb)
{
	if (skb->len > 100)
		bpf_throw(1);
	return 0;
}

static __attribute__((noinline)) int check_length(struct __sk_buff *skb)
{
	if (skb->len > 100)
		bpf_throw(2);
	return skb->len;
}

SEC("tc")
int ok_throw_subprog(struct __sk_buff *skb)
{
	sink = check_length(skb);
	return 0;
}

SEC("tc")
int bad_throw_lock(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct locked *v = bpf_map_lookup_elem(&values, &key);

	if (!v)
		return 0;
	bpf_spin_lock(&v->lock);
	if (skb->len > 100)
		bpf_throw(3);
	v->value++;
	bpf_spin_unlock(&v->lock);
	return 0;
}

SEC("tc")
int bad_throw_reference(struct __sk_buff *skb)
{
	struct bpf_sock_tuple tuple = {};
	struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), -1, 0);

	if (!sk)
		return 0;
	if (skb->len > 100)
		bpf_throw(4);
	bpf_sk_release(sk);
	return 0;
}

SEC("tc")
int bad_throw_rcu(struct __sk_buff *skb)
{
	bpf_rcu_read_lock();
	if (skb->len > 100)
		bpf_throw(5);
	bpf_rcu_read_unlock();
	return 0;
}

SEC("tc")
int bad_throw_pointer(struct __sk_buff *skb)
{
	bpf_throw((__u64)skb);
	return 0;
}

static long throw_at_three(__u64 index, void *ctx)
{
	if (index == 3)
		bpf_throw(6);
	return 0;
}

SEC("tc")
int bad_throw_callback(struct __sk_buff *skb)
{
	bpf_loop(8, throw_at_three, 0, 0);
	return 0;
}

__attribute__((noinline)) int low_bit(__u64 cookie)
{
	return cookie & 1;
}

__attribute__((noinline)) int two_arguments(__u64 cookie, __u64 other)
{
	return (cookie + other) & 1;
}

__attribute__((noinline)) int throws_again(__u64 cookie)
{
	if (cookie > 10)
		bpf_throw(cookie);
	return 0;
}

SEC("tc")
exception_callback(low_bit)
int ok_callback(struct __sk_buff *skb)
{
	if (skb->len > 100)
		bpf_throw(7);
	return 0;
}

SEC("tc")
exception_callback(two_arguments)
int bad_callback_args(struct __sk_buff *skb)
{
	if (skb->len > 100)
		bpf_throw(8);
	return 0;
}

SEC("tc")
exception_callback(low_bit)
int bad_callback_called(struct __sk_buff *skb)
{
	if (skb->len > 100)
		bpf_throw(9);
	return low_bit(skb->len);
}

SEC("tc")
exception_callback(throws_again)
int bad_callback_throws(struct __sk_buff *skb)
{
	if (skb->len > 100)
		bpf_throw(10);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
