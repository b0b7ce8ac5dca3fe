// SPDX-License-Identifier: GPL-2.0
/*
 * kptrs.c - kernel pointers kept in map values (__kptr, __kptr_untrusted, local
 * kptrs) and sockets passed to the tracing sk_storage helpers, verified against
 * kernel_types.o's BTF as the kernel's. ok_* are safe (Linux 6.18's rules accept
 * them); bad_* are refused for the reason in their comment, next to the ok_*
 * neighbour they differ from.
 *
 *  ok_kptr_rcu           tp_btf: loads v->task (a referenced kptr of an RCU-protected
 *                        type, in a non-sleepable program: RCU-protected, maybe NULL),
 *                        checks it, acquires it, releases the acquired task
 *  bad_kptr_null         the same without the NULL check
 *  ok_kptr_rcu_section   fentry.s (sleepable): the load inside bpf_rcu_read_lock/unlock
 *  bad_kptr_sleepable    fentry.s: the load outside an RCU section is untrusted: not acquired
 *  ok_kptr_untrusted     stores the tracepoint's task and NULL into a __kptr_untrusted
 *                        field, loads it back and reads ->pid (untrusted: read only)
 *  bad_kptr_untrusted_pass  passes the loaded __kptr_untrusted task to bpf_task_acquire
 *  bad_kptr_store        stores into the referenced __kptr field directly
 *  bad_kptr_partial      reads 4 bytes of the __kptr field
 *  bad_kptr_wrong_type   stores a struct sb_file pointer into the __kptr_untrusted task field
 *  bad_kptr_helper       bpf_get_current_comm writes 16 bytes over the value's kptrs
 *  ok_kptr_xchg          bpf_kptr_xchg moves an acquired task into v->task, releases the old one
 *  bad_kptr_xchg_untrusted  bpf_kptr_xchg on the __kptr_untrusted field
 *  ok_local_kptr         loads a local kptr (an object of the program's BTF) in a
 *                        non-sleepable program: RCU-protected, read and written
 *  bad_local_after_unlock fentry.s: the local kptr loaded in an RCU section, read after it
 *  bad_local_untrusted_write fentry.s: the local kptr loaded outside an RCU section, written
 *  ok_sk_storage_rcu     tp_btf/sb_skb: bpf_sk_storage_get(&map, skb->sk, 0, 0) (skb->sk is
 *                        RCU-protected or NULL: the tracing helper takes both)
 *  bad_sk_storage_untrusted the same with skb->other_sk (walked, not published: untrusted)
 */
#include "swiftbpf_helpers.h"
#include "kernel_types.h"

#define __ksym __attribute__((section(".ksyms")))
#define __kptr __attribute__((btf_type_tag("kptr")))
#define __kptr_untrusted __attribute__((btf_type_tag("kptr_untrusted")))
#define BPF_MAP_TYPE_SK_STORAGE 24
#define BPF_F_NO_PREALLOC_SK (1U << 0)

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

static void *(* const bpf_kptr_xchg)(void *dst, void *ptr) = (void *) 194;
static void *(* const bpf_sk_storage_get)(void *map, void *sk, void *value, __u64 flags) = (void *) 107;

/* An object of the program's own BTF, kept in a map as a local kptr. */
struct local_counter {
	long hits;
	long misses;
};

struct kptr_value {
	struct task_struct __kptr *task;
	struct task_struct __kptr_untrusted *plain;
	struct local_counter __kptr *local;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, struct kptr_value);
} kptrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC_SK);
	__type(key, int);
	__type(value, long);
} sk_stg SEC(".maps");

long sink;

static __always_inline struct kptr_value *value(void)
{
	int key = 0;
	return bpf_map_lookup_elem(&kptrs, &key);
}

SEC("tp_btf/sb_event")
int ok_kptr_rcu(unsigned long long *ctx)
{
	struct kptr_value *v = value();
	struct task_struct *t, *acquired;
	if (!v)
		return 0;
	t = v->task;
	if (!t)
		return 0;
	acquired = bpf_task_acquire(t);
	if (acquired)
		bpf_task_release(acquired);
	return 0;
}

SEC("tp_btf/sb_event")
int bad_kptr_null(unsigned long long *ctx)
{
	struct kptr_value *v = value();
	struct task_struct *acquired;
	if (!v)
		return 0;
	acquired = bpf_task_acquire(v->task);
	if (acquired)
		bpf_task_release(acquired);
	return 0;
}

SEC("fentry.s/sb_traced")
int ok_kptr_rcu_section(unsigned long long *ctx)
{
	struct kptr_value *v = value();
	struct task_struct *t, *acquired = NULL;
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

SEC("fentry.s/sb_traced")
int bad_kptr_sleepable(unsigned long long *ctx)
{
	struct kptr_value *v = value();
	struct task_struct *t, *acquired;
	if (!v)
		return 0;
	t = v->task;
	if (!t)
		return 0;
	acquired = bpf_task_acquire(t);
	if (acquired)
		bpf_task_release(acquired);
	return 0;
}

SEC("tp_btf/sb_event")
int ok_kptr_untrusted(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	struct kptr_value *v = value();
	struct task_struct *t;
	if (!v)
		return 0;
	v->plain = NULL;
	v->plain = task;
	t = v->plain;
	if (t)
		sink = t->pid;
	return 0;
}

SEC("tp_btf/sb_event")
int bad_kptr_untrusted_pass(unsigned long long *ctx)
{
	struct kptr_value *v = value();
	struct task_struct *t, *acquired;
	if (!v)
		return 0;
	t = v->plain;
	if (!t)
		return 0;
	acquired = bpf_task_acquire(t);
	if (acquired)
		bpf_task_release(acquired);
	return 0;
}

SEC("tp_btf/sb_event")
int bad_kptr_store(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	struct kptr_value *v = value();
	if (!v)
		return 0;
	v->task = task;
	return 0;
}

SEC("tp_btf/sb_event")
int bad_kptr_partial(unsigned long long *ctx)
{
	struct kptr_value *v = value();
	if (!v)
		return 0;
	sink = *(volatile int *)&v->task;
	return 0;
}

SEC("tp_btf/sb_event")
int bad_kptr_wrong_type(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	struct kptr_value *v = value();
	if (!v)
		return 0;
	v->plain = (struct task_struct *)task->files.fd[0];
	return 0;
}

SEC("tp_btf/sb_event")
int bad_kptr_helper(unsigned long long *ctx)
{
	struct kptr_value *v = value();
	if (!v)
		return 0;
	bpf_get_current_comm(v, 16);
	return 0;
}

SEC("tp_btf/sb_event")
int ok_kptr_xchg(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	struct kptr_value *v = value();
	struct task_struct *acquired, *old;
	if (!v)
		return 0;
	acquired = bpf_task_acquire(task);
	if (!acquired)
		return 0;
	old = bpf_kptr_xchg(&v->task, acquired);
	if (old)
		bpf_task_release(old);
	return 0;
}

SEC("tp_btf/sb_event")
int bad_kptr_xchg_untrusted(unsigned long long *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	struct kptr_value *v = value();
	struct task_struct *acquired, *old;
	if (!v)
		return 0;
	acquired = bpf_task_acquire(task);
	if (!acquired)
		return 0;
	old = bpf_kptr_xchg(&v->plain, acquired);
	if (old)
		bpf_task_release(old);
	return 0;
}

SEC("tp_btf/sb_event")
int ok_local_kptr(unsigned long long *ctx)
{
	struct kptr_value *v = value();
	struct local_counter *c;
	if (!v)
		return 0;
	c = v->local;
	if (!c)
		return 0;
	c->hits += 1;
	sink = c->misses;
	return 0;
}

SEC("fentry.s/sb_traced")
int bad_local_after_unlock(unsigned long long *ctx)
{
	struct kptr_value *v = value();
	struct local_counter *c;
	if (!v)
		return 0;
	bpf_rcu_read_lock();
	c = v->local;
	bpf_rcu_read_unlock();
	if (c)
		sink = c->hits;
	return 0;
}

SEC("fentry.s/sb_traced")
int bad_local_untrusted_write(unsigned long long *ctx)
{
	struct kptr_value *v = value();
	struct local_counter *c;
	if (!v)
		return 0;
	c = v->local;
	if (c)
		c->hits = 1;
	return 0;
}

SEC("tp_btf/sb_skb")
int ok_sk_storage_rcu(unsigned long long *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	bpf_sk_storage_get(&sk_stg, skb->sk, 0, 0);
	return 0;
}

SEC("tp_btf/sb_skb")
int bad_sk_storage_untrusted(unsigned long long *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	bpf_sk_storage_get(&sk_stg, skb->other_sk, 0, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
