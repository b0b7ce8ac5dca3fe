/* Networking helpers the Swift runtime implements for real datapaths, each compared with the
 * kernel's test run by the differential test:
 *   tc_nat       SEC("tc") rewrites an IPv4/UDP destination address to 10.9.8.7 and fixes the IP
 *                and UDP checksums with bpf_l3_csum_replace and bpf_l4_csum_replace
 *                (BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4); returns TC_ACT_OK.
 *   tc_redirect  SEC("tc") returns bpf_redirect(ifindex 1, 0): TC_ACT_REDIRECT (7).
 *   tc_vlan      SEC("tc") pushes VLAN 100 (802.1Q), pushes VLAN 200 (the first tag moves into
 *                the packet), pops once; returns skb->vlan_tci (200 -> popped: 0) plus the packet
 *                length (grown by 4).
 *   tc_room      SEC("tc") grows 8 bytes of room after the Ethernet header (BPF_ADJ_ROOM_MAC),
 *                writes 0xab there, returns the new length.
 *   tc_type      SEC("tc") bpf_skb_change_type to PACKET_OTHERHOST (3): returns the result and pkt_type.
 *   tc_sk_lookup SEC("tc") looks up a TCP socket for the packet's addresses; releases it when found;
 *                returns 1 when found, 0 when not (no such socket: 0).
 *   xdp_tx_port  SEC("xdp") bpf_redirect_map(&tx_ports, 0, XDP_PASS): XDP_PASS while the devmap
 *                slot is empty, XDP_REDIRECT (4) once user space sets it.
 *   tc_mtu       SEC("tc") bpf_check_mtu on the test run's device, with the packet's length and with
 *                9000 bytes: returns both results and the MTU (result1 * 2 + result2) * 1000000 + mtu.
 *   xdp_mtu      SEC("xdp") the same for XDP.
 *   tc_tunnel    SEC("tc") sets a tunnel key (id 42, remote 10.1.2.3, local 10.4.5.6, ttl 9) and
 *                reads it back, where remote and local trade places (the key describes a received
 *                packet): returns id + 3 * (remote & 0xffff) + (local & 0xffff) + ttl.
 *   xdp_bytes    SEC("xdp") bpf_xdp_load_bytes of the EtherType, bpf_xdp_store_bytes of 0xbeef at
 *                offset 0; returns the EtherType as loaded (network order bytes).
 *   xdp_frags    SEC("xdp.frags") on a packet longer than the first page's 3520 bytes: returns
 *                (data_end - data) << 16 | bpf_xdp_get_buff_len, and copies the byte at 4000 (in a
 *                fragment) plus 1 to 4001 with bpf_xdp_load_bytes/store_bytes.
 */
#include "swiftbpf_helpers.h"

#define BPF_F_PSEUDO_HDR (1ULL << 4)
#define BPF_F_MARK_MANGLED_0 (1ULL << 5)
#define BPF_ADJ_ROOM_MAC 1
#define ETH_P_8021Q 0x8100
#define TC_ACT_REDIRECT 7

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

SEC("tc")
int tc_nat(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + 14;
	if ((void *)(ip + 1) > data_end || ip->protocol != 17)
		return TC_ACT_OK;
	__be32 old = ip->daddr, new = __builtin_bswap32(0x0a090807);
	bpf_l4_csum_replace(skb, 14 + 20 + 6, old, new, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4);
	bpf_l3_csum_replace(skb, 14 + 10, old, new, 4);
	bpf_skb_store_bytes(skb, 14 + 16, &new, 4, 0);
	return TC_ACT_OK;
}

SEC("tc")
int tc_redirect(struct __sk_buff *skb)
{
	return bpf_redirect(1, 0);
}

SEC("tc")
int tc_vlan(struct __sk_buff *skb)
{
	if (bpf_skb_vlan_push(skb, __builtin_bswap16(ETH_P_8021Q), 100))
		return -1;
	if (bpf_skb_vlan_push(skb, __builtin_bswap16(ETH_P_8021Q), 200))
		return -2;
	__u32 tci = skb->vlan_tci;
	if (bpf_skb_vlan_pop(skb))
		return -3;
	return tci + skb->vlan_present * 1000 + skb->len * 10000;
}

SEC("tc")
int tc_room(struct __sk_buff *skb)
{
	if (bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_MAC, 0))
		return -1;
	__u8 mark = 0xab;
	bpf_skb_store_bytes(skb, 14, &mark, 1, 0);
	return skb->len;
}

SEC("tc")
int tc_type(struct __sk_buff *skb)
{
	long r = bpf_skb_change_type(skb, 3);
	return r * 100 + skb->pkt_type;
}

SEC("tc")
int tc_sk_lookup(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + 14;
	if ((void *)(ip + 1) > data_end)
		return TC_ACT_OK;
	struct bpf_sock_tuple tuple = {};
	tuple.saddr = ip->saddr;
	tuple.daddr = ip->daddr;
	tuple.sport = __builtin_bswap16(4242);
	tuple.dport = __builtin_bswap16(4343);
	struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &tuple, 12, -1, 0);
	if (!sk)
		return 0;
	bpf_sk_release(sk);
	return 1;
}

SEC("xdp")
int xdp_tx_port(struct xdp_md *ctx)
{
	return bpf_redirect_map(&tx_ports, 0, XDP_PASS);
}

SEC("tc")
int tc_mtu(struct __sk_buff *skb)
{
	__u32 mtu = 0, big = 9000;
	long a = bpf_check_mtu(skb, 0, &mtu, 0, 0);
	long b = bpf_check_mtu(skb, 0, &big, 0, 0);
	return (a * 2 + b) * 1000000 + mtu;
}

SEC("xdp")
int xdp_mtu(struct xdp_md *ctx)
{
	__u32 mtu = 0, big = 70000;
	long a = bpf_check_mtu(ctx, 0, &mtu, 0, 0);
	long b = bpf_check_mtu(ctx, 0, &big, 0, 0);
	return (a * 2 + b) * 1000000 + (mtu & 0xfffff);
}

SEC("tc")
int tc_tunnel(struct __sk_buff *skb)
{
	struct bpf_tunnel_key key = {};
	key.tunnel_id = 42;
	key.remote_ipv4 = 0x0a010203;
	key.local_ipv4 = 0x0a040506;
	key.tunnel_ttl = 9;
	long r = bpf_skb_set_tunnel_key(skb, &key, sizeof(key), 0);
	if (r)
		return r;
	struct bpf_tunnel_key back = {};
	r = bpf_skb_get_tunnel_key(skb, &back, sizeof(back), 0);
	if (r)
		return r;
	/* What is sent to "remote" comes back as the packet's source: remote and local swap. */
	return back.tunnel_id + (back.remote_ipv4 & 0xffff) * 3 + (back.local_ipv4 & 0xffff) + back.tunnel_ttl;
}

SEC("xdp")
int xdp_bytes(struct xdp_md *ctx)
{
	__u16 type = 0, mark = 0xefbe;
	if (bpf_xdp_load_bytes(ctx, 12, &type, 2))
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 0, &mark, 2))
		return XDP_ABORTED;
	return type;
}

SEC("xdp.frags")
int xdp_frags(struct xdp_md *ctx)
{
	__u8 b = 0;
	__u64 len = bpf_xdp_get_buff_len(ctx);
	if (len > 4001) {
		if (bpf_xdp_load_bytes(ctx, 4000, &b, 1))
			return XDP_ABORTED;
		b += 1;
		if (bpf_xdp_store_bytes(ctx, 4001, &b, 1))
			return XDP_ABORTED;
	}
	return ((ctx->data_end - ctx->data) << 16) | (len & 0xffff);
}

char LICENSE[] SEC("license") = "GPL";
