// SPDX-License-Identifier: GPL-2.0
/*
 * dynptrs.c - dynptrs over a map value and over ringbuf records, run in the Swift runtime and
 * (differential test) in the kernel. All SEC("xdp"), run on Frames.ipv4(length: 60) (a TCP/IPv4
 * frame: byte 23, the IP protocol, is 6; bytes 26..29 the source address 10.0.0.1):
 *
 *   dp_local    a local dynptr over the 32-byte value of `scratch` (key 0): writes packet bytes
 *               26..33 at offset 8, reads them back from offset 8 into `out`, and through a
 *               bpf_dynptr_data slice of 4 bytes at offset 8 adds 1 to the first byte. Returns
 *               the slice's first byte after the add: packet byte 26 + 1 = 11. The value then
 *               holds 11, 0, 0, 1 at offsets 8..11 and packet bytes 30..33 at 12..15.
 *   dp_bounds   reads 8 bytes at offset 28 of the 32-byte local dynptr (-E2BIG, -7), writes with
 *               flags 1 (-EINVAL, -22), asks a slice past the end (NULL), and from_mem with
 *               flags 1 (-EINVAL; the dynptr is then NULL and a read through it is -EINVAL).
 *               Returns the number of expected results: 4.
 *   dp_ringbuf  reserves a 16-byte ringbuf record as a dynptr, writes packet bytes 12..27 into
 *               it, submits it; counts submissions in `count` (key 0). Returns XDP_PASS (2);
 *               the ring then holds one 16-byte record: 08 00 45 00 ... (packet bytes 12..27).
 *   dp_discard  reserves 8 bytes, writes into them through a slice, then discards: returns 2,
 *               the ring holds no record.
 */
#include "swiftbpf_helpers.h"

struct scratch_value {
	__u64 words[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch_value);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} records SEC(".maps");

SEC("xdp")
int dp_local(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	struct scratch_value *v = bpf_map_lookup_elem(&scratch, &key);
	struct bpf_dynptr d;
	__u64 in, out = 0;
	__u8 *slice;

	if (!v || data + 34 > end)
		return 0;
	__builtin_memcpy(&in, data + 26, sizeof(in));
	bpf_dynptr_from_mem(v, sizeof(*v), 0, &d);
	bpf_dynptr_write(&d, 8, &in, sizeof(in), 0);
	bpf_dynptr_read(&out, sizeof(out), &d, 8, 0);
	if (out != in)
		return 1;
	slice = bpf_dynptr_data(&d, 8, 4);
	if (!slice)
		return 2;
	slice[0] += 1;
	slice[3] = 1;
	slice[1] = 0;
	slice[2] = 0;
	return slice[0];
}

SEC("xdp")
int dp_bounds(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct scratch_value *v = bpf_map_lookup_elem(&scratch, &key);
	struct bpf_dynptr d, bad;
	__u64 word = 0;
	int ok = 0;

	if (!v)
		return 0;
	bpf_dynptr_from_mem(v, sizeof(*v), 0, &d);
	if (bpf_dynptr_read(&word, sizeof(word), &d, 28, 0) == -7)
		ok++;
	if (bpf_dynptr_write(&d, 0, &word, sizeof(word), 1) == -22)
		ok++;
	if (!bpf_dynptr_data(&d, 30, 4))
		ok++;
	if (bpf_dynptr_from_mem(v, sizeof(*v), 1, &bad) == -22 && bpf_dynptr_read(&word, sizeof(word), &bad, 0, 0) == -22)
		ok++;
	return ok;
}

SEC("xdp")
int dp_ringbuf(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&count, &key);
	struct bpf_dynptr d;
	__u8 bytes[16];

	if (!n || data + 28 > end)
		return 0;
	__builtin_memcpy(bytes, data + 12, sizeof(bytes));
	if (bpf_ringbuf_reserve_dynptr(&records, sizeof(bytes), 0, &d)) {
		bpf_ringbuf_discard_dynptr(&d, 0);
		return 1;
	}
	bpf_dynptr_write(&d, 0, bytes, sizeof(bytes), 0);
	bpf_ringbuf_submit_dynptr(&d, 0);
	*n += 1;
	return XDP_PASS;
}

SEC("xdp")
int dp_discard(struct xdp_md *ctx)
{
	struct bpf_dynptr d;
	__u64 *p;

	bpf_ringbuf_reserve_dynptr(&records, 8, 0, &d);
	p = bpf_dynptr_data(&d, 0, 8);
	if (p)
		*p = 42;
	bpf_ringbuf_discard_dynptr(&d, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
