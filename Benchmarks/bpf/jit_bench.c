// SPDX-License-Identifier: GPL-2.0
/*
 * jit_bench.c - the programs `swiftbpf-bench jit` runs on our JIT, our
 * interpreter and the kernel's JIT (BPF_PROG_TEST_RUN), all on the same
 * 512-byte packet. Every program is XDP and returns a value that depends on
 * all of its work, so nothing can be optimized away. Rebuild with ./build.sh.
 */
#include "swiftbpf_helpers.h"

#define PKT_LEN 512

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} jit_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} jit_hash SEC(".maps");

/* Nothing: the cost of a run itself. */
SEC("xdp")
int jit_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* Population count of 256 derived words, the shift-and-mask way. */
SEC("xdp")
int jit_bitcount(struct xdp_md *ctx)
{
	__u64 x = (ctx->data_end - ctx->data) + 0x9e3779b97f4a7c15ULL, total = 0;
	for (int i = 0; i < 256; i++) {
		__u64 v = x;
		v = v - ((v >> 1) & 0x5555555555555555ULL);
		v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
		v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
		total += (v * 0x0101010101010101ULL) >> 56;
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	}
	return total & 0xff;
}

/* RFC 1071 checksum over the whole packet, bounds-checked per word. */
SEC("xdp")
int jit_checksum(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 sum = 0;
	for (int i = 0; i < PKT_LEN / 2; i++) {
		__u16 *p = data + i * 2;
		if ((void *)(p + 1) > end)
			break;
		sum += *p;
	}
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (~sum) & 0xffff;
}

static const __u32 sorted[64] = {
	3, 9, 14, 21, 30, 41, 47, 55, 62, 70, 81, 89, 97, 104, 113, 120,
	131, 140, 148, 155, 163, 171, 180, 192, 201, 209, 218, 226, 233, 240, 251, 260,
	271, 280, 288, 297, 305, 313, 320, 331, 340, 349, 357, 364, 371, 380, 392, 401,
	410, 417, 425, 433, 442, 450, 459, 468, 476, 484, 493, 502, 511, 520, 529, 540,
};

/* 64 binary searches in a sorted table (global data). */
SEC("xdp")
int jit_bsearch(struct xdp_md *ctx)
{
	__u32 found = 0, salt = ctx->rx_queue_index;
	#pragma clang loop unroll(disable)
	for (__u32 k = 0; k < 64; k++) {
		__u32 key = (k * 37 + salt) & 511;
		__u32 lo = 0, hi = 64;
		#pragma clang loop unroll(disable)
		for (int step = 0; step < 7; step++) {
			__u32 mid = ((lo + hi) >> 1) & 63;
			__u32 v = sorted[mid];
			lo = v < key ? mid + 1 : lo;
			hi = v < key ? hi : mid;
			found += v == key;
		}
		found += lo;
	}
	return found & 0xff;
}

/* Ethernet / IPv4 / TCP parsing with bounds checks, then the TCP options. */
SEC("xdp")
int jit_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end) return XDP_ABORTED;
	if (eth->h_proto != __builtin_bswap16(ETH_P_IP)) return XDP_PASS;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end) return XDP_ABORTED;
	if (ip->ihl != 5 || ip->protocol != IPPROTO_TCP) return XDP_PASS;
	struct tcphdr *tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end) return XDP_ABORTED;
	__u32 score = tcp->dest ^ tcp->source ^ ip->saddr ^ ip->daddr;
	__u8 *opt = (void *)(tcp + 1);
	for (int i = 0; i < 8; i++) {
		if ((void *)(opt + 2) > end) break;
		__u8 kind = opt[0];
		if (kind == 0) break;
		if (kind == 1) { opt++; continue; }
		__u8 len = opt[1];
		if (len < 2) break;
		score += kind * len;
		opt += len & 0x3f;
	}
	return score & 3;
}

/* A byte-code style state machine: switch dispatch on every packet byte. */
SEC("xdp")
int jit_switch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u64 acc = 1;
	for (int i = 0; i < PKT_LEN; i++) {
		__u8 *p = data + i;
		if ((void *)(p + 1) > end) break;
		switch (*p & 7) {
		case 0: acc += 3; break;
		case 1: acc ^= acc << 7; break;
		case 2: acc *= 5; break;
		case 3: acc -= *p; break;
		case 4: acc = (acc >> 3) | (acc << 61); break;
		case 5: acc += i; break;
		case 6: acc ^= 0x5bd1e995; break;
		default: acc = ~acc; break;
		}
	}
	return acc & 0xff;
}

/* Nested loops over a small matrix product on the stack. */
SEC("xdp")
int jit_nested(struct xdp_md *ctx)
{
	__u32 a[6][6], b[6][6], len = ctx->data_end - ctx->data;
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 6; j++) {
			a[i][j] = i * 3 + j + len;
			b[i][j] = i ^ (j * 7);
		}
	__u64 sum = 0;
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 6; j++) {
			__u32 c = 0;
			for (int k = 0; k < 6; k++)
				c += a[i][k] * b[k][j];
			sum += c ^ (i * j);
		}
	return sum & 0xff;
}

static __noinline __u64 leaf(__u64 x) { return x * 2654435761u + 1; }
static __noinline __u64 mid(__u64 x) { return leaf(x) ^ leaf(x >> 3); }
static __noinline __u64 top(__u64 x) { return mid(x) + mid(x + 1); }

/* bpf-to-bpf call chains: 64 calls of top(), each making six more calls. */
SEC("xdp")
int jit_calls(struct xdp_md *ctx)
{
	__u64 acc = ctx->data_end - ctx->data;
	for (int i = 0; i < 64; i++)
		acc = top(acc + i);
	return acc & 0xff;
}

/* Array and hash lookups and updates. */
SEC("xdp")
int jit_maps(struct xdp_md *ctx)
{
	__u64 sum = 0;
	for (__u32 i = 0; i < 64; i++) {
		__u32 key = i & 31;
		__u64 *v = bpf_map_lookup_elem(&jit_array, &key);
		if (v) { *v += i; sum += *v; }
		__u32 hkey = i & 15;
		__u64 *h = bpf_map_lookup_elem(&jit_hash, &hkey);
		if (h) {
			sum += *h;
		} else {
			__u64 one = i;
			bpf_map_update_elem(&jit_hash, &hkey, &one, BPF_ANY);
		}
	}
	return sum & 0xff;
}

/* memcmp of the packet's two halves, byte by byte, four times over. */
SEC("xdp")
int jit_memcmp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + PKT_LEN > end) return XDP_ABORTED;
	__u8 *a = data, *b = data + PKT_LEN / 2;
	int diff = 0;
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < PKT_LEN / 2; i++) {
			if (a[i] != b[i]) { diff += a[i] - b[i]; }
		}
	}
	return diff & 0xff;
}

/* Byte loads recombined into big-endian words and summed. */
SEC("xdp")
int jit_bytes(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + PKT_LEN > end) return XDP_ABORTED;
	__u8 *p = data;
	__u64 sum = 0;
	for (int i = 0; i + 8 <= PKT_LEN; i += 8) {
		__u32 hi = (__u32)p[i] << 24 | (__u32)p[i + 1] << 16 | (__u32)p[i + 2] << 8 | p[i + 3];
		__u32 lo = (__u32)p[i + 4] << 24 | (__u32)p[i + 5] << 16 | (__u32)p[i + 6] << 8 | p[i + 7];
		sum += ((__u64)hi << 32 | lo) >> (i & 31);
	}
	return sum & 0xff;
}

/* 32- and 64-bit arithmetic mixed: FNV-1a and murmur-style finalizers. */
SEC("xdp")
int jit_mix32(struct xdp_md *ctx)
{
	__u32 h32 = 2166136261u;
	__u64 h64 = 0xcbf29ce484222325ULL;
	for (__u32 i = 0; i < 256; i++) {
		h32 = (h32 ^ (i + ctx->rx_queue_index)) * 16777619u;
		h64 = (h64 ^ h32) * 0x100000001b3ULL;
		h32 ^= h32 >> 13;
		h64 ^= h64 >> 29;
		h32 += (__u32)(h64 >> 17);
	}
	return (h32 ^ (__u32)h64) & 0xff;
}

struct flow_stats {
	__u64 packets, bytes;
	__u32 first_seen, last_seen;
	__u16 min_len, max_len;
	__u8 flags, ttl;
	__u16 window;
};

/* Clusters of neighbouring struct-field loads and stores: a flow record on the stack
 * updated from the packet's header fields, 64 times. */
SEC("xdp")
int jit_fields(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + 64 > end) return XDP_ABORTED;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct tcphdr *tcp = (void *)(ip + 1);
	volatile struct flow_stats s = {};
	for (__u32 i = 0; i < 64; i++) {
		__u16 len = __builtin_bswap16(ip->tot_len) + i;
		s.packets += 1;
		s.bytes += len;
		if (s.first_seen == 0) s.first_seen = i + 1;
		s.last_seen = i + 1;
		if (s.min_len == 0 || len < s.min_len) s.min_len = len;
		if (len > s.max_len) s.max_len = len;
		s.flags |= tcp->doff_flags >> 8;
		s.ttl = ip->ttl ^ i;
		s.window = tcp->window + s.ttl;
	}
	return (s.packets + s.bytes + s.first_seen + s.last_seen + s.min_len + s.max_len + s.flags + s.window) & 0xff;
}

/* log2 of derived words, folded the branch-free way (shifts, compares and ors). */
SEC("xdp")
int jit_log2(struct xdp_md *ctx)
{
	__u64 x = (ctx->data_end - ctx->data) * 0x9e3779b97f4a7c15ULL, total = 0;
	for (int i = 0; i < 256; i++) {
		__u64 v = (x >> (i & 63)) | 1, r = 0, s;
		s = (v > 0xffffffffULL) << 5; v >>= s; r |= s;
		s = (v > 0xffff) << 4; v >>= s; r |= s;
		s = (v > 0xff) << 3; v >>= s; r |= s;
		s = (v > 0xf) << 2; v >>= s; r |= s;
		s = (v > 0x3) << 1; v >>= s; r |= s;
		r |= v >> 1;
		total += r;
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	}
	return total & 0xff;
}

/* Strided loads: 32-bit words every 12 bytes of the packet, and a column sum of 16-bit words. */
SEC("xdp")
int jit_strided(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + PKT_LEN > end) return XDP_ABORTED;
	__u64 sum = 0;
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i + 4 <= PKT_LEN; i += 12)
			sum += *(__u32 *)(data + i) >> round;
		for (int i = round * 2; i + 2 <= PKT_LEN; i += 32)
			sum ^= *(__u16 *)(data + i) << round;
	}
	return sum & 0xff;
}

char LICENSE[] SEC("license") = "GPL";
