// SPDX-License-Identifier: GPL-2.0
/*
 * tcp_cc.c - a TCP congestion control written in BPF (our own code): the
 * kernel loader's struct_ops fixture. Built against a vmlinux.h that
 * `swiftbpf btf dump /sys/kernel/btf/vmlinux --format c` generated (build.sh).
 *
 * Two struct_ops maps share the same four programs:
 *   swiftbpf_cc       in .struct_ops: registered by a map update, unregistered
 *                     by deleting the map's element
 *   swiftbpf_cc_link  in .struct_ops.link (algorithm "swiftbpf_link"): the map is created BPF_F_LINK and
 *                     registered by a struct_ops link, unregistered when the
 *                     link is closed
 * Both behave as Reno (through the kernel's tcp_reno_* kfuncs for
 * tcp_congestion_ops) and count their calls in .bss, so a test sees a socket
 * that selected the algorithm with TCP_CONGESTION actually run it.
 */
#include "vmlinux.h"

#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))

/* Kfuncs the kernel gives tcp_congestion_ops programs. */
extern __u32 tcp_reno_ssthresh(struct sock *sk) __ksym;
extern void tcp_reno_cong_avoid(struct sock *sk, __u32 ack, __u32 acked) __ksym;
extern __u32 tcp_reno_undo_cwnd(struct sock *sk) __ksym;

char _license[] SEC("license") = "GPL";

/* Calls, counted by the programs (read by the test through the .bss map). */
__u64 init_calls;
__u64 cong_avoid_calls;
__u64 ssthresh_calls;
__u64 undo_cwnd_calls;

/* A struct_ops program receives its member's arguments as an array of u64. */
SEC("struct_ops/swiftbpf_cc_init")
void swiftbpf_cc_init(unsigned long long *ctx)
{
	__sync_fetch_and_add(&init_calls, 1);
}

SEC("struct_ops/swiftbpf_cc_ssthresh")
__u32 swiftbpf_cc_ssthresh(unsigned long long *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];

	__sync_fetch_and_add(&ssthresh_calls, 1);
	return tcp_reno_ssthresh(sk);
}

SEC("struct_ops/swiftbpf_cc_cong_avoid")
void swiftbpf_cc_cong_avoid(unsigned long long *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];

	__sync_fetch_and_add(&cong_avoid_calls, 1);
	tcp_reno_cong_avoid(sk, (__u32)ctx[1], (__u32)ctx[2]);
}

SEC("struct_ops/swiftbpf_cc_undo_cwnd")
__u32 swiftbpf_cc_undo_cwnd(unsigned long long *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];

	__sync_fetch_and_add(&undo_cwnd_calls, 1);
	return tcp_reno_undo_cwnd(sk);
}

SEC(".struct_ops")
struct tcp_congestion_ops swiftbpf_cc = {
	.init = (void *)swiftbpf_cc_init,
	.ssthresh = (void *)swiftbpf_cc_ssthresh,
	.cong_avoid = (void *)swiftbpf_cc_cong_avoid,
	.undo_cwnd = (void *)swiftbpf_cc_undo_cwnd,
	.name = "swiftbpf_cc",
};

SEC(".struct_ops.link")
struct tcp_congestion_ops swiftbpf_cc_link = {
	.init = (void *)swiftbpf_cc_init,
	.ssthresh = (void *)swiftbpf_cc_ssthresh,
	.cong_avoid = (void *)swiftbpf_cc_cong_avoid,
	.undo_cwnd = (void *)swiftbpf_cc_undo_cwnd,
	.name = "swiftbpf_link",   /* at most 15 characters: TCP_CA_NAME_MAX is 16 with the NUL */
};
