// Runs one eBPF program in uBPF's interpreter and times it, for `swiftbpf-bench interpreter --ubpf`.
// Our own code: it only calls uBPF's public API (ubpf.h). Build it with build-runner.sh from a folder
// of uBPF's sources; nothing of uBPF is kept in this repository.
//
//   ubpf_runner PROGRAM.bin MEMORY.bin RUNS
//
// PROGRAM.bin is raw bytecode (8-byte slots), MEMORY.bin the bytes r1 points at (r2 = their length).
// Prints "r0=<decimal> ns=<ns per run>": the best of 5 batches of RUNS runs, each run over the same
// memory (the programs do not write it), as the Swift side measures its interpreter.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ubpf.h>

static void *read_file(const char *path, size_t *size) {
	FILE *f = fopen(path, "rb");
	if (!f) { perror(path); exit(2); }
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	void *bytes = malloc(n > 0 ? (size_t)n : 1);
	if (n > 0 && fread(bytes, 1, (size_t)n, f) != (size_t)n) { perror(path); exit(2); }
	fclose(f);
	*size = (size_t)n;
	return bytes;
}

static double now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: %s PROGRAM.bin MEMORY.bin RUNS\n", argv[0]);
		return 2;
	}
	size_t code_size, memory_size;
	void *code = read_file(argv[1], &code_size);
	uint8_t *memory = read_file(argv[2], &memory_size);
	long runs = atol(argv[3]);
	struct ubpf_vm *vm = ubpf_create();
	if (!vm) { fprintf(stderr, "ubpf_create failed\n"); return 1; }
	// Long loops: the default limit (none) is kept; bounds checks stay on (uBPF's default).
	char *error = NULL;
	if (ubpf_load(vm, code, (uint32_t)code_size, &error) < 0) {
		fprintf(stderr, "ubpf_load: %s\n", error ? error : "failed");
		return 1;
	}
	uint64_t r0 = 0;
	if (ubpf_exec(vm, memory, memory_size, &r0) < 0) { fprintf(stderr, "ubpf_exec failed\n"); return 1; }
	double best = 1e30;
	for (int batch = 0; batch < 5; batch++) {
		double start = now_ns();
		for (long i = 0; i < runs; i++) {
			uint64_t value;
			if (ubpf_exec(vm, memory, memory_size, &value) < 0 || value != r0) {
				fprintf(stderr, "run %ld failed or changed its answer\n", i);
				return 1;
			}
		}
		double elapsed = (now_ns() - start) / (double)runs;
		if (elapsed < best) best = elapsed;
	}
	printf("r0=%llu ns=%.2f\n", (unsigned long long)r0, best);
	ubpf_destroy(vm);
	return 0;
}
