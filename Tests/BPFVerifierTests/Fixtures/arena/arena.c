// SPDX-License-Identifier: GPL-2.0
/*
 * arena.c - programs sharing an arena (BPF_MAP_TYPE_ARENA) with user space. Built with
 * ../build.sh; verified by ArenaVerifierTests.
 *
 *   list_push        allocates a page, links two nodes through arena pointers,
 *                    counts them in an arena global                        accepted
 *   free_page        allocates and frees a page                           accepted
 *   walk_pages       pointer arithmetic across an arena page, any offset   accepted
 *   cast_without_arena  addr_space_cast in a program that uses no arena   refused
 *   alloc_not_sleepable allocating from a non-sleepable program           refused
 *   deref_user_address  reading through an arena global's user address   refused
 */
#include "swiftbpf_helpers.h"

#define __arena __attribute__((address_space(1)))
#define ARENA_PAGES 16
#define BPF_MAP_TYPE_ARENA_ID 33
#define NO_NODE (-1)
#define __ksym __attribute__((section(".ksyms")))

/* libbpf's way to put a 64-bit number in a map definition: an enum of that one value. */
#define __map_u64(name, val) enum { name##_value = (val) } name

struct {
	__uint(type, BPF_MAP_TYPE_ARENA_ID);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ARENA_PAGES);
	__map_u64(map_extra, 1ull << 44);
} arena SEC(".maps");

struct plain_array_value {
	__u64 value;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct plain_array_value);
} plain SEC(".maps");

/* The kernel's declarations (their parameter names carry meaning: __map, __ign). */
extern void __arena *bpf_arena_alloc_pages(void *p__map, void __arena *addr__ign, __u32 page_cnt,
					   int node_id, __u64 flags) __ksym __weak;
extern void bpf_arena_free_pages(void *p__map, void __arena *ptr__ign, __u32 page_cnt) __ksym __weak;

struct node {
	struct node __arena *next;
	__u64 value;
};

__u64 __arena node_count SEC(".addr_space.1");

SEC("syscall")
int list_push(void *ctx)
{
	struct node __arena *first, *second;

	first = bpf_arena_alloc_pages(&arena, NULL, 1, NO_NODE, 0);
	if (!first)
		return 1;
	second = first + 1;
	second->value = 2;
	second->next = NULL;
	first->value = 1;
	first->next = second;
	node_count += 2;
	return first->next->value == 2 ? 0 : 3;
}

SEC("syscall")
int free_page(void *ctx)
{
	__u64 __arena *page = bpf_arena_alloc_pages(&arena, NULL, 1, NO_NODE, 0);

	if (!page)
		return 1;
	*page = 7;
	bpf_arena_free_pages(&arena, page, 1);
	return 0;
}

SEC("syscall")
int walk_pages(void *ctx)
{
	char __arena *page = bpf_arena_alloc_pages(&arena, NULL, 2, NO_NODE, 0);
	__u64 sum = 0;

	if (!page)
		return 1;
	for (int i = 0; i < 8; i++) {
		page[i * 1024] = i;
		sum += page[i * 1024];
	}
	return sum == 28 ? 0 : 2;
}

SEC("syscall")
int cast_without_arena(void *ctx)
{
	__u32 key = 0;
	struct plain_array_value *v = bpf_map_lookup_elem(&plain, &key);
	__u64 address;

	if (!v)
		return 0;
	address = v->value;
	asm volatile("%[a] = addr_space_cast(%[a], 0, 1)" : [a] "+r"(address));
	return *(volatile __u32 *)address;
}

SEC("tc")
int alloc_not_sleepable(struct __sk_buff *skb)
{
	__u64 __arena *page = bpf_arena_alloc_pages(&arena, NULL, 1, NO_NODE, 0);

	return page ? 0 : 1;
}

SEC("syscall")
int deref_user_address(void *ctx)
{
	__u64 address;

	asm volatile("%[a] = node_count ll" : [a] "=r"(address));
	return *(volatile __u32 *)address;
}

char LICENSE[] SEC("license") = "GPL";
