// SPDX-License-Identifier: GPL-2.0
/*
 * interp_bench.c - the programs `swiftbpf-bench interpreter` runs in our
 * interpreter and, in the same run, in uBPF's interpreter (`--ubpf RUNNER`).
 * Each takes r1 = a 512-byte buffer and r2 = its length (the bpf_conformance
 * and uBPF convention, so no context conversion is involved), only reads the
 * buffer, calls no helpers, and returns a value that depends on all its work.
 * The forms are the XDP/TC shapes interpreters are slow at: clusters of
 * struct-field loads, nested loops, switch dispatch, byte loads recombined
 * and byte-swapped, checksums, log2 folding, strided loads, stack arrays,
 * bpf-to-bpf calls and a short header parse. Rebuild with ./build.sh.
 */
#include "swiftbpf_helpers.h"

#define LEN 512
#define NOUNROLL _Pragma("clang loop unroll(disable)")

/* A 24-byte record: the kind of struct a datapath reads field by field. */
struct record {
	__u32 a;
	__u16 b;
	__u8 c, d;
	__u64 e;
	__u32 f, g;
};

SEC("socket")
__u64 interp_fields(struct record *r, __u64 len)
{
	__u64 acc = 0;
	NOUNROLL
	for (int i = 0; i < LEN / sizeof(struct record); i++) {
		acc += (__u64)r[i].a * r[i].b + (r[i].c ^ r[i].d) + (r[i].e >> 3) + r[i].f - r[i].g;
		acc ^= acc << 7;
	}
	return acc;
}

SEC("socket")
__u64 interp_nested(__u8 *mem, __u64 len)
{
	__u64 acc = 1;
	NOUNROLL
	for (int i = 0; i < 24; i++) {
		NOUNROLL
		for (int j = 0; j < 24; j++)
			acc = acc * 31 + (mem[(i * 24 + j) & (LEN - 1)] ^ (i * j));
	}
	return acc;
}

SEC("socket")
__u64 interp_switch(__u8 *mem, __u64 len)
{
	__u64 x = 0x12345;
	NOUNROLL
	for (int i = 0; i < 256; i++) {
		switch (mem[i] & 15) {
		case 0: x = x * 3 + 1; break;
		case 1: x ^= x >> 7; break;
		case 2: x += mem[i + 1]; break;
		case 3: x -= 17; break;
		case 4: x = (x << 3) | (x >> 61); break;
		case 5: x |= 0x100; break;
		case 6: x &= 0xffffffffffULL; break;
		case 7: x = x * 5 - i; break;
		case 8: x ^= mem[i + 2] << 8; break;
		case 9: x += i * 3; break;
		case 10: x = ~x; break;
		case 11: x ^= 0x5555; break;
		case 12: x = x / 3 + 2; break;
		case 13: x += x >> 13; break;
		case 14: x -= mem[i + 3]; break;
		default: x += 1; break;
		}
	}
	return x;
}

SEC("socket")
__u64 interp_bytes(__u8 *mem, __u64 len)
{
	__u64 acc = 0;
	NOUNROLL
	for (int i = 0; i < LEN - 8; i += 4) {
		__u32 be = (__u32)mem[i] << 24 | (__u32)mem[i + 1] << 16 | (__u32)mem[i + 2] << 8 | mem[i + 3];
		__u16 be16 = (__u16)(mem[i + 4] << 8 | mem[i + 5]);
		acc += __builtin_bswap32(be) ^ be16;
		acc = __builtin_bswap64(acc) + i;
	}
	return acc;
}

SEC("socket")
__u64 interp_checksum(__u16 *mem, __u64 len)
{
	__u64 sum = 0;
	NOUNROLL
	for (int i = 0; i < LEN / 2; i++)
		sum += mem[i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("socket")
__u64 interp_log2(__u32 *mem, __u64 len)
{
	__u64 total = 0;
	NOUNROLL
	for (int i = 0; i < LEN / 4; i++) {
		__u32 v = mem[i] | 1, r = 0;
		if (v >> 16) { v >>= 16; r += 16; }
		if (v >> 8) { v >>= 8; r += 8; }
		if (v >> 4) { v >>= 4; r += 4; }
		if (v >> 2) { v >>= 2; r += 2; }
		if (v >> 1) { r += 1; }
		total += r;
	}
	return total;
}

SEC("socket")
__u64 interp_strided(__u64 *mem, __u64 len)
{
	__u64 acc = 0;
	NOUNROLL
	for (int round = 0; round < 8; round++) {
		NOUNROLL
		for (int i = round; i < LEN / 8; i += 8)
			acc += mem[i] ^ (acc >> 5);
	}
	return acc;
}

SEC("socket")
__u64 interp_stack(__u8 *mem, __u64 len)
{
	__u64 table[16];
	NOUNROLL
	for (int i = 0; i < 16; i++)
		table[i] = ((__u64 *)mem)[i] ^ i;
	__u64 acc = 0;
	NOUNROLL
	for (int i = 0; i < 256; i++) {
		__u64 t = table[mem[i] & 15];
		table[i & 15] = t + acc;
		acc = (acc ^ t) * 0x9e3779b1;
	}
	return acc;
}

static __attribute__((noinline)) __u64 mix(__u64 a, __u64 b)
{
	return (a ^ b) * 0x100000001b3ULL + (a >> 17);
}

static __attribute__((noinline)) __u64 step(__u8 *mem, __u64 acc, int i)
{
	return mix(acc, mem[i & (LEN - 1)]) + i;
}

SEC("socket")
__u64 interp_calls(__u8 *mem, __u64 len)
{
	__u64 acc = 0;
	NOUNROLL
	for (int i = 0; i < 128; i++)
		acc = step(mem, acc, i);
	return acc;
}

/* Ethernet + IPv4 + TCP/UDP ports, bounds-checked against the length: one short pass, as XDP does. */
SEC("socket")
__u64 interp_parse(__u8 *data, __u64 len)
{
	if (len < 14)
		return 0;
	__u16 proto = (__u16)(data[12] << 8 | data[13]);
	if (proto != 0x0800)
		return 1;
	if (len < 14 + 20)
		return 0;
	__u8 *ip = data + 14;
	__u32 ihl = (ip[0] & 15) * 4;
	if (ihl < 20 || len < 14 + ihl + 4)
		return 0;
	__u32 saddr = *(__u32 *)(ip + 12), daddr = *(__u32 *)(ip + 16);
	__u8 *l4 = ip + ihl;
	__u16 sport = (__u16)(l4[0] << 8 | l4[1]), dport = (__u16)(l4[2] << 8 | l4[3]);
	__u64 hash = saddr ^ ((__u64)daddr << 32);
	hash ^= ((__u64)sport << 16 | dport) * 0x9e3779b97f4a7c15ULL;
	hash ^= ip[9];
	return hash ^ (hash >> 29);
}

char _license[] SEC("license") = "GPL";
