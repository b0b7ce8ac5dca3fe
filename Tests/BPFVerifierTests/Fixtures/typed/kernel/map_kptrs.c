// SPDX-License-Identifier: GPL-2.0
/*
 * map_kptrs.c - kernel pointers kept in map values, loaded directly, and the
 * sockets the tracing sk_storage helper takes, against the running kernel's
 * types (built with a vmlinux.h from `swiftbpf btf dump`). ok_* are accepted
 * by Linux 6.18, bad_* refused; the test compares our verdicts with the
 * kernel's on each.
 *
 *  ok_task_rcu          tp_btf: v->task (a referenced kptr of task_struct, an RCU-protected
 *                       type) loaded in a non-sleepable program, NULL-checked, acquired
 *  bad_task_null        the same without the NULL check
 *  ok_task_iter_rcu     iter.s/task (sleepable): the load inside bpf_rcu_read_lock/unlock
 *  bad_task_iter_plain  iter.s/task: the load outside an RCU section (untrusted) acquired
 *  ok_untrusted_read    a __kptr_untrusted task stored, loaded and read
 *  bad_untrusted_pass   the loaded __kptr_untrusted task passed to bpf_task_acquire
 *  bad_ref_store        a store straight into the referenced __kptr field
 *  bad_helper_write     bpf_get_current_comm writes 16 bytes over the value's kptrs
 *  ok_local_rcu         a local kptr loaded in a non-sleepable program: written and read
 *  bad_local_iter_write iter.s/task: the same object loaded outside an RCU section, written
 *  ok_skb_sk            tp_btf/tcp_bad_csum: bpf_sk_storage_get(&map, skb->sk, 0, 0)
 *  bad_skb_sk_untrusted the socket reached through skb->sk->sk_socket->sk (untrusted)
 */
#include "vmlinux.h"

#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))
#define __kptr __attribute__((btf_type_tag("kptr")))
#define __kptr_untrusted __attribute__((btf_type_tag("kptr_untrusted")))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)16;
static void *(*bpf_sk_storage_get)(void *map, void *sk, void *value, __u64 flags) = (void *)107;

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

struct counter {
	long hits;
};

struct value {
	struct task_struct __kptr *task;
	struct task_struct __kptr_untrusted *plain;
	struct counter __kptr *local;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct value);
} kptrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, long);
} sk_stg SEC(".maps");

long sink;

static __attribute__((always_inline)) struct value *lookup(void)
{
	int key = 0;
	return bpf_map_lookup_elem(&kptrs, &key);
}

static __attribute__((always_inline)) int acquire_release(struct task_struct *t)
{
	struct task_struct *acquired = bpf_task_acquire(t);
	if (acquired)
		bpf_task_release(acquired);
	return 0;
}

SEC("tp_btf/task_newtask")
int ok_task_rcu(unsigned long long *ctx)
{
	struct value *v = lookup();
	struct task_struct *t;
	if (!v)
		return 0;
	t = v->task;
	if (!t)
		return 0;
	return acquire_release(t);
}

SEC("tp_btf/task_newtask")
int bad_task_null(unsigned long long *ctx)
{
	struct value *v = lookup();
	if (!v)
		return 0;
	return acquire_release(v->task);
}

SEC("iter.s/task")
int ok_task_iter_rcu(struct bpf_iter__task *ctx)
{
	struct value *v = lookup();
	struct task_struct *t, *acquired = 0;
	if (!v)
		return 0;
	bpf_rcu_read_lock();
	t = v->task;
	if (t)
		acquired = bpf_task_acquire(t);
	bpf_rcu_read_unlock();
	if (acquired)
		bpf_task_release(acquired);
	return 0;
}

SEC("iter.s/task")
int bad_task_iter_plain(struct bpf_iter__task *ctx)
{
	struct value *v = lookup();
	struct task_struct *t;
	if (!v)
		return 0;
	t = v->task;
	if (!t)
		return 0;
	return acquire_release(t);
}

SEC("tp_btf/task_newtask")
int ok_untrusted_read(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	struct value *v = lookup();
	struct task_struct *t;
	if (!v)
		return 0;
	v->plain = task;
	t = v->plain;
	if (t)
		sink = t->pid;
	return 0;
}

SEC("tp_btf/task_newtask")
int bad_untrusted_pass(unsigned long long *ctx)
{
	struct value *v = lookup();
	struct task_struct *t;
	if (!v)
		return 0;
	t = v->plain;
	if (!t)
		return 0;
	return acquire_release(t);
}

SEC("tp_btf/task_newtask")
int bad_ref_store(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	struct value *v = lookup();
	if (!v)
		return 0;
	v->task = task;
	return 0;
}

SEC("tp_btf/task_newtask")
int bad_helper_write(unsigned long long *ctx)
{
	struct value *v = lookup();
	if (!v)
		return 0;
	bpf_get_current_comm(v, 16);
	return 0;
}

SEC("tp_btf/task_newtask")
int ok_local_rcu(unsigned long long *ctx)
{
	struct value *v = lookup();
	struct counter *c;
	if (!v)
		return 0;
	c = v->local;
	if (!c)
		return 0;
	c->hits += 1;
	sink = c->hits;
	return 0;
}

SEC("iter.s/task")
int bad_local_iter_write(struct bpf_iter__task *ctx)
{
	struct value *v = lookup();
	struct counter *c;
	if (!v)
		return 0;
	c = v->local;
	if (c)
		c->hits = 1;
	return 0;
}

SEC("tp_btf/tcp_bad_csum")
int ok_skb_sk(unsigned long long *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	bpf_sk_storage_get(&sk_stg, skb->sk, 0, 0);
	return 0;
}

SEC("tp_btf/tcp_bad_csum")
int bad_skb_sk_untrusted(unsigned long long *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct sock *sk = skb->sk;
	struct socket *so;
	if (!sk)
		return 0;
	so = sk->sk_socket;
	if (!so)
		return 0;
	bpf_sk_storage_get(&sk_stg, so->sk, 0, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
