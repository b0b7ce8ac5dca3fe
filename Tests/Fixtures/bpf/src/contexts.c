// SPDX-License-Identifier: GPL-2.0
/*
 * contexts.c - what programs may and may not do with their context, per
 * program type, and the skb helpers' edge cases. Programs marked "refused"
 * break a rule the kernel's verifier enforces at load time; a runtime without
 * a verifier must stop them with an error naming the field instead.
 *
 * tc_fields    SEC("tc") copies what it reads into .bss tc_seen, then writes
 *              tc_index = 7, tc_classid = 0x10001, queue_mapping = 2 and
 *              tstamp = 12345. Returns TC_ACT_OK (0).
 *              For a 60-byte IPv4 frame to 00:00:00:00:00:00 and ctx_in
 *              { mark 5, priority 6, ingress_ifindex 3, cb[4] 9, gso_segs 2,
 *              gso_size 1400, hwtstamp 77 }:
 *                len 60, pkt_type 0 (PACKET_HOST), protocol 0x0008 (htons
 *                0x0800 as a number), ifindex 1, ingress_ifindex 3, wire_len
 *                60, mark 5, priority 6, cb4 9, gso_segs 2, gso_size 1400,
 *                hwtstamp 77, data_len 60, meta_len 0.
 *              ctx_out: mark 5, priority 6, ingress_ifindex 3, ifindex 1,
 *              cb[4] 9, tstamp 12345, wire_len 60, gso_segs 2, gso_size 1400,
 *              hwtstamp 77; tc_index, tc_classid, queue_mapping, len and
 *              protocol are 0 (the kernel does not return them).
 * tc_grow      SEC("tc") runs the skb helpers' failure cases, then grows the
 *              packet at both ends and writes 4 marker bytes through
 *              skb->data. For a 60-byte frame: .bss grow =
 *                shrink_too_far -22 (change_tail below the Ethernet header),
 *                pull_too_much -12 (pull_data of len + 1),
 *                load_oob -14 (load_bytes of 4 bytes at len - 2; buffer zeroed),
 *                store_bad_flags -22 (store_bytes with flags 4),
 *                change_head 0 (4 zero bytes in front), change_tail 0
 *                (len + 300: past the buffer's tailroom), tail_len 364.
 *              Output: c0 ff ee 01, the 60 input bytes, 300 zero bytes.
 *              Returns TC_ACT_OK (0).
 * tc_write_len SEC("tc") stores to skb->len: refused (read-only field).
 * tc_write_past SEC("tc") stores 4 bytes at offset 200 of its context:
 *              refused (past the end of struct __sk_buff).
 * tc_write_data SEC("tc") stores to skb->data: refused (a converted,
 *              read-only field).
 * socket_cb    SEC("socket") stores len into cb[0] and pkt_type into cb[4];
 *              returns 0. 74-byte frame to ff:ff:ff:ff:ff:ff -> cb[0] 60,
 *              cb[4] 2 (PACKET_MULTICAST: loopback has no broadcast address).
 * socket_data  SEC("socket") loads skb->data: refused (socket filters have
 *              no direct packet access).
 * socket_ldabs SEC("socket") returns the legacy packet load of byte 9, which
 *              for a socket filter is relative to the network header: the IPv4
 *              protocol (6 for TCP).
 * cg_fields    SEC("cgroup_skb/egress") copies family, local_ip4, remote_ip4,
 *              len and the first packet byte (direct read) into .bss cg_seen;
 *              returns 1. IPv4 192.168.0.1 -> 192.168.0.2: family 2,
 *              local_ip4 = the source, remote_ip4 = the destination (network
 *              order), first_byte 0x45.
 * cg_write_pkt SEC("cgroup_skb/ingress") writes the packet: refused
 *              (cgroup_skb reads the packet only).
 * tp_write_ctx SEC("tracepoint/syscalls/sys_enter_openat") stores to its
 *              context: refused (tracepoint contexts are read-only).
 * sys_double   SEC("syscall") ctx {u32 a; u32 b;}: b = 2 * a, returns a + 1.
 *              ctx_in {20, 0} -> returns 21, ctx_out {20, 40}.
 * kp_di        SEC("kprobe/do_nanosleep") returns regs[14] (x86-64
 *              pt_regs->di, offset 112).
 */
#include "swiftbpf_helpers.h"

struct skb_seen {
	__u32 len, pkt_type, protocol, ifindex, ingress_ifindex, wire_len;
	__u32 mark, priority, cb4, gso_segs, gso_size, data_len, meta_len, pad;
	__u64 hwtstamp;
};

struct grow_results {
	__s64 shrink_too_far, pull_too_much, load_oob, store_bad_flags;
	__s64 change_head, change_tail, tail_len;
	__u8 load_buf[4];
};

struct cg_fields_seen {
	__u32 family, local_ip4, remote_ip4, len, first_byte;
};

struct skb_seen tc_seen;
struct grow_results grow;
struct cg_fields_seen cg_seen;

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");

/* Not in swiftbpf_helpers.h (no other fixture uses it). */
static long (* const bpf_skb_change_head)(struct __sk_buff *skb, __u32 head_room, __u64 flags) = (void *) 43;

SEC("tc")
int tc_fields(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	void *data_meta = (void *)(long)skb->data_meta;

	tc_seen.len = skb->len;
	tc_seen.pkt_type = skb->pkt_type;
	tc_seen.protocol = skb->protocol;
	tc_seen.ifindex = skb->ifindex;
	tc_seen.ingress_ifindex = skb->ingress_ifindex;
	tc_seen.wire_len = skb->wire_len;
	tc_seen.mark = skb->mark;
	tc_seen.priority = skb->priority;
	tc_seen.cb4 = skb->cb[4];
	tc_seen.gso_segs = skb->gso_segs;
	tc_seen.gso_size = skb->gso_size;
	tc_seen.hwtstamp = skb->hwtstamp;
	tc_seen.data_len = data_end - data;
	tc_seen.meta_len = data - data_meta;

	skb->tc_index = 7;
	skb->tc_classid = 0x10001;
	skb->queue_mapping = 2;
	skb->tstamp = 12345;
	return TC_ACT_OK;
}

SEC("tc")
int tc_grow(struct __sk_buff *skb)
{
	__u8 buf[4] = { 1, 2, 3, 4 };

	grow.shrink_too_far = bpf_skb_change_tail(skb, 10, 0);
	grow.pull_too_much = bpf_skb_pull_data(skb, skb->len + 1);
	grow.load_oob = bpf_skb_load_bytes(skb, skb->len - 2, buf, 4);
	__builtin_memcpy(grow.load_buf, buf, 4);
	grow.store_bad_flags = bpf_skb_store_bytes(skb, 0, buf, 4, 4);
	grow.change_head = bpf_skb_change_head(skb, 4, 0);
	grow.change_tail = bpf_skb_change_tail(skb, skb->len + 300, 0);

	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (data + 4 > data_end)
		return TC_ACT_SHOT;
	*(__u32 *)data = bpf_htonl(0xc0ffee01);
	grow.tail_len = data_end - data;
	return TC_ACT_OK;
}

SEC("tc")
int tc_write_len(struct __sk_buff *skb)
{
	skb->len = 1;
	return TC_ACT_OK;
}

SEC("tc")
int tc_write_past(struct __sk_buff *skb)
{
	((volatile __u32 *)skb)[50] = 1;
	return TC_ACT_OK;
}

SEC("tc")
int tc_write_data(struct __sk_buff *skb)
{
	skb->data = 0;
	return TC_ACT_OK;
}

SEC("socket")
int socket_cb(struct __sk_buff *skb)
{
	skb->cb[0] = skb->len;
	skb->cb[4] = skb->pkt_type;
	return 0;
}

SEC("socket")
int socket_data(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;

	return data != 0;
}

SEC("socket")
int socket_ldabs(struct __sk_buff *skb)
{
	return load_byte(skb, 9);
}

SEC("cgroup_skb/egress")
int cg_fields(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	cg_seen.family = skb->family;
	cg_seen.local_ip4 = skb->local_ip4;
	cg_seen.remote_ip4 = skb->remote_ip4;
	cg_seen.len = skb->len;
	if (data + 1 <= data_end)
		cg_seen.first_byte = *(__u8 *)data;
	return 1;
}

SEC("cgroup_skb/ingress")
int cg_write_pkt(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (data + 1 > data_end)
		return 0;
	*(__u8 *)data = 0;
	return 1;
}

struct openat_args {
	__u64 header[4];
	__u64 flags;
};

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_write_ctx(struct openat_args *ctx)
{
	ctx->flags = 0;
	return 0;
}

struct sys_args {
	__u32 a;
	__u32 b;
};

SEC("syscall")
int sys_double(struct sys_args *ctx)
{
	ctx->b = ctx->a * 2;
	return ctx->a + 1;
}

SEC("kprobe/do_nanosleep")
int kp_di(__u64 *regs)
{
	return (int)regs[14];
}

char LICENSE[] SEC("license") = "GPL";
