// SPDX-License-Identifier: GPL-2.0
/*
 * timers.c - bpf_timer_* on timers in an array map's values (tc), compared with the kernel
 * (differential test). tm_states, on timer 0: init (0), init again (-EBUSY), start before a
 * callback is set (-EINVAL), set_callback (0), start in one second (0), cancel (1: it was armed),
 * cancel again (0); on timer 1: init with an unknown clock (-EINVAL), cancel before init (-EINVAL).
 * Each result is coded 0 (0), 1 (1), 2 (-EBUSY), 3 (-EINVAL), 4 (anything else), three bits
 * apiece from bit 0 up -> r0 (56656080, 0x36080d0, on a first run). Cancel also forgets the
 * callback, so a later run's start before set_callback is -EINVAL again, and that run finds
 * timer 0 initialized, its first init -EBUSY (56656082).
 * The timer never fires: the runtime does not run callbacks, and the kernel's is cancelled first.
 */
#include "swiftbpf_helpers.h"

struct bpf_timer {
	__u64 __opaque[2];
} __attribute__((aligned(8)));

struct elem {
	struct bpf_timer t;
	__u64 fired;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct elem);
} timers SEC(".maps");

static long (* const bpf_timer_init)(struct bpf_timer *timer, void *map, __u64 flags) = (void *) 169;
static long (* const bpf_timer_set_callback)(struct bpf_timer *timer, void *callback_fn) = (void *) 170;
static long (* const bpf_timer_start)(struct bpf_timer *timer, __u64 nsecs, __u64 flags) = (void *) 171;
static long (* const bpf_timer_cancel)(struct bpf_timer *timer) = (void *) 172;

static int fire(void *map, __u32 *key, struct elem *e)
{
	e->fired += 1;
	return 0;
}

static __always_inline __u64 code(long r)
{
	return r == 0 ? 0 : r == 1 ? 1 : r == -16 ? 2 : r == -22 ? 3 : 4;
}

SEC("tc")
int tm_states(struct __sk_buff *skb)
{
	__u32 k0 = 0, k1 = 1;
	struct elem *a = bpf_map_lookup_elem(&timers, &k0);
	struct elem *b = bpf_map_lookup_elem(&timers, &k1);
	__u64 r = 0;

	if (!a || !b)
		return -1;
	r |= code(bpf_timer_init(&a->t, &timers, 1 /* CLOCK_MONOTONIC */));
	r |= code(bpf_timer_init(&a->t, &timers, 1)) << 3;
	r |= code(bpf_timer_start(&a->t, 1000000000, 0)) << 6;
	r |= code(bpf_timer_set_callback(&a->t, fire)) << 9;
	r |= code(bpf_timer_start(&a->t, 1000000000, 0)) << 12;
	r |= code(bpf_timer_cancel(&a->t)) << 15;
	r |= code(bpf_timer_cancel(&a->t)) << 18;
	r |= code(bpf_timer_init(&b->t, &timers, 12345)) << 21;
	r |= code(bpf_timer_cancel(&b->t)) << 24;
	return r;
}

char LICENSE[] SEC("license") = "GPL";
