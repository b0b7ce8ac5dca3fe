// SPDX-License-Identifier: GPL-2.0
/*
 * helpers_misc.c - one small program per family of general-purpose helpers.
 * Unless noted, results go to .bss variables (a test reads the .bss map) and
 * SEC("syscall") programs return a value a test can assert directly.
 *
 * SEC("syscall") -> BPF_PROG_TYPE_SYSCALL, no expected attach type; libbpf
 * loads it sleepable (BPF_F_SLEEPABLE); it runs only through BPF_PROG_TEST_RUN.
 *
 *   misc_printk   SEC("xdp")  returns XDP_PASS (2); trace output, in order:
 *                   "d=-5 u=7 x=beef"
 *                   "s=swift llu=1234567890123"
 *                   "raw printk 3"
 *                   "vprintk 1 2 3 4 five"  (bpf_trace_vprintk: more than
 *                                            three arguments, as an array)
 *   misc_snprintf SEC("syscall") formats "%s-%d-%x" with ("swift", 42, 255)
 *                 into .bss snprintf_buf[32] = "swift-42-ff"; returns 12
 *                 (bytes written including the NUL).
 *   misc_strings  SEC("syscall") on stack strings:
 *                   bpf_strtol("-1234", base 10)  -> parsed_long = -1234, 5 chars
 *                   bpf_strtoul("0x1f", base auto) -> parsed_ulong = 31, 4 chars
 *                   bpf_strncmp(stack "swiftbpf", 9, .rodata "swiftbpf") -> 0
 *                   bpf_strncmp(stack "swift",    6, .rodata "swiftbpf") -> < 0
 *                 returns 0 when all four results are as listed, otherwise
 *                 the number (1..4) of the first check that failed.
 *                 (Kernels older than 6.x only offer strtol/strtoul to
 *                 cgroup/sysctl programs; an interpreter need not care.)
 *   misc_loop     SEC("syscall") bpf_loop(10, cb) where cb adds the index to
 *                 a sum; returns sum 0+1+..+9 = 45 and loop_iterations = 10.
 *   misc_for_each SEC("syscall") writes 1, 2, 3, 4 into array `numbers`
 *                 (4 entries), then bpf_for_each_map_elem sums them;
 *                 returns 10 and each_visited = 4.
 *   misc_csum     SEC("xdp") bpf_csum_diff(NULL, 0, {01 02 03 04, 05 06 07 08}, 8, 0),
 *                 folds the 32-bit result to 16 bits and stores it in network
 *                 order: csum_result = 0x1014 (0x0102+0x0304+0x0506+0x0708).
 *                 Returns XDP_PASS (2).
 *   misc_spin_lock SEC("syscall") locks locked_counter[0].lock, adds 5 to
 *                 .count, unlocks; returns the new count (5 on the first
 *                 run, 10 on the second).
 *   misc_random_time SEC("xdp") reads bpf_get_prandom_u32, ktime_get_ns
 *                 (twice), ktime_get_boot_ns, ktime_get_coarse_ns, jiffies64,
 *                 get_smp_processor_id and get_numa_node_id into .bss; the
 *                 values vary, but the program returns 1 when the second
 *                 ktime_get_ns reading is >= the first (always expected).
 */
#include "swiftbpf_helpers.h"

/* ---- results in .bss ---- */
char snprintf_buf[32];
long parsed_long;
unsigned long parsed_ulong;
__u64 loop_iterations;
__u64 each_visited;
__u32 csum_result;
__u32 random_value;
__u64 time_ns, boot_ns, coarse_ns, jiffies;
__u32 cpu_id;
__s32 numa_id;

/* ---- .rodata: bpf_snprintf's format and bpf_strncmp's second string must
 * live in read-only map memory, so they are file-scope constants. ---- */
static const char snprintf_fmt[] = "%s-%d-%x";
static const char expected_name[] = "swiftbpf";

struct locked_value {
	struct bpf_spin_lock lock;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct locked_value);
} locked_counter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} numbers SEC(".maps");

static long (* const bpf_trace_vprintk)(const char *fmt, __u32 fmt_size, const void *data, __u32 data_len) = (void *) 177;

SEC("xdp")
int misc_printk(struct xdp_md *ctx)
{
	char name[] = "swift";

	bpf_printk("d=%d u=%u x=%x", -5, 7u, 0xbeef);
	bpf_printk("s=%s llu=%llu", name, 1234567890123ULL);

	char raw[] = "raw printk %d";
	bpf_trace_printk(raw, sizeof(raw), 3);

	char many[] = "vprintk %d %d %d %d %s";
	char five[] = "five";
	__u64 args[5] = {1, 2, 3, 4, (__u64)(unsigned long)five};
	bpf_trace_vprintk(many, sizeof(many), args, sizeof(args));
	return XDP_PASS;
}

SEC("syscall")
int misc_snprintf(void *ctx)
{
	char name[] = "swift";
	__u64 args[3];

	args[0] = (__u64)(unsigned long)name;
	args[1] = 42;
	args[2] = 255;
	return bpf_snprintf(snprintf_buf, sizeof(snprintf_buf), snprintf_fmt,
			    args, sizeof(args));
}

SEC("syscall")
int misc_strings(void *ctx)
{
	char num[] = "-1234";
	char hex[] = "0x1f";
	char full[] = "swiftbpf";
	char part[] = "swift";
	long l = 0;
	unsigned long ul = 0;

	if (bpf_strtol(num, sizeof(num) - 1, 10, &l) != 5)
		return 1;
	parsed_long = l;
	if (bpf_strtoul(hex, sizeof(hex) - 1, 0, &ul) != 4)
		return 2;
	parsed_ulong = ul;
	if (l != -1234 || ul != 31)
		return 2;
	if (bpf_strncmp(full, sizeof(full), expected_name) != 0)
		return 3;
	if (bpf_strncmp(part, sizeof(part), expected_name) >= 0)
		return 4;
	return 0;
}

struct loop_state {
	__u64 sum;
};

static long loop_step(__u64 index, void *data)
{
	struct loop_state *st = data;

	st->sum += index;
	return 0;                       /* 0 = continue, 1 = stop */
}

SEC("syscall")
int misc_loop(void *ctx)
{
	struct loop_state st = { .sum = 0 };

	loop_iterations = bpf_loop(10, (void *)loop_step, &st, 0);
	return (int)st.sum;
}

struct each_state {
	__u64 total;
};

static long sum_entry(void *map, __u32 *key, __u64 *value, struct each_state *st)
{
	st->total += *value;
	return 0;
}

SEC("syscall")
int misc_for_each(void *ctx)
{
	struct each_state st = { .total = 0 };

	for (__u32 n = 0; n < 4; n++) {
		/* The key is a copy: the counter stays in a register (a counter whose address is
		 * taken lives on the stack, as unknown bytes to the kernel: its loop never ends). */
		__u32 key = n;
		__u64 v = n + 1;

		bpf_map_update_elem(&numbers, &key, &v, BPF_ANY);
	}
	each_visited = bpf_for_each_map_elem(&numbers, (void *)sum_entry, &st, 0);
	return (int)st.total;
}

SEC("xdp")
int misc_csum(struct xdp_md *ctx)
{
	__be32 to[2] = { bpf_htonl(0x01020304), bpf_htonl(0x05060708) };
	__s64 sum = bpf_csum_diff(NULL, 0, to, sizeof(to), 0);

	if (sum < 0)
		return XDP_ABORTED;
	__u32 folded = (__u32)sum;
	folded = (folded & 0xffff) + (folded >> 16);
	folded = (folded & 0xffff) + (folded >> 16);
	csum_result = bpf_ntohs((__u16)folded);
	return XDP_PASS;
}

SEC("syscall")
int misc_spin_lock(void *ctx)
{
	__u32 zero = 0;
	struct locked_value *v = bpf_map_lookup_elem(&locked_counter, &zero);
	__u64 now;

	if (!v)
		return -1;
	bpf_spin_lock(&v->lock);
	v->count += 5;
	now = v->count;
	bpf_spin_unlock(&v->lock);
	return (int)now;
}

/* XDP: Linux offers bpf_ktime_get_coarse_ns to networking programs only. */
SEC("xdp")
int misc_random_time(struct xdp_md *ctx)
{
	__u64 first = bpf_ktime_get_ns();

	random_value = bpf_get_prandom_u32();
	boot_ns = bpf_ktime_get_boot_ns();
	coarse_ns = bpf_ktime_get_coarse_ns();
	jiffies = bpf_jiffies64();
	cpu_id = bpf_get_smp_processor_id();
	numa_id = (__s32)bpf_get_numa_node_id();
	time_ns = bpf_ktime_get_ns();
	return time_ns >= first ? 1 : 0;
}

char LICENSE[] SEC("license") = "GPL";
