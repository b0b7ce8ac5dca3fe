#include "swiftbpf_helpers.h"

const volatile __u32 min_len = 0;          /* a constant: set from Swift before loading */
__u64 packets;                             /* .bss: read from Swift while it runs */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} by_len SEC(".maps");

SEC("xdp")
int count(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u64 one = 1, *n;

	if (len < min_len)
		return XDP_PASS;
	packets++;
	n = bpf_map_lookup_elem(&by_len, &len);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&by_len, &len, &one, BPF_NOEXIST);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
