// SPDX-License-Identifier: GPL-2.0
/*
 * maps_all.c - one BTF-defined map of every type SwiftBPF models, and small
 * XDP programs that use them. Every program returns XDP_PASS (2) when all of
 * its internal checks held and XDP_ABORTED (0) as soon as one failed, except
 * the prog-array pair described at the end. Expectations assume freshly
 * created maps and a single run on one CPU.
 *
 * Maps (name: type, key -> value, max_entries, extras):
 *   pcpu_hash      PERCPU_HASH(5)      __u32 -> __u64, 16
 *   pcpu_array     PERCPU_ARRAY(6)     __u32 -> __u64, 4
 *   lru_hash       LRU_HASH(9)         __u32 -> __u64, 8
 *   lru_pcpu_hash  LRU_PERCPU_HASH(10) __u32 -> __u64, 8
 *   lpm            LPM_TRIE(11)        struct lpm_v4_key (8 bytes) -> __u32, 16,
 *                                      map_flags BPF_F_NO_PREALLOC (1)
 *   fifo           QUEUE(22)           no key, value __u32, 8
 *   lifo           STACK(23)           no key, value __u32, 8
 *   seen           BLOOM_FILTER(30)    no key, value __u32, 32, map_extra 3
 *   events_rb      RINGBUF(27)         256 KiB data area (262144)
 *   events_perf    PERF_EVENT_ARRAY(4) key_size 4, value_size 4,
 *                                      max_entries 0 (loader picks #CPUs)
 *   inner_a        ARRAY(2)            __u32 -> __u32, 1
 *   inner_b        ARRAY(2)            __u32 -> __u32, 1
 *   outer_array    ARRAY_OF_MAPS(12)   __u32 -> inner, 2,
 *                                      initial slots {[0] = inner_a}; slot 1 empty
 *   outer_hash     HASH_OF_MAPS(13)    __u32 -> inner, 4, no initial slots
 *   jump           PROG_ARRAY(3)       key_size 4, 2,
 *                                      initial slots {[0] = maps_tail_target}
 */
#include "swiftbpf_helpers.h"

struct lpm_v4_key {
	__u32 prefixlen;   /* host byte order, in bits */
	__u8  data[4];     /* IPv4 address, network byte order */
};

struct event {
	__u32 kind;
	__u32 len;
	__u64 value;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} lru_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} lru_pcpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
} lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, __u32);
} fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, __u32);
} lifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 32);
	__uint(map_extra, 3);          /* number of hash functions */
	__type(value, __u32);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events_perf SEC(".maps");

/* The inner-map template: outer maps name this struct type in __array(). */
struct inner_array {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
};

struct inner_array inner_a SEC(".maps");
struct inner_array inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_array);
} outer_array SEC(".maps") = {
	.values = { [0] = &inner_a },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_array);
} outer_hash SEC(".maps");

int maps_tail_target(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct xdp_md *));
} jump SEC(".maps") = {
	.values = { [0] = &maps_tail_target },
};

static __always_inline void bump(void *map, __u32 key)
{
	__u64 *v = bpf_map_lookup_elem(map, &key);
	if (v) {
		*v += 1;
	} else {
		__u64 one = 1;
		bpf_map_update_elem(map, &key, &one, BPF_NOEXIST);
	}
}

/*
 * maps_percpu_lru  SEC("xdp")
 * After one run on CPU c: pcpu_hash{1}[c] = 1, pcpu_array[0][c] = 1,
 * lru_hash{1} = 1, lru_pcpu_hash{1}[c] = 1 (other CPUs' slots 0).
 * After N runs on the same CPU every one of those values is N. Returns 2.
 */
SEC("xdp")
int maps_percpu_lru(struct xdp_md *ctx)
{
	bump(&pcpu_hash, 1);
	bump(&lru_hash, 1);
	bump(&lru_pcpu_hash, 1);

	__u32 zero = 0;
	__u64 *slot = bpf_map_lookup_elem(&pcpu_array, &zero);
	if (!slot)
		return XDP_ABORTED;
	*slot += 1;
	return XDP_PASS;
}

static __always_inline long lpm_put(__u32 prefixlen, __u8 a, __u8 b, __u8 c, __u8 d, __u32 value)
{
	struct lpm_v4_key key = { .prefixlen = prefixlen, .data = { a, b, c, d } };
	return bpf_map_update_elem(&lpm, &key, &value, BPF_ANY);
}

static __always_inline __u32 lpm_match(__u8 a, __u8 b, __u8 c, __u8 d)
{
	struct lpm_v4_key key = { .prefixlen = 32, .data = { a, b, c, d } };
	__u32 *v = bpf_map_lookup_elem(&lpm, &key);
	return v ? *v : 0;
}

/*
 * maps_lpm  SEC("xdp")
 * Inserts 10.0.0.0/8 -> 8 and 10.1.0.0/16 -> 16, then looks up /32 keys:
 *   10.1.2.3 -> 16 (longest match), 10.200.0.1 -> 8, 192.168.0.1 -> miss.
 * Returns 2; afterwards the trie holds exactly those two prefixes.
 */
SEC("xdp")
int maps_lpm(struct xdp_md *ctx)
{
	if (lpm_put(8, 10, 0, 0, 0, 8) || lpm_put(16, 10, 1, 0, 0, 16))
		return XDP_ABORTED;
	if (lpm_match(10, 1, 2, 3) != 16)
		return XDP_ABORTED;
	if (lpm_match(10, 200, 0, 1) != 8)
		return XDP_ABORTED;
	if (lpm_match(192, 168, 0, 1) != 0)
		return XDP_ABORTED;
	return XDP_PASS;
}

/*
 * maps_queue_stack  SEC("xdp")
 * Pushes 1, 2, 3 onto fifo and onto lifo, then pops one from each:
 * fifo pop -> 1, lifo pop -> 3; peeks fifo -> 2.
 * Adds 0xC0FFEE to the bloom filter and checks it is reported present
 * (bpf_map_peek_elem returns 0). Returns 2.
 * Afterwards: fifo holds [2, 3] (2 at the head), lifo holds [1, 2] (2 on top).
 */
SEC("xdp")
int maps_queue_stack(struct xdp_md *ctx)
{
	__u32 v;

	for (__u32 i = 1; i <= 3; i++) {
		v = i;
		if (bpf_map_push_elem(&fifo, &v, BPF_ANY))
			return XDP_ABORTED;
		if (bpf_map_push_elem(&lifo, &v, BPF_ANY))
			return XDP_ABORTED;
	}
	if (bpf_map_pop_elem(&fifo, &v) || v != 1)
		return XDP_ABORTED;
	if (bpf_map_pop_elem(&lifo, &v) || v != 3)
		return XDP_ABORTED;
	if (bpf_map_peek_elem(&fifo, &v) || v != 2)
		return XDP_ABORTED;

	__u32 marker = 0xC0FFEE;
	if (bpf_map_push_elem(&seen, &marker, BPF_ANY))
		return XDP_ABORTED;
	if (bpf_map_peek_elem(&seen, &marker) != 0)
		return XDP_ABORTED;
	return XDP_PASS;
}

/*
 * maps_events  SEC("xdp")
 * For a frame of L bytes emits, in order:
 *   ringbuf record 1 (reserve/submit): {kind 1, len L, value 0x1122334455667788}
 *   ringbuf record 2 (output):         {kind 2, len L, value 0xAABBCCDD}
 *   perf record on the current CPU:    {kind 3, len L, value 42}
 * Each record is 16 bytes (struct event). Returns 2.
 */
SEC("xdp")
int maps_events(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	struct event *e = bpf_ringbuf_reserve(&events_rb, sizeof(*e), 0);
	if (!e)
		return XDP_ABORTED;
	e->kind = 1;
	e->len = len;
	e->value = 0x1122334455667788ULL;
	bpf_ringbuf_submit(e, 0);

	struct event out = { .kind = 2, .len = len, .value = 0xAABBCCDDULL };
	if (bpf_ringbuf_output(&events_rb, &out, sizeof(out), 0))
		return XDP_ABORTED;

	struct event perf = { .kind = 3, .len = len, .value = 42 };
	bpf_perf_event_output(ctx, &events_perf, BPF_F_CURRENT_CPU, &perf, sizeof(perf));
	return XDP_PASS;
}

/*
 * maps_in_maps  SEC("xdp")
 * outer_array[0] must be inner_a (from the initializer); increments
 * inner_a[0]. outer_array[1] must be empty. If user space stored a map under
 * key 7 in outer_hash, that map's slot 0 is incremented too.
 * Returns 2; after one run inner_a[0] = 1 and inner_b[0] = 0.
 */
SEC("xdp")
int maps_in_maps(struct xdp_md *ctx)
{
	__u32 zero = 0, one = 1, seven = 7;

	void *inner = bpf_map_lookup_elem(&outer_array, &zero);
	if (!inner)
		return XDP_ABORTED;
	__u32 *v = bpf_map_lookup_elem(inner, &zero);
	if (!v)
		return XDP_ABORTED;
	__sync_fetch_and_add(v, 1);

	if (bpf_map_lookup_elem(&outer_array, &one))
		return XDP_ABORTED;

	inner = bpf_map_lookup_elem(&outer_hash, &seven);
	if (inner) {
		v = bpf_map_lookup_elem(inner, &zero);
		if (v)
			__sync_fetch_and_add(v, 1);
	}
	return XDP_PASS;
}

/*
 * maps_tail_entry  SEC("xdp") tail-calls jump[0] = maps_tail_target, which
 * returns XDP_DROP (1). So running maps_tail_entry returns 1; if the slot
 * were empty it would fall through and return XDP_ABORTED (0).
 * Running maps_tail_target directly also returns 1.
 */
SEC("xdp")
int maps_tail_entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jump, 0);
	return XDP_ABORTED;
}

SEC("xdp")
int maps_tail_target(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
