/* kernel_types.h - a small stand-in for a kernel's types, our own: the structs,
 * tracepoint typedef and traced functions that kernel_types.c puts into BTF (a
 * test's "kernel BTF") and that btf_pointers.c's programs read through typed
 * kernel pointers. */
#ifndef SWIFTBPF_KERNEL_TYPES_H
#define SWIFTBPF_KERNEL_TYPES_H

struct sb_file {
	long f_mode;
	long f_pos;
};

struct sb_files {
	int count;
	struct sb_file *fd[4];
};

struct task_struct {
	int pid;
	int tgid;
	unsigned int flags : 4;
	unsigned int state : 12;
	struct task_struct *real_parent;      /* published safe-RCU below */
	struct task_struct *group_leader;
	union {                                /* two members: walking it is untrusted */
		struct task_struct *other;
		long cookie;
	};
	struct sb_files files;                 /* nested struct, with an array of pointers */
	char comm[16];
	int *pid_ptr;                          /* pointer to a non-struct: a number */
	unsigned long extra[];                 /* flexible array */
};

/* What the kernel publishes: real_parent inherits RCU trust. */
struct task_struct__safe_rcu {
	struct task_struct *real_parent;
};

/* Sockets, as far as the sk_storage helpers of tracing programs look at them. */
struct sock_common {
	int skc_family;
};

struct sock {
	struct sock_common __sk_common;       /* first member: a sock is a sock_common */
	int sk_mark;
};

struct sk_buff {
	struct sock *sk;                       /* published safe-RCU-or-NULL below */
	struct sock *other_sk;                 /* not published: walking to it is untrusted */
	unsigned int len;
};

/* What the kernel publishes: skb->sk is an RCU-protected socket, or NULL. */
struct sk_buff__safe_rcu_or_null {
	struct sock *sk;
};

typedef void (*btf_trace_sb_skb)(void *__data, struct sk_buff *skb);

/* A raw tracepoint's prototype: `void *__data` first, as the kernel declares them. */
typedef void (*btf_trace_sb_event)(void *__data, struct task_struct *task, unsigned long flags);
/* One whose second argument may be NULL (by its parameter name below). */
#endif
