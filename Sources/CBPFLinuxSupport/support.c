#define _GNU_SOURCE
#include <sched.h>
#include <string.h>
// Everything is in the header (static inline); SwiftPM needs one source file per C target.
#include "CBPFLinuxSupport.h"


int cbpf_pin_thread_to_current_cpu(unsigned char *saved, unsigned long size) {
    if (size < sizeof(cpu_set_t)) return -1;
    cpu_set_t previous;
    if (sched_getaffinity(0, sizeof previous, &previous) != 0) return -1;
    int cpu = sched_getcpu();
    if (cpu < 0) return -1;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) return -1;
    memcpy(saved, &previous, sizeof previous);
    return cpu;
}

int cbpf_restore_thread_affinity(const unsigned char *saved, unsigned long size) {
    if (size < sizeof(cpu_set_t)) return -1;
    cpu_set_t previous;
    memcpy(&previous, saved, sizeof previous);
    return sched_setaffinity(0, sizeof previous, &previous);
}
