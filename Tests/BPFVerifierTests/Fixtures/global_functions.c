// SPDX-License-Identifier: GPL-2.0
/*
 * global_functions.c - global (non-static) functions, which the kernel verifies alone from their
 * BTF prototype rather than with each caller's arguments. Each safe program has an unsafe twin.
 * Built with ./build.sh.
 *
 *   global_checked_arg   / global_unchecked_arg    a pointer argument may be NULL in the function
 *   global_nonnull_arg                             ... unless tagged arg:nonnull
 *   global_ctx_arg       / global_ctx_as_memory    the context, where a struct pointer is memory
 *   global_whole_buffer  / global_short_buffer     memory at least the pointee's size
 *   global_masked_result / global_unknown_result   what the function wrote is unknown after it
 *   global_int_return    / global_void_return      a global function returns an integer
 *   global_dead_call     / global_bad_call         only functions some path calls are verified
 *   global_number_arg    / global_pointer_for_number
 *   global_uninit_buffer                           uninitialized stack for a memory argument
 *   global_hidden_output                           ... which a __hidden (static to loaders) one may fill
 *   global_ctx_tagged    / global_void_arg         void * is the context only when tagged arg:ctx
 *   global_chain         / global_deep_chain       8 frames at most, across global functions too
 */
#include "swiftbpf_helpers.h"

#define __arg_nonnull __attribute__((btf_decl_tag("arg:nonnull")))
#define __arg_ctx __attribute__((btf_decl_tag("arg:ctx")))
#define __hidden __attribute__((visibility("hidden")))

struct pair {
	__u32 first;
	__u32 second;
};

/* --- A pointer argument may be NULL unless tagged --- */

__noinline __weak int sum_checked(const struct pair *p)
{
	if (!p)
		return 0;
	return (p->first + p->second) & 1;
}

__noinline __weak int sum_unchecked(const struct pair *p)
{
	return (p->first + p->second) & 1;	/* p may be NULL */
}

__noinline __weak int sum_nonnull(const struct pair *p __arg_nonnull)
{
	return (p->first + p->second) & 1;
}

SEC("cgroup_skb/ingress")
int global_checked_arg(struct __sk_buff *skb)
{
	struct pair p = { .first = skb->len, .second = 1 };

	return sum_checked(&p) & 1;
}

SEC("cgroup_skb/ingress")
int global_unchecked_arg(struct __sk_buff *skb)
{
	struct pair p = { .first = skb->len, .second = 1 };

	return sum_unchecked(&p) & 1;
}

SEC("cgroup_skb/ingress")
int global_nonnull_arg(struct __sk_buff *skb)
{
	struct pair p = { .first = skb->len, .second = 1 };

	return sum_nonnull(&p) & 1;
}

/* --- The context: a pointer to the program type's context struct --- */

__noinline __weak int packet_length(struct __sk_buff *skb)
{
	return skb->len > 64;
}

__noinline __weak int pair_first(const struct pair *p)
{
	return p ? p->first & 1 : 0;
}

SEC("cgroup_skb/ingress")
int global_ctx_arg(struct __sk_buff *skb)
{
	return packet_length(skb) & 1;
}

SEC("cgroup_skb/ingress")
int global_ctx_as_memory(struct __sk_buff *skb)
{
	return pair_first((const struct pair *)skb) & 1;	/* the context is not memory */
}

/* --- Memory of at least the pointee's size --- */

SEC("cgroup_skb/ingress")
int global_whole_buffer(struct __sk_buff *skb)
{
	struct pair p = { .first = skb->len, .second = 0 };

	return pair_first(&p) & 1;
}

SEC("cgroup_skb/ingress")
int global_short_buffer(struct __sk_buff *skb)
{
	__u32 one = skb->len;

	return pair_first((const struct pair *)&one) & 1;	/* 4 bytes for an 8-byte struct */
}

/* --- What the function may write is unknown after the call --- */

__noinline __weak int store_random(__u32 *v)
{
	if (v)
		*v = bpf_get_prandom_u32();
	return 0;
}

SEC("cgroup_skb/ingress")
int global_masked_result(struct __sk_buff *skb)
{
	__u32 v = 1;

	store_random(&v);
	return v & 1;
}

SEC("cgroup_skb/ingress")
int global_unknown_result(struct __sk_buff *skb)
{
	__u32 v = 1;

	store_random(&v);
	return v;	/* any number, not 0 or 1 */
}

/* --- A global function returns an integer --- */

__noinline __weak int mark_int(struct __sk_buff *skb)
{
	skb->mark = 1;
	return 0;
}

__noinline __weak void mark_void(struct __sk_buff *skb)
{
	skb->mark = 1;
}

SEC("tc")
int global_int_return(struct __sk_buff *skb)
{
	return mark_int(skb);
}

SEC("tc")
int global_void_return(struct __sk_buff *skb)
{
	mark_void(skb);
	return 0;
}

/* --- Only functions some path calls are verified; one that fails fails the program --- */

__u32 table[2];
__u32 unknown_index;
const volatile int call_bad = 0;

__noinline __weak int read_any(void)
{
	return table[unknown_index];	/* unbounded index */
}

SEC("tc")
int global_dead_call(struct __sk_buff *skb)
{
	if (call_bad)
		return read_any();
	return 0;
}

SEC("tc")
int global_bad_call(struct __sk_buff *skb)
{
	return read_any();
}

/* --- Numbers are numbers --- */

__noinline __weak int twice(int x)
{
	return x * 2;
}

SEC("tc")
int global_number_arg(struct __sk_buff *skb)
{
	return twice(skb->len) & 1;
}

SEC("tc")
int global_pointer_for_number(struct __sk_buff *skb)
{
	return twice((long)skb) & 1;	/* a pointer where a number is expected */
}

/* --- Uninitialized stack for memory (root may pass it to the kernel; we refuse it) --- */

SEC("cgroup_skb/ingress")
int global_uninit_buffer(struct __sk_buff *skb)
{
	struct pair p;

	return store_random(&p.first) & 1;
}

/* --- A __hidden function is static to loaders (libbpf): verified with its caller's stack --- */

__noinline __hidden int fill_hidden(__u32 *v)
{
	*v = bpf_get_prandom_u32();
	return 0;
}

SEC("cgroup_skb/ingress")
int global_hidden_output(struct __sk_buff *skb)
{
	__u32 v;

	fill_hidden(&v);
	return v & 1;
}

/* --- void * is the context only when tagged --- */

__noinline __weak int ctx_tagged(void *ctx __arg_ctx)
{
	return ctx != 0;
}

__noinline __weak int ctx_untagged(void *ctx)
{
	return ctx != 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int global_ctx_tagged(void *ctx)
{
	return ctx_tagged(ctx);
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int global_void_arg(void *ctx)
{
	return ctx_untagged(ctx);	/* void *: no size, and not the context */
}

/* --- At most 8 frames, counted across global functions --- */

__noinline __weak int depth1(int x) { return x + 1; }
__noinline __weak int depth2(int x) { return depth1(x) + 1; }
__noinline __weak int depth3(int x) { return depth2(x) + 1; }
__noinline __weak int depth4(int x) { return depth3(x) + 1; }
__noinline __weak int depth5(int x) { return depth4(x) + 1; }
__noinline __weak int depth6(int x) { return depth5(x) + 1; }
__noinline __weak int depth7(int x) { return depth6(x) + 1; }
__noinline __weak int depth8(int x) { return depth7(x) + 1; }

SEC("tc")
int global_chain(struct __sk_buff *skb)
{
	return depth7(skb->len) & 1;	/* 8 frames */
}

SEC("tc")
int global_deep_chain(struct __sk_buff *skb)
{
	return depth8(skb->len) & 1;	/* 9 frames */
}

char _license[] SEC("license") = "GPL";
