/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * native/swiftbpf_helpers.h - lets the benchmark's eBPF C (jit_bench.c)
 * compile for the host, so `swiftbpf-bench jit` can time the same functions
 * built by clang -O2 as native code (its "native" column):
 *
 *   clang -O2 -shared -fPIC -I Benchmarks/bpf/native Benchmarks/bpf/jit_bench.c
 *
 * It takes the constants and packet headers of the real header, and replaces
 * what only exists inside BPF: the XDP context holds real pointers, and the
 * map helpers are small C functions over a process-local array or hash table
 * whose parameters come from the map definition's types, as the loader reads
 * them from BTF.
 */
#ifndef SWIFTBPF_NATIVE_HELPERS_H
#define SWIFTBPF_NATIVE_HELPERS_H

#define xdp_md swiftbpf_bpf_xdp_md
#define bpf_map_lookup_elem swiftbpf_bpf_map_lookup_elem
#define bpf_map_update_elem swiftbpf_bpf_map_update_elem
#define bpf_map_delete_elem swiftbpf_bpf_map_delete_elem
#include "../../../Tests/Fixtures/bpf/include/swiftbpf_helpers.h"
#undef xdp_md
#undef bpf_map_lookup_elem
#undef bpf_map_update_elem
#undef bpf_map_delete_elem
#undef SEC

#include <stdlib.h>
#include <string.h>

/* Functions are exported by name; map definitions are plain (unused) globals. */
#define SEC(name) __attribute__((used, visibility("default")))

/* The context as the host sees it: data and data_end are pointers (as longs). */
struct xdp_md {
	long data;
	long data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

/* One map: array (values indexed by a 32-bit key) or hash (open addressing). */
struct native_map {
	int type;
	__u32 key_size, value_size, max_entries, slots;
	unsigned char *keys, *values, *used;
};

static struct native_map *native_map_new(int type, __u32 max_entries, __u32 key_size, __u32 value_size)
{
	struct native_map *m = calloc(1, sizeof(*m));
	m->type = type;
	m->key_size = key_size;
	m->value_size = value_size;
	m->max_entries = max_entries;
	m->slots = type == BPF_MAP_TYPE_HASH ? max_entries * 2 : max_entries;
	m->keys = calloc(m->slots, key_size);
	m->values = calloc(m->slots, value_size);
	m->used = calloc(m->slots, 1);
	return m;
}

static __u32 native_hash(const void *key, __u32 size)
{
	const unsigned char *p = key;
	__u32 h = 2166136261u;
	for (__u32 i = 0; i < size; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* The slot of `key` in a hash map, or of the free slot where it would go. */
static __u32 native_slot(struct native_map *m, const void *key)
{
	__u32 i = native_hash(key, m->key_size) % m->slots;
	while (m->used[i] && memcmp(m->keys + (size_t)i * m->key_size, key, m->key_size) != 0)
		i = (i + 1) % m->slots;
	return i;
}

static void *native_lookup(struct native_map *m, const void *key)
{
	if (m->type == BPF_MAP_TYPE_ARRAY) {
		__u32 k = *(const __u32 *)key;
		return k < m->max_entries ? m->values + (size_t)k * m->value_size : NULL;
	}
	__u32 i = native_slot(m, key);
	return m->used[i] ? m->values + (size_t)i * m->value_size : NULL;
}

static long native_update(struct native_map *m, const void *key, const void *value, __u64 flags)
{
	(void)flags;
	if (m->type == BPF_MAP_TYPE_ARRAY) {
		void *v = native_lookup(m, key);
		if (!v) return -7;
		memcpy(v, value, m->value_size);
		return 0;
	}
	__u32 i = native_slot(m, key), count = 0;
	if (!m->used[i]) {
		for (__u32 j = 0; j < m->slots; j++) count += m->used[j];
		if (count >= m->max_entries) return -7;
		m->used[i] = 1;
		memcpy(m->keys + (size_t)i * m->key_size, key, m->key_size);
	}
	memcpy(m->values + (size_t)i * m->value_size, value, m->value_size);
	return 0;
}

/* The map behind a definition (one per definition), made on first use. */
static struct native_map *native_map_get(const void *definition, int type, __u32 max_entries, __u32 key_size, __u32 value_size)
{
	static const void *definitions[16];
	static struct native_map *maps[16];
	int i = 0;
	while (i < 16 && definitions[i] && definitions[i] != definition) i++;
	if (i == 16) abort();
	if (!definitions[i]) {
		definitions[i] = definition;
		maps[i] = native_map_new(type, max_entries, key_size, value_size);
	}
	return maps[i];
}

/* Each call site finds its map once. */
#define NATIVE_MAP(d) ({ \
	static struct native_map *native_map_cache; \
	if (!native_map_cache) \
		native_map_cache = native_map_get((d), sizeof(*(d)->type) / sizeof(int), sizeof(*(d)->max_entries) / sizeof(int), \
						  sizeof(*(d)->key), sizeof(*(d)->value)); \
	native_map_cache; })

#define bpf_map_lookup_elem(d, k) native_lookup(NATIVE_MAP(d), (k))
#define bpf_map_update_elem(d, k, v, f) native_update(NATIVE_MAP(d), (k), (v), (f))

#endif
