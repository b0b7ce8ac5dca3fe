// SPDX-License-Identifier: GPL-2.0
/*
 * exceptions.c - bpf_throw in the runtime, compared with the kernel (differential test). SEC("tc"),
 * run on packets of 42 and 54 bytes:
 *
 *   ex_default   a function two calls deep throws (len + 256) when the packet is longer than 50
 *                bytes; no exception callback, so the program returns the cookie (310 for 54
 *                bytes); shorter packets return 7.
 *   ex_callback  throws 5 from a nested call on packets longer than 50 bytes; its exception
 *                callback returns cookie * 3 + 1 (16); shorter packets return 2.
 *   ex_effects   counts the run in a map, then throws 9 from inside a loop at i == 3: the count
 *                written before the throw stays (the map is compared), the result is 9.
 */
#include "swiftbpf_helpers.h"

#define __ksym __attribute__((section(".ksyms")))
#define __exception_cb(name) __attribute__((btf_decl_tag("exception_callback:" #name)))

extern void bpf_throw(__u64 cookie) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} runs SEC(".maps");

static __attribute__((noinline)) int deepest(__u32 len)
{
	if (len > 50)
		bpf_throw(len + 256);
	return len & 1;
}

static __attribute__((noinline)) int middle(__u32 len)
{
	return deepest(len) + 6;
}

SEC("tc")
int ex_default(struct __sk_buff *skb)
{
	return middle(skb->len) + (skb->len & 1);
}

static __attribute__((noinline)) int thrower(__u32 len)
{
	if (len > 50)
		bpf_throw(5);
	return 2;
}

__attribute__((noinline)) int ex_handler(__u64 cookie)
{
	return cookie * 3 + 1;
}

SEC("tc")
__exception_cb(ex_handler)
int ex_callback(struct __sk_buff *skb)
{
	return thrower(skb->len);
}

SEC("tc")
int ex_effects(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&runs, &key);

	if (count)
		__sync_fetch_and_add(count, 1);
	for (int i = 0; i < 8; i++) {
		if (i == 3 && skb->len > 0)
			bpf_throw(9);
	}
	return 1;
}

char _license[] SEC("license") = "GPL";
