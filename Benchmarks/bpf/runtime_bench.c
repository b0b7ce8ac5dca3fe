// SPDX-License-Identifier: GPL-2.0
/*
 * runtime_bench.c - the programs `swiftbpf-bench maps` runs: an empty XDP
 * program (the per-run cost of a test run) and loops of 256 map operations,
 * with a loop that does the same work minus the map call as the baseline.
 * Rebuild with ./build.sh.
 */
#include "swiftbpf_helpers.h"

#define OPS 256

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} bench_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} bench_array SEC(".maps");

SEC("xdp")
int empty_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* The loop every benchmark shares; `work` is the operation under test. */
#define BENCH_LOOP(work)                                  \
	__u64 sum = 0;                                    \
	_Pragma("nounroll")                               \
	for (__u32 i = 0; i < OPS; i++) {                 \
		__u32 key = i & 15;                       \
		work;                                     \
		asm volatile("" : "+r"(sum) : : "memory"); \
	}                                                 \
	return sum & 1 ? XDP_PASS : XDP_DROP;

SEC("xdp")
int loop_baseline(struct xdp_md *ctx)
{
	BENCH_LOOP(sum += key)
}

SEC("xdp")
int hash_lookup(struct xdp_md *ctx)
{
	BENCH_LOOP(__u64 *v = bpf_map_lookup_elem(&bench_hash, &key); if (v) sum += *v)
}

SEC("xdp")
int hash_update(struct xdp_md *ctx)
{
	BENCH_LOOP(__u64 value = i; bpf_map_update_elem(&bench_hash, &key, &value, BPF_ANY))
}

SEC("xdp")
int array_lookup(struct xdp_md *ctx)
{
	BENCH_LOOP(__u64 *v = bpf_map_lookup_elem(&bench_array, &key); if (v) sum += *v)
}

SEC("xdp")
int array_update(struct xdp_md *ctx)
{
	BENCH_LOOP(__u64 value = i; bpf_map_update_elem(&bench_array, &key, &value, BPF_ANY))
}

char LICENSE[] SEC("license") = "GPL";
