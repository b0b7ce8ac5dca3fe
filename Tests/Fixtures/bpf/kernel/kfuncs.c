// The kernel loader's kfunc fixture (our own code): a syscall program (run by BPF_PROG_TEST_RUN)
// that calls kfuncs resolved through the kernel's BTF, tests a __weak kfunc no kernel has with
// ksym_exists() (libbpf's bpf_ksym_exists) so the loader must turn it into 0 and a poisoned call,
// and calls a __hidden global subprogram that the kernel accepts only when the loader sends it as
// static (as a global function, its pointer argument could be NULL).
#include "swiftbpf_helpers.h"

#define __ksym __attribute__((section(".ksyms")))
#define __hidden __attribute__((visibility("hidden")))
// True when the loader resolved the __weak extern `sym`, false (a constant 0) when it did not.
#define ksym_exists(sym) (!!(sym))

// A complete struct, as vmlinux.h declares it: libbpf checks a kfunc's prototype against the
// kernel's, and a forward declaration is not compatible with a struct.
struct task_struct {
	int pid;
};
extern struct task_struct *bpf_task_from_pid(int pid) __ksym;
extern void bpf_task_release(struct task_struct *task) __ksym;
// In no kernel: the loader must load the program anyway (the call is dead code).
extern int swiftbpf_fixture_missing_kfunc(int value) __ksym __weak;

int found_self = -1;      // 1 when bpf_task_from_pid found the calling process
int missing_result = 7;   // -1 when ksym_exists() said the missing kfunc is absent
int hidden_result;        // 42, written by the __hidden subprogram through its pointer argument
// A section of static variables only: libbpf creates its map without BPF_F_MMAPABLE (no global
// variable for a skeleton to map), and so must we.
static int runs SEC(".data.statics");

// Writes through its argument without a NULL check: refused for a global function (the verifier
// assumes any pointer may be NULL), accepted for a static one called with a stack address.
__noinline __hidden int store_answer(int *where)
{
	*where = 42;
	return 0;
}

SEC("syscall")
int kfuncs(void *ctx)
{
	struct task_struct *task = bpf_task_from_pid(bpf_get_current_pid_tgid() >> 32);
	if (task) {
		found_self = 1;
		bpf_task_release(task);
	} else {
		found_self = 0;
	}
	if (ksym_exists(swiftbpf_fixture_missing_kfunc))
		missing_result = swiftbpf_fixture_missing_kfunc(1);
	else
		missing_result = -1;
	int answer = 0;
	store_answer(&answer);
	hidden_result = answer;
	runs++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
