// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ringbuf_libbpf.c - the libbpf reference reader of `swiftbpf-bench ringbuf`.
 *
 * The benchmark loads Benchmarks/bpf/ringbuf_bench.o, pins its ring map and a
 * producer program in bpffs and runs this program (compiled at run time with
 * cc against libbpf) on the same map and program:
 *
 *   ringbuf_libbpf MAP_PIN PROG_PIN drain  FILL ROUNDS
 *   ringbuf_libbpf MAP_PIN PROG_PIN stream BATCH ROUNDS PRODUCER_CPU CONSUMER_CPU poll|spin
 *
 * drain:  ROUNDS times (after one untimed round), the producer writes FILL
 *         records (the ring is empty before), then ring_buffer__consume
 *         drains them; only the draining is timed.
 * stream: a producer thread (pinned to PRODUCER_CPU) runs the program ROUNDS
 *         times with BATCH records each while this thread (pinned to
 *         CONSUMER_CPU) reads with ring_buffer__poll (epoll) or spins on
 *         ring_buffer__consume; then the producer writes a marker record
 *         (sequence number MARKER) and the reader stops when it sees it. Timed
 *         from the first run to the marker.
 *
 * The callback reads each record's sequence number (it restarts at 0 with
 * every run of the program) and counts records that break the order. Prints
 * one line: records=N ns=T drops=D disorder=E (the marker is not counted).
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MARKER (1ull << 63)

struct reader {
	int done;
	uint64_t records;
	uint64_t next_seq;
	uint64_t disorder;
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct reader *r = ctx;
	uint64_t seq;

	(void)size;
	memcpy(&seq, data, sizeof(seq));
	if (seq == MARKER) {
		r->done = 1; /* the last record of a stream */
		return 0;
	}
	if (seq == 0)
		r->next_seq = 0;
	if (seq != r->next_seq)
		r->disorder++;
	r->next_seq = seq + 1;
	r->records++;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Runs the producer once for `count` records; returns how many it wrote. */
static long produce(int prog_fd, uint32_t count, uint64_t first_seq)
{
	struct { uint32_t count, pad; uint64_t first_seq; } args = { count, 0, first_seq };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &args, .ctx_size_in = sizeof(args));
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	if (err) {
		fprintf(stderr, "ringbuf_libbpf: test run failed: %s\n", strerror(errno));
		return -1;
	}
	return (long)opts.retval;
}

static void pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

struct producer {
	int prog_fd;
	uint32_t batch;
	uint32_t rounds;
	int cpu;
	uint64_t drops;
};

static void *run_producer(void *arg)
{
	struct producer *p = arg;

	pin_to(p->cpu);
	for (uint32_t i = 0; i < p->rounds; i++) {
		long written = produce(p->prog_fd, p->batch, 0);

		if (written < 0)
			break;
		p->drops += p->batch - (uint64_t)written;
	}
	/* The marker, until there is room for it. */
	while (produce(p->prog_fd, 1, MARKER) == 0)
		sched_yield();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr, "usage: %s MAP_PIN PROG_PIN drain FILL ROUNDS\n"
				"       %s MAP_PIN PROG_PIN stream BATCH ROUNDS PRODUCER_CPU CONSUMER_CPU poll|spin\n",
			argv[0], argv[0]);
		return 2;
	}
	int map_fd = bpf_obj_get(argv[1]);
	int prog_fd = bpf_obj_get(argv[2]);

	if (map_fd < 0 || prog_fd < 0) {
		fprintf(stderr, "ringbuf_libbpf: bpf_obj_get: %s\n", strerror(errno));
		return 1;
	}
	struct reader reader = { 0 };
	struct ring_buffer *rb = ring_buffer__new(map_fd, on_record, &reader, NULL);

	if (!rb) {
		fprintf(stderr, "ringbuf_libbpf: ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}
	uint32_t count = (uint32_t)strtoul(argv[4], NULL, 10);
	uint32_t rounds = (uint32_t)strtoul(argv[5], NULL, 10);
	uint64_t drops = 0, elapsed = 0, expected = 0;

	/* Whatever an earlier reader left behind is not ours to count. */
	ring_buffer__consume(rb);
	reader = (struct reader){ 0 };

	if (strcmp(argv[3], "drain") == 0) {
		/* Round 0 warms up and is not counted. */
		for (uint32_t i = 0; i <= rounds; i++) {
			long written = produce(prog_fd, count, 0);

			if (written < 0)
				return 1;
			expected += (uint64_t)written;
			uint64_t start = now_ns();

			while (reader.records < expected) {
				int n = ring_buffer__consume(rb);

				if (n < 0) {
					fprintf(stderr, "ringbuf_libbpf: consume: %d\n", n);
					return 1;
				}
			}
			if (i == 0) {
				expected = 0;
				reader = (struct reader){ 0 };
				continue;
			}
			drops += count - (uint64_t)written;
			elapsed += now_ns() - start;
		}
	} else if (strcmp(argv[3], "stream") == 0 && argc >= 9) {
		struct producer p = { .prog_fd = prog_fd, .batch = count, .rounds = rounds,
				      .cpu = atoi(argv[6]) };
		int spin = strcmp(argv[8], "spin") == 0;
		pthread_t thread;

		pin_to(atoi(argv[7]));
		uint64_t start = now_ns();

		pthread_create(&thread, NULL, run_producer, &p);
		while (!reader.done) {
			int n = spin ? ring_buffer__consume(rb) : ring_buffer__poll(rb, 100);

			if (n < 0 && n != -EINTR) {
				fprintf(stderr, "ringbuf_libbpf: poll: %d\n", n);
				return 1;
			}
		}
		elapsed = now_ns() - start;
		pthread_join(thread, NULL);
		drops = p.drops;
	} else {
		fprintf(stderr, "ringbuf_libbpf: unknown mode %s\n", argv[3]);
		return 2;
	}
	printf("records=%llu ns=%llu drops=%llu disorder=%llu\n", (unsigned long long)reader.records,
	       (unsigned long long)elapsed, (unsigned long long)drops, (unsigned long long)reader.disorder);
	ring_buffer__free(rb);
	return 0;
}
