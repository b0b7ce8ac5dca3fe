// SPDX-License-Identifier: GPL-2.0
/*
 * graph_objects.c - allocated objects (bpf_obj_new/bpf_obj_drop), linked lists and rbtrees
 * under a bpf_spin_lock, built against the running kernel's types (a vmlinux.h that
 * `swiftbpf btf dump` generates at build time; not committed). GraphObjectTests verifies
 * each with the expected verdict; GraphObjectKernelAgreementTests loads them into the
 * kernel and compares. Programs named ok_* are accepted by Linux 6.18, bad_* refused:
 *
 *  ok_list            allocates an item, pushes it on a list in global data under its
 *                     lock, pops one back and drops it
 *  ok_list_map        the same with the list and its lock in an array map's value
 *  ok_rbtree          adds an item to an rbtree (ordered by a less() callback), then
 *                     takes the first one out and drops it
 *  ok_non_owning      writes an item through the pointer it keeps after the push, while
 *                     the lock is still held
 *  bad_leak           allocates an item and never drops it
 *  bad_use_after_drop reads an item after dropping it
 *  bad_push_unlocked  pushes without holding the list's lock
 *  bad_after_unlock   reads an item through its (non-owning) pointer after the unlock
 *  bad_double_push    pushes the same item twice
 *  bad_wrong_lock     holds the lock of another section than the list's
 *  bad_direct_node    writes the item's list node directly
 *  bad_drop_in_list   drops an item that is in the list (a non-owning pointer)
 *  ok_refcount        takes a second reference to a refcounted item (bpf_refcount_acquire
 *                     cannot fail on an owning one), pushes the first, writes and drops
 *                     through the second after the unlock
 *  bad_less_locks     an rbtree's less() callback takes a lock
 */
#include "vmlinux.h"

#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))
#define __contains(name, node) __attribute__((btf_decl_tag("contains:" #name ":" #node)))
#define private(name) SEC(".data." #name) __attribute__((visibility("hidden"), aligned(8)))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define container_of(ptr, type, member) ((type *)((void *)(ptr) - __builtin_offsetof(type, member)))
/* The local type id of a struct of this object's BTF (a CO-RE relocation). */
#define local_type_id(type) __builtin_btf_type_id(*(typeof(type) *)0, 0)

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_spin_lock)(struct bpf_spin_lock *lock) = (void *)93;
static long (*bpf_spin_unlock)(struct bpf_spin_lock *lock) = (void *)94;

extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;
extern void *bpf_refcount_acquire_impl(void *kptr, void *meta) __ksym;
extern int bpf_list_push_back_impl(struct bpf_list_head *head, struct bpf_list_node *node, void *meta, __u64 off) __ksym;
extern struct bpf_list_node *bpf_list_pop_front(struct bpf_list_head *head) __ksym;
extern int bpf_rbtree_add_impl(struct bpf_rb_root *root, struct bpf_rb_node *node,
			       bool (less)(struct bpf_rb_node *a, const struct bpf_rb_node *b), void *meta, __u64 off) __ksym;
extern struct bpf_rb_node *bpf_rbtree_first(struct bpf_rb_root *root) __ksym;
extern struct bpf_rb_node *bpf_rbtree_remove(struct bpf_rb_root *root, struct bpf_rb_node *node) __ksym;

struct item {
	long value;
	struct bpf_list_node link;
};

/* A node of an rbtree (a struct in both a list and an rbtree would need a bpf_refcount). */
struct leaf {
	long value;
	struct bpf_rb_node rb;
};

private(LIST) struct bpf_spin_lock list_lock;
private(LIST) struct bpf_list_head items __contains(item, link);
private(TREE) struct bpf_spin_lock tree_lock;
private(TREE) struct bpf_rb_root tree __contains(leaf, rb);

/* A refcounted list item: more than one owning reference may exist. */
struct counted {
	long value;
	struct bpf_list_node link;
	struct bpf_refcount ref;
};

private(COUNTED) struct bpf_spin_lock counted_lock;
private(COUNTED) struct bpf_list_head counted_list __contains(counted, link);

struct shelf {
	struct bpf_spin_lock lock;
	struct bpf_list_head head __contains(item, link);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, int);
	__type(value, struct shelf);
	__uint(max_entries, 1);
} shelves SEC(".maps");

long sink;

static struct item *new_item(long value)
{
	struct item *it = bpf_obj_new_impl(local_type_id(struct item), 0);

	if (it)
		it->value = value;
	return it;
}

static bool before(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	return container_of(a, struct leaf, rb)->value < container_of(b, struct leaf, rb)->value;
}

SEC("tc")
int ok_list(void *ctx)
{
	struct bpf_list_node *node;
	struct item *it = new_item(7);

	if (!it)
		return 0;
	bpf_spin_lock(&list_lock);
	bpf_list_push_back_impl(&items, &it->link, 0, 0);
	node = bpf_list_pop_front(&items);
	bpf_spin_unlock(&list_lock);
	if (!node)
		return 0;
	it = container_of(node, struct item, link);
	sink = it->value;
	bpf_obj_drop_impl(it, 0);
	return 0;
}

SEC("tc")
int ok_list_map(void *ctx)
{
	int key = 0;
	struct shelf *s = bpf_map_lookup_elem(&shelves, &key);
	struct bpf_list_node *node;
	struct item *it;

	if (!s)
		return 0;
	it = new_item(8);
	if (!it)
		return 0;
	bpf_spin_lock(&s->lock);
	bpf_list_push_back_impl(&s->head, &it->link, 0, 0);
	node = bpf_list_pop_front(&s->head);
	bpf_spin_unlock(&s->lock);
	if (node)
		bpf_obj_drop_impl(container_of(node, struct item, link), 0);
	return 0;
}

SEC("tc")
int ok_rbtree(void *ctx)
{
	struct bpf_rb_node *first;
	struct leaf *it = bpf_obj_new_impl(local_type_id(struct leaf), 0);

	if (!it)
		return 0;
	it->value = 9;
	bpf_spin_lock(&tree_lock);
	bpf_rbtree_add_impl(&tree, &it->rb, before, 0, 0);
	first = bpf_rbtree_first(&tree);
	if (!first) {
		bpf_spin_unlock(&tree_lock);
		return 0;
	}
	first = bpf_rbtree_remove(&tree, first);
	bpf_spin_unlock(&tree_lock);
	if (first)
		bpf_obj_drop_impl(container_of(first, struct leaf, rb), 0);
	return 0;
}

SEC("tc")
int ok_non_owning(void *ctx)
{
	struct item *it = new_item(10);

	if (!it)
		return 0;
	bpf_spin_lock(&list_lock);
	bpf_list_push_back_impl(&items, &it->link, 0, 0);
	it->value = 11;
	bpf_spin_unlock(&list_lock);
	return 0;
}

SEC("tc")
int bad_leak(void *ctx)
{
	struct item *it = new_item(1);

	if (!it)
		return 0;
	sink = it->value;
	return 0;
}

SEC("tc")
int bad_use_after_drop(void *ctx)
{
	struct item *it = new_item(2);

	if (!it)
		return 0;
	bpf_obj_drop_impl(it, 0);
	sink = it->value;
	return 0;
}

SEC("tc")
int bad_push_unlocked(void *ctx)
{
	struct item *it = new_item(3);

	if (!it)
		return 0;
	bpf_list_push_back_impl(&items, &it->link, 0, 0);
	return 0;
}

SEC("tc")
int bad_after_unlock(void *ctx)
{
	struct item *it = new_item(4);

	if (!it)
		return 0;
	bpf_spin_lock(&list_lock);
	bpf_list_push_back_impl(&items, &it->link, 0, 0);
	bpf_spin_unlock(&list_lock);
	sink = it->value;
	return 0;
}

SEC("tc")
int bad_double_push(void *ctx)
{
	struct item *it = new_item(5);

	if (!it)
		return 0;
	bpf_spin_lock(&list_lock);
	bpf_list_push_back_impl(&items, &it->link, 0, 0);
	bpf_list_push_back_impl(&items, &it->link, 0, 0);
	bpf_spin_unlock(&list_lock);
	return 0;
}

SEC("tc")
int bad_wrong_lock(void *ctx)
{
	struct item *it = new_item(6);

	if (!it)
		return 0;
	bpf_spin_lock(&tree_lock);
	bpf_list_push_back_impl(&items, &it->link, 0, 0);
	bpf_spin_unlock(&tree_lock);
	return 0;
}

SEC("tc")
int bad_direct_node(void *ctx)
{
	struct item *it = new_item(12);

	if (!it)
		return 0;
	*(long *)&it->link = 0;
	bpf_obj_drop_impl(it, 0);
	return 0;
}

SEC("tc")
int bad_drop_in_list(void *ctx)
{
	struct item *it = new_item(13);

	if (!it)
		return 0;
	bpf_spin_lock(&list_lock);
	bpf_list_push_back_impl(&items, &it->link, 0, 0);
	bpf_spin_unlock(&list_lock);
	bpf_obj_drop_impl(it, 0);
	return 0;
}

SEC("tc")
int ok_refcount(void *ctx)
{
	struct counted *c = bpf_obj_new_impl(local_type_id(struct counted), 0), *extra;

	if (!c)
		return 0;
	extra = bpf_refcount_acquire_impl(c, 0);
	bpf_spin_lock(&counted_lock);
	bpf_list_push_back_impl(&counted_list, &c->link, 0, 0);
	bpf_spin_unlock(&counted_lock);
	extra->value = 1;
	bpf_obj_drop_impl(extra, 0);
	return 0;
}

static bool before_locking(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	bpf_spin_lock(&list_lock);
	bpf_spin_unlock(&list_lock);
	return container_of(a, struct leaf, rb)->value < container_of(b, struct leaf, rb)->value;
}

SEC("tc")
int bad_less_locks(void *ctx)
{
	struct leaf *it = bpf_obj_new_impl(local_type_id(struct leaf), 0);

	if (!it)
		return 0;
	bpf_spin_lock(&tree_lock);
	bpf_rbtree_add_impl(&tree, &it->rb, before_locking, 0, 0);
	bpf_spin_unlock(&tree_lock);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
