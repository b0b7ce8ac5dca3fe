// SPDX-License-Identifier: GPL-2.0
/*
 * graph_objects.c - allocated objects, lists, rbtrees, refcounts and local kptrs in the runtime,
 * compared with the kernel (differential test). SEC("tc"); the collections live in global data
 * (.bss.NAME sections, each with the bpf_spin_lock that guards them):
 *
 *   gr_list     allocates five items (values 1..5), pushing them alternately to the back and the
 *               front; peeks the front (4); pops front, back, front, back, front and drops each:
 *               4, 5, 2, 3, 1 -> 45231 + 100000 * the front peeked = 445231.
 *   gr_rbtree   adds nine keys (50 20 80 10 30 70 90 60 65) ordered by a less callback; hashes the
 *               keys of the root, its left and right children, then removes the three first
 *               (10 20 30) and hashes those and the new root's: the tree's shape as the kernel's
 *               red-black balancing makes it. Removes and drops the rest at the end.
 *   gr_refcount one refcounted object in an rbtree and a list (bpf_refcount_acquire): popped from
 *               the list, changed through that reference, seen changed through the tree; both
 *               references dropped -> 800 + its key seen in the tree (8) + 1 = 809.
 *   gr_kptr     stashes an object in a map value's kptr field (bpf_kptr_xchg), takes it back out,
 *               returns its value (42) and drops it; the field ends empty.
 */
#include "swiftbpf_helpers.h"

#define __ksym __attribute__((section(".ksyms")))
#define __contains(name, node) __attribute__((btf_decl_tag("contains:" #name ":" #node)))
#define __kptr __attribute__((btf_type_tag("kptr")))
#define private(name) SEC(".bss." #name) __attribute__((visibility("hidden"), aligned(8)))
#define container_of(ptr, type, member) ((type *)((void *)(ptr) - __builtin_offsetof(type, member)))
#define type_id(type) __builtin_btf_type_id(*(typeof(type) *)0, 0)

struct bpf_list_head { __u64 __opaque[2]; } __attribute__((aligned(8)));
struct bpf_list_node { __u64 __opaque[3]; } __attribute__((aligned(8)));
struct bpf_rb_root { __u64 __opaque[2]; } __attribute__((aligned(8)));
struct bpf_rb_node { __u64 __opaque[4]; } __attribute__((aligned(8)));
struct bpf_refcount { __u32 __opaque[1]; } __attribute__((aligned(4)));

extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;
extern void *bpf_refcount_acquire_impl(void *kptr, void *meta) __ksym;
extern int bpf_list_push_front_impl(struct bpf_list_head *head, struct bpf_list_node *node, void *meta, __u64 off) __ksym;
extern int bpf_list_push_back_impl(struct bpf_list_head *head, struct bpf_list_node *node, void *meta, __u64 off) __ksym;
extern struct bpf_list_node *bpf_list_pop_front(struct bpf_list_head *head) __ksym;
extern struct bpf_list_node *bpf_list_pop_back(struct bpf_list_head *head) __ksym;
extern struct bpf_list_node *bpf_list_front(struct bpf_list_head *head) __ksym;
extern int bpf_rbtree_add_impl(struct bpf_rb_root *root, struct bpf_rb_node *node,
			       _Bool (less)(struct bpf_rb_node *a, const struct bpf_rb_node *b), void *meta, __u64 off) __ksym;
extern struct bpf_rb_node *bpf_rbtree_remove(struct bpf_rb_root *root, struct bpf_rb_node *node) __ksym;
extern struct bpf_rb_node *bpf_rbtree_first(struct bpf_rb_root *root) __ksym;
extern struct bpf_rb_node *bpf_rbtree_root(struct bpf_rb_root *root) __ksym;
extern struct bpf_rb_node *bpf_rbtree_left(struct bpf_rb_root *root, struct bpf_rb_node *node) __ksym;
extern struct bpf_rb_node *bpf_rbtree_right(struct bpf_rb_root *root, struct bpf_rb_node *node) __ksym;

static void *(* const bpf_kptr_xchg)(void *map_value, void *ptr) = (void *) 194;

#define obj_new(type) ((type *)bpf_obj_new_impl(type_id(type), 0))
#define obj_drop(p) bpf_obj_drop_impl(p, 0)

struct item {
	int value;
	struct bpf_list_node node;
};

struct knode {
	long key;
	struct bpf_rb_node rb;
};

struct rnode {
	long key;
	struct bpf_rb_node rb;
	struct bpf_list_node l;
	struct bpf_refcount ref;
};

private(L) struct bpf_spin_lock llock;
private(L) struct bpf_list_head items __contains(item, node);

private(T) struct bpf_spin_lock tlock;
private(T) struct bpf_rb_root tree __contains(knode, rb);

private(R) struct bpf_spin_lock rlock;
private(R) struct bpf_rb_root rtree __contains(rnode, rb);
private(R) struct bpf_list_head rlist __contains(rnode, l);

struct stash {
	struct item __kptr *item;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stash);
} stashes SEC(".maps");

static __always_inline int push(int value, int back)
{
	struct item *it = obj_new(struct item);

	if (!it)
		return 1;
	it->value = value;
	bpf_spin_lock(&llock);
	if (back)
		bpf_list_push_back_impl(&items, &it->node, 0, 0);
	else
		bpf_list_push_front_impl(&items, &it->node, 0, 0);
	bpf_spin_unlock(&llock);
	return 0;
}

static __always_inline int pop(int back)
{
	struct bpf_list_node *n;
	struct item *it;
	int value;

	bpf_spin_lock(&llock);
	n = back ? bpf_list_pop_back(&items) : bpf_list_pop_front(&items);
	bpf_spin_unlock(&llock);
	if (!n)
		return 0;
	it = container_of(n, struct item, node);
	value = it->value;
	obj_drop(it);
	return value;
}

SEC("tc")
int gr_list(struct __sk_buff *skb)
{
	struct bpf_list_node *n;
	int front = 0, r = 0;

	if (push(1, 1) || push(2, 0) || push(3, 1) || push(4, 0) || push(5, 1))
		return -1;
	bpf_spin_lock(&llock);
	n = bpf_list_front(&items);
	if (n)
		front = container_of(n, struct item, node)->value;
	bpf_spin_unlock(&llock);
	r = pop(0);
	r = r * 10 + pop(1);
	r = r * 10 + pop(0);
	r = r * 10 + pop(1);
	r = r * 10 + pop(0);
	return r + 100000 * front;
}

static _Bool less(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	return container_of(a, struct knode, rb)->key < container_of(b, struct knode, rb)->key;
}

static __always_inline int add(long key)
{
	struct knode *n = obj_new(struct knode);

	if (!n)
		return 1;
	n->key = key;
	bpf_spin_lock(&tlock);
	bpf_rbtree_add_impl(&tree, &n->rb, less, 0, 0);
	bpf_spin_unlock(&tlock);
	return 0;
}

static __always_inline long remove_first(void)
{
	struct bpf_rb_node *n;
	long key;

	bpf_spin_lock(&tlock);
	n = bpf_rbtree_first(&tree);
	if (!n) {
		bpf_spin_unlock(&tlock);
		return 0;
	}
	n = bpf_rbtree_remove(&tree, n);
	bpf_spin_unlock(&tlock);
	if (!n)
		return 0;
	key = container_of(n, struct knode, rb)->key;
	obj_drop(container_of(n, struct knode, rb));
	return key;
}

/* The keys of the root and its children, hashed. */
static __always_inline __u32 shape(void)
{
	struct bpf_rb_node *root, *l, *r;
	__u32 h = 0;

	bpf_spin_lock(&tlock);
	root = bpf_rbtree_root(&tree);
	if (root) {
		h = container_of(root, struct knode, rb)->key;
		l = bpf_rbtree_left(&tree, root);
		if (l)
			h = h * 131 + container_of(l, struct knode, rb)->key;
		r = bpf_rbtree_right(&tree, root);
		if (r)
			h = h * 137 + container_of(r, struct knode, rb)->key;
	}
	bpf_spin_unlock(&tlock);
	return h;
}

SEC("tc")
int gr_rbtree(struct __sk_buff *skb)
{
	__u32 h;

	if (add(50) || add(20) || add(80) || add(10) || add(30) || add(70) || add(90) || add(60) || add(65))
		return -1;
	h = shape();
	h = h * 31 + remove_first();
	h = h * 31 + remove_first();
	h = h * 31 + remove_first();
	h = h * 31 + shape();
	for (int i = 0; i < 6; i++)
		remove_first();
	return h & 0x7fffffff;
}

static _Bool rless(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	return container_of(a, struct rnode, rb)->key < container_of(b, struct rnode, rb)->key;
}

SEC("tc")
int gr_refcount(struct __sk_buff *skb)
{
	struct rnode *n, *m, *p;
	struct bpf_rb_node *f;
	struct bpf_list_node *l;
	long seen = 0;

	n = obj_new(struct rnode);
	if (!n)
		return -1;
	n->key = 7;
	m = bpf_refcount_acquire_impl(n, 0);
	bpf_spin_lock(&rlock);
	bpf_rbtree_add_impl(&rtree, &n->rb, rless, 0, 0);
	bpf_list_push_back_impl(&rlist, &m->l, 0, 0);
	bpf_spin_unlock(&rlock);

	bpf_spin_lock(&rlock);
	l = bpf_list_pop_front(&rlist);
	bpf_spin_unlock(&rlock);
	if (!l)
		return -2;
	p = container_of(l, struct rnode, l);
	p->key += 1;

	bpf_spin_lock(&rlock);
	f = bpf_rbtree_first(&rtree);
	if (!f) {
		bpf_spin_unlock(&rlock);
		obj_drop(p);
		return -3;
	}
	seen = container_of(f, struct rnode, rb)->key;
	f = bpf_rbtree_remove(&rtree, f);
	bpf_spin_unlock(&rlock);
	if (f)
		obj_drop(container_of(f, struct rnode, rb));
	obj_drop(p);
	return 800 + seen + (f != 0);
}

SEC("tc")
int gr_kptr(struct __sk_buff *skb)
{
	struct item *it, *old;
	struct stash *s;
	__u32 key = 0;
	int value;

	s = bpf_map_lookup_elem(&stashes, &key);
	if (!s)
		return -1;
	it = obj_new(struct item);
	if (!it)
		return -2;
	it->value = 42;
	old = bpf_kptr_xchg(&s->item, it);
	if (old)
		obj_drop(old);
	it = bpf_kptr_xchg(&s->item, 0);
	if (!it)
		return -3;
	value = it->value;
	obj_drop(it);
	return value;
}

char _license[] SEC("license") = "GPL";
