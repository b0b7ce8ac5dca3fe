// The USDT fixture (our own code): two usdt programs that find their probe site's argument spec
// as libbpf's usdt.bpf.h does — the spec id from the BPF cookie when LINUX_HAS_BPF_COOKIE, else
// from __bpf_usdt_ip_to_spec_id by the probe's address — and read the arguments through the spec
// in __bpf_usdt_specs. The maps and the spec layout are declared here from usdt.bpf.h's field
// list (libbpf 1.7: 24-byte arguments, a 304-byte spec); no libbpf header is used.
//
// Results, per program, in an array of 16 s64 (args_results for on_args, gated_results for on_gated):
//   [0] hits   [1..4] sums of arguments 0..3   [5] argument count of the last hit
//   [6] hits whose spec was not found   [7] the USDT cookie of the last hit
//   [8] hits where __bpf_usdt_ip_to_spec_id agreed with the cookie   [9] LINUX_HAS_BPF_COOKIE
//   [10] hits where reading an argument failed
// The host side is usdt_probes.c: fire(i) hits swiftbpf:args with (-7, i, (short)-i, 2 * (1000 + i))
// and, while its semaphore is set, swiftbpf:gated with (1000 + i).
#include "swiftbpf_helpers.h"

struct usdt_arg_spec {
	__u64 val_off;          // the constant, or the offset added to the register
	__u8 arg_type;          // 0 constant, 1 register, 2 memory at register + val_off, 3 indexed
	__u8 pad0;
	__u16 idx_reg_scale;    // index register's pt_regs offset (12 bits), scale shift (4 bits)
	__u8 reserved;
	__u8 pad1;
	__s16 reg_off;          // the register's offset in struct pt_regs
	__u8 arg_signed;
	__s8 arg_bitshift;      // 64 - 8 * size
	__u8 pad2[6];
};

struct usdt_spec {
	struct usdt_arg_spec args[12];
	__u64 usdt_cookie;
	__s16 arg_cnt;
};

_Static_assert(sizeof(struct usdt_arg_spec) == 24, "usdt_arg_spec");
_Static_assert(sizeof(struct usdt_spec) == 304, "usdt_spec");
_Static_assert(__builtin_offsetof(struct usdt_spec, arg_cnt) == 296, "arg_cnt");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, int);
	__type(value, struct usdt_spec);
} __bpf_usdt_specs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, long);
	__type(value, __u32);
} __bpf_usdt_ip_to_spec_id SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __s64);
} args_results SEC(".maps"), gated_results SEC(".maps");

extern const _Bool LINUX_HAS_BPF_COOKIE __attribute__((section(".kconfig")));

static __u64 (* const bpf_get_attach_cookie)(void *ctx) = (void *) 174;

static __always_inline void add(void *results, __u32 slot, __s64 value)
{
	__s64 *p = bpf_map_lookup_elem(results, &slot);
	if (p)
		__sync_fetch_and_add(p, value);
}

static __always_inline void set(void *results, __u32 slot, __s64 value)
{
	__s64 *p = bpf_map_lookup_elem(results, &slot);
	if (p)
		*p = value;
}

static __always_inline int read_arg(void *ctx, struct usdt_arg_spec *arg, __s64 *out)
{
	__u64 value = 0;
	switch (arg->arg_type) {
	case 0:
		value = arg->val_off;
		break;
	case 1:
		if (bpf_probe_read_kernel(&value, sizeof(value), ctx + arg->reg_off))
			return -1;
		break;
	case 2:
		if (bpf_probe_read_kernel(&value, sizeof(value), ctx + arg->reg_off))
			return -1;
		if (bpf_probe_read_user(&value, sizeof(value), (void *)(value + arg->val_off)))
			return -1;
		break;
	default:
		return -1;
	}
	value <<= arg->arg_bitshift;
	if (arg->arg_signed)
		*out = ((__s64)value) >> arg->arg_bitshift;
	else
		*out = value >> arg->arg_bitshift;
	return 0;
}

static __always_inline int record(void *ctx, void *results)
{
	__u64 ip = *(__u64 *)(ctx + 128);   // pt_regs->ip: the probe's address
	__u32 *by_ip = bpf_map_lookup_elem(&__bpf_usdt_ip_to_spec_id, &ip);
	int id;

	if (LINUX_HAS_BPF_COOKIE) {
		id = bpf_get_attach_cookie(ctx);
		if (by_ip && *by_ip == id)
			add(results, 8, 1);
	} else {
		if (!by_ip) {
			add(results, 6, 1);
			return 0;
		}
		id = *by_ip;
	}
	set(results, 9, LINUX_HAS_BPF_COOKIE);
	struct usdt_spec *spec = bpf_map_lookup_elem(&__bpf_usdt_specs, &id);
	if (!spec) {
		add(results, 6, 1);
		return 0;
	}
	add(results, 0, 1);
	set(results, 5, spec->arg_cnt);
	set(results, 7, spec->usdt_cookie);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__s64 value;
		if (i >= spec->arg_cnt)
			break;
		if (read_arg(ctx, &spec->args[i], &value))
			add(results, 10, 1);
		else
			add(results, 1 + i, value);
	}
	return 0;
}

SEC("usdt")
int on_args(void *ctx)
{
	return record(ctx, &args_results);
}

SEC("usdt")
int on_gated(void *ctx)
{
	return record(ctx, &gated_results);
}

char LICENSE[] SEC("license") = "GPL";
