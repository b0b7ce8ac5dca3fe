// SPDX-License-Identifier: GPL-2.0
/*
 * struct_ops_bad.c - struct_ops maps a loader must refuse, each with an error
 * naming the map and the member (our own code). Local struct types stand in
 * for the kernel's; a `___suffix` is dropped when the kernel type is looked
 * up, as for CO-RE:
 *   wrong_type      `ssthresh` declared as an integer: the kernel's member is
 *                   a function pointer
 *   unknown_member  a non-zero member the kernel's tcp_congestion_ops lacks
 *   no_such_ops     a struct type the kernel has no struct_ops for
 *   zero_unknown    an unknown member left zero: accepted (skipped), as libbpf does
 */
#define SEC(name) __attribute__((section(name), used))

typedef unsigned int __u32;
typedef unsigned long long __u64;

char _license[] SEC("license") = "GPL";

struct sock;

SEC("struct_ops/bad_ssthresh")
__u32 bad_ssthresh(unsigned long long *ctx)
{
	return 2;
}

struct tcp_congestion_ops___wrong {
	__u64 ssthresh;
	char name[16];
};

struct tcp_congestion_ops___unknown {
	__u32 (*ssthresh)(struct sock *sk);
	__u32 swiftbpf_no_such_member;
	char name[16];
};

struct swiftbpf_no_such_ops {
	__u32 (*run)(struct sock *sk);
};

SEC(".struct_ops")
struct tcp_congestion_ops___wrong wrong_type = {
	.ssthresh = 1,
	.name = "swiftbpf_wrong",
};

SEC(".struct_ops")
struct tcp_congestion_ops___unknown unknown_member = {
	.ssthresh = (void *)bad_ssthresh,
	.swiftbpf_no_such_member = 7,
	.name = "swiftbpf_unknown",
};

SEC(".struct_ops")
struct swiftbpf_no_such_ops no_such_ops = {
	.run = (void *)bad_ssthresh,
};

SEC(".struct_ops")
struct tcp_congestion_ops___unknown zero_unknown = {
	.ssthresh = (void *)bad_ssthresh,
	.name = "swiftbpf_zero",
};
