/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * swiftbpf_helpers.h - the one header SwiftBPF's eBPF C fixtures and examples
 * include. It is deliberately self-contained: no system or kernel header is
 * pulled in, so the fixtures build with nothing but a BPF-capable clang
 * (`clang -O2 -g -target bpf -mcpu=v3 -I include -c file.c`).
 *
 * Numeric values (map types, helper ids, action codes) and the layouts of the
 * context structs follow the Linux UAPI ABI; the static asserts near the end
 * of the file pin the struct offsets so a typo fails the build.
 */
#ifndef SWIFTBPF_HELPERS_H
#define SWIFTBPF_HELPERS_H

/* ------------------------------------------------------------------------ */
/* Fixed-width types                                                        */
/* ------------------------------------------------------------------------ */

typedef unsigned char      __u8;
typedef signed char        __s8;
typedef unsigned short     __u16;
typedef signed short       __s16;
typedef unsigned int       __u32;
typedef signed int         __s32;
typedef unsigned long long __u64;
typedef signed long long   __s64;

/* Big-endian ("network order") and checksum flavours; plain integers to C. */
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef __u16 __sum16;
typedef __u32 __wsum;

#ifndef NULL
#define NULL ((void *)0)
#endif

/* ------------------------------------------------------------------------ */
/* Attributes and BTF map-definition macros                                 */
/* ------------------------------------------------------------------------ */

/* Place a symbol in the named ELF section; the loader reads the program type
 * from the section name of every function placed this way. */
#define SEC(name) __attribute__((section(name), used))

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
#define __weak __attribute__((weak))

/*
 * BTF-defined maps: a map is a global struct in section ".maps" whose members
 * carry the parameters in their *types*, which the loader reads back from BTF:
 *   __uint(f, N)   an int (*f)[N]      -> the number N
 *   __type(f, T)   a  T *f            -> the type T (its BTF id and size)
 *   __array(f, T)  a  T *f[]          -> map-in-map / prog-array slot type;
 *                                        an initializer fills the slots.
 */
#define __uint(name, val)  int (*name)[val]
#define __type(name, val)  typeof(val) *name
#define __array(name, val) typeof(val) *name[]

/* ------------------------------------------------------------------------ */
/* enum bpf_map_type values (UAPI numbering)                                */
/* ------------------------------------------------------------------------ */

#define BPF_MAP_TYPE_UNSPEC           0
#define BPF_MAP_TYPE_HASH             1
#define BPF_MAP_TYPE_ARRAY            2
#define BPF_MAP_TYPE_PROG_ARRAY       3
#define BPF_MAP_TYPE_PERF_EVENT_ARRAY 4
#define BPF_MAP_TYPE_PERCPU_HASH      5
#define BPF_MAP_TYPE_PERCPU_ARRAY     6
#define BPF_MAP_TYPE_STACK_TRACE      7
#define BPF_MAP_TYPE_CGROUP_ARRAY     8
#define BPF_MAP_TYPE_LRU_HASH         9
#define BPF_MAP_TYPE_LRU_PERCPU_HASH  10
#define BPF_MAP_TYPE_LPM_TRIE         11
#define BPF_MAP_TYPE_ARRAY_OF_MAPS    12
#define BPF_MAP_TYPE_HASH_OF_MAPS     13
#define BPF_MAP_TYPE_DEVMAP           14
#define BPF_MAP_TYPE_DEVMAP_HASH      25
#define BPF_MAP_TYPE_SOCKMAP          15
#define BPF_MAP_TYPE_CPUMAP           16
#define BPF_MAP_TYPE_XSKMAP           17
#define BPF_MAP_TYPE_SOCKHASH         18
#define BPF_MAP_TYPE_QUEUE            22
#define BPF_MAP_TYPE_STACK            23
#define BPF_MAP_TYPE_RINGBUF          27
#define BPF_MAP_TYPE_BLOOM_FILTER     30

/* Map creation flags used by the fixtures. */
#define BPF_F_NO_PREALLOC (1U << 0)   /* required for LPM_TRIE */
#define BPF_F_RDONLY_PROG (1U << 7)
#define BPF_F_MMAPABLE    (1U << 10)

/* Flags for bpf_map_update_elem(). */
#define BPF_ANY     0ULL   /* create or replace */
#define BPF_NOEXIST 1ULL   /* create only */
#define BPF_EXIST   2ULL   /* replace only */
#define BPF_F_LOCK  4ULL   /* take the value's bpf_spin_lock while copying */

/* Flags for bpf_perf_event_output(): write to the current CPU's ring. */
#define BPF_F_INDEX_MASK  0xffffffffULL
#define BPF_F_CURRENT_CPU BPF_F_INDEX_MASK

/* Flags for bpf_ringbuf_submit/discard/output. */
#define BPF_RB_NO_WAKEUP    (1ULL << 0)
#define BPF_RB_FORCE_WAKEUP (1ULL << 1)

/* Flags for bpf_skb_store_bytes(). */
#define BPF_F_RECOMPUTE_CSUM  (1ULL << 0)
#define BPF_F_INVALIDATE_HASH (1ULL << 1)

/* ------------------------------------------------------------------------ */
/* Program return codes                                                     */
/* ------------------------------------------------------------------------ */

/* enum xdp_action */
#define XDP_ABORTED  0
#define XDP_DROP     1
#define XDP_PASS     2
#define XDP_TX       3
#define XDP_REDIRECT 4

/* tc actions (include/uapi/linux/pkt_cls.h) */
#define TC_ACT_UNSPEC     (-1)
#define TC_ACT_OK         0
#define TC_ACT_RECLASSIFY 1
#define TC_ACT_SHOT       2
#define TC_ACT_PIPE       3
#define TC_ACT_STOLEN     4
#define TC_ACT_QUEUED     5
#define TC_ACT_REPEAT     6
#define TC_ACT_REDIRECT   7
#define TC_ACT_TRAP       8

/* ------------------------------------------------------------------------ */
/* Program contexts                                                         */
/* ------------------------------------------------------------------------ */

/* A pointer member that occupies 8 bytes whatever the pointer width, the way
 * the UAPI declares pointer fields of context structs. */
#define __bpf_md_ptr(type, name) \
	union {                  \
		type name;       \
		__u64 : 64;      \
	} __attribute__((aligned(8)))

struct bpf_flow_keys;
struct bpf_sock;
/* The UAPI's struct bpf_tunnel_key (44 bytes), IPv4 view. */
struct bpf_tunnel_key {
	__u32 tunnel_id;
	__u32 remote_ipv4;
	__u32 remote_ipv6_rest[3];
	__u8 tunnel_tos;
	__u8 tunnel_ttl;
	__u16 tunnel_ext;
	__u32 tunnel_label;
	__u32 local_ipv4;
	__u32 local_ipv6_rest[3];
};
/* The IPv4 half of the UAPI's struct bpf_sock_tuple (addresses and ports, network order). */
struct bpf_sock_tuple {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 ipv6_rest[24];
};

/* Context of XDP programs. The loader-visible layout is 6 x __u32. */
struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

/* Context of socket filter, tc, cgroup_skb and similar programs. Note that
 * data, data_end and data_meta are 32-bit fields in the UAPI (the verifier
 * rewrites the loads); only flow_keys and sk are 8-byte pointer slots. */
struct __sk_buff {
	__u32 len;               /*   0 */
	__u32 pkt_type;          /*   4 */
	__u32 mark;              /*   8 */
	__u32 queue_mapping;     /*  12 */
	__u32 protocol;          /*  16, network byte order */
	__u32 vlan_present;      /*  20 */
	__u32 vlan_tci;          /*  24 */
	__u32 vlan_proto;        /*  28 */
	__u32 priority;          /*  32 */
	__u32 ingress_ifindex;   /*  36 */
	__u32 ifindex;           /*  40 */
	__u32 tc_index;          /*  44 */
	__u32 cb[5];             /*  48 */
	__u32 hash;              /*  68 */
	__u32 tc_classid;        /*  72 */
	__u32 data;              /*  76 */
	__u32 data_end;          /*  80 */
	__u32 napi_id;           /*  84 */
	__u32 family;            /*  88 */
	__u32 remote_ip4;        /*  92, network byte order */
	__u32 local_ip4;         /*  96, network byte order */
	__u32 remote_ip6[4];     /* 100, network byte order */
	__u32 local_ip6[4];      /* 116, network byte order */
	__u32 remote_port;       /* 132, network byte order */
	__u32 local_port;        /* 136, host byte order */
	__u32 data_meta;         /* 140 */
	__bpf_md_ptr(struct bpf_flow_keys *, flow_keys); /* 144 */
	__u64 tstamp;            /* 152 */
	__u32 wire_len;          /* 160 */
	__u32 gso_segs;          /* 164 */
	__bpf_md_ptr(struct bpf_sock *, sk);             /* 168 */
	__u32 gso_size;          /* 176 */
	__u8  tstamp_type;       /* 180 */
	__u32 : 24;              /* 181..183 reserved */
	__u64 hwtstamp;          /* 184 */
};                               /* size 192 */

/* Lock word embedded in a map value; only bpf_spin_lock/unlock touch it. */
struct bpf_spin_lock {
	__u32 val;
};

/* ------------------------------------------------------------------------ */
/* Helper functions                                                         */
/*                                                                          */
/* A helper is called by number: each declaration below is a constant       */
/* function pointer whose value is the helper id from the kernel's          */
/* enum bpf_func_id, which clang turns into a `call ID` instruction.        */
/* ------------------------------------------------------------------------ */

static void *(* const bpf_map_lookup_elem)(void *map, const void *key) = (void *) 1;
static long (* const bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *) 2;
static long (* const bpf_map_delete_elem)(void *map, const void *key) = (void *) 3;
static long (* const bpf_probe_read)(void *dst, __u32 size, const void *unsafe_ptr) = (void *) 4;
static __u64 (* const bpf_ktime_get_ns)(void) = (void *) 5;
static long (* const bpf_trace_printk)(const char *fmt, __u32 fmt_size, ...) = (void *) 6;
static __u32 (* const bpf_get_prandom_u32)(void) = (void *) 7;
static __u32 (* const bpf_get_smp_processor_id)(void) = (void *) 8;
static long (* const bpf_skb_store_bytes)(struct __sk_buff *skb, __u32 offset, const void *from, __u32 len, __u64 flags) = (void *) 9;
static long (* const bpf_l3_csum_replace)(struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to, __u64 size) = (void *) 10;
static long (* const bpf_l4_csum_replace)(struct __sk_buff *skb, __u32 offset, __u64 from, __u64 to, __u64 flags) = (void *) 11;
static long (* const bpf_tail_call)(void *ctx, void *prog_array_map, __u32 index) = (void *) 12;
static long (* const bpf_clone_redirect)(struct __sk_buff *skb, __u32 ifindex, __u64 flags) = (void *) 13;
static long (* const bpf_skb_vlan_push)(struct __sk_buff *skb, __be16 vlan_proto, __u16 vlan_tci) = (void *) 18;
static long (* const bpf_skb_vlan_pop)(struct __sk_buff *skb) = (void *) 19;
static long (* const bpf_skb_get_tunnel_key)(struct __sk_buff *skb, struct bpf_tunnel_key *key, __u32 size, __u64 flags) = (void *) 20;
static long (* const bpf_skb_set_tunnel_key)(struct __sk_buff *skb, struct bpf_tunnel_key *key, __u32 size, __u64 flags) = (void *) 21;
static long (* const bpf_redirect)(__u32 ifindex, __u64 flags) = (void *) 23;
static long (* const bpf_skb_change_type)(struct __sk_buff *skb, __u32 type) = (void *) 32;
static long (* const bpf_skb_adjust_room)(struct __sk_buff *skb, __s32 len_diff, __u32 mode, __u64 flags) = (void *) 50;
static long (* const bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *) 51;
static struct bpf_sock *(* const bpf_sk_lookup_tcp)(void *ctx, struct bpf_sock_tuple *tuple, __u32 tuple_size, __u64 netns, __u64 flags) = (void *) 84;
static long (* const bpf_sk_release)(void *sock) = (void *) 86;
static long (* const bpf_check_mtu)(void *ctx, __u32 ifindex, __u32 *mtu_len, __s32 len_diff, __u64 flags) = (void *) 163;
static __u64 (* const bpf_xdp_get_buff_len)(struct xdp_md *xdp_md) = (void *) 188;
static long (* const bpf_xdp_load_bytes)(struct xdp_md *xdp_md, __u32 offset, void *buf, __u32 len) = (void *) 189;
static long (* const bpf_xdp_store_bytes)(struct xdp_md *xdp_md, __u32 offset, void *buf, __u32 len) = (void *) 190;
static __u64 (* const bpf_get_current_pid_tgid)(void) = (void *) 14;
static __u64 (* const bpf_get_current_uid_gid)(void) = (void *) 15;
static long (* const bpf_get_current_comm)(void *buf, __u32 size_of_buf) = (void *) 16;
static long (* const bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data, __u64 size) = (void *) 25;
static long (* const bpf_skb_load_bytes)(const void *skb, __u32 offset, void *to, __u32 len) = (void *) 26;
static __s64 (* const bpf_csum_diff)(__be32 *from, __u32 from_size, __be32 *to, __u32 to_size, __wsum seed) = (void *) 28;
static long (* const bpf_skb_change_tail)(struct __sk_buff *skb, __u32 len, __u64 flags) = (void *) 38;
static long (* const bpf_skb_pull_data)(struct __sk_buff *skb, __u32 len) = (void *) 39;
static long (* const bpf_get_numa_node_id)(void) = (void *) 42;
static long (* const bpf_xdp_adjust_head)(struct xdp_md *xdp_md, int delta) = (void *) 44;
static long (* const bpf_probe_read_str)(void *dst, __u32 size, const void *unsafe_ptr) = (void *) 45;
static long (* const bpf_xdp_adjust_meta)(struct xdp_md *xdp_md, int delta) = (void *) 54;
static long (* const bpf_xdp_adjust_tail)(struct xdp_md *xdp_md, int delta) = (void *) 65;
static long (* const bpf_map_push_elem)(void *map, const void *value, __u64 flags) = (void *) 87;
static long (* const bpf_map_pop_elem)(void *map, void *value) = (void *) 88;
static long (* const bpf_map_peek_elem)(void *map, void *value) = (void *) 89;
static long (* const bpf_spin_lock)(struct bpf_spin_lock *lock) = (void *) 93;
static long (* const bpf_spin_unlock)(struct bpf_spin_lock *lock) = (void *) 94;
static long (* const bpf_strtol)(const char *buf, unsigned long buf_len, __u64 flags, long *res) = (void *) 105;
static long (* const bpf_strtoul)(const char *buf, unsigned long buf_len, __u64 flags, unsigned long *res) = (void *) 106;
static long (* const bpf_probe_read_user)(void *dst, __u32 size, const void *unsafe_ptr) = (void *) 112;
static long (* const bpf_probe_read_kernel)(void *dst, __u32 size, const void *unsafe_ptr) = (void *) 113;
static long (* const bpf_probe_read_user_str)(void *dst, __u32 size, const void *unsafe_ptr) = (void *) 114;
static long (* const bpf_probe_read_kernel_str)(void *dst, __u32 size, const void *unsafe_ptr) = (void *) 115;
static __u64 (* const bpf_jiffies64)(void) = (void *) 118;
static __u64 (* const bpf_ktime_get_boot_ns)(void) = (void *) 125;
static long (* const bpf_ringbuf_output)(void *ringbuf, void *data, __u64 size, __u64 flags) = (void *) 130;
static void *(* const bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *) 131;
static void (* const bpf_ringbuf_submit)(void *data, __u64 flags) = (void *) 132;
static void (* const bpf_ringbuf_discard)(void *data, __u64 flags) = (void *) 133;
static __u64 (* const bpf_ringbuf_query)(void *ringbuf, __u64 flags) = (void *) 134;

/* Dynptrs: a struct bpf_dynptr (16 opaque bytes on the stack) describes memory. */
struct bpf_dynptr {
	__u64 __opaque[2];
} __attribute__((aligned(8)));
static long (* const bpf_dynptr_from_mem)(void *data, __u32 size, __u64 flags, struct bpf_dynptr *ptr) = (void *) 197;
static long (* const bpf_ringbuf_reserve_dynptr)(void *ringbuf, __u32 size, __u64 flags, struct bpf_dynptr *ptr) = (void *) 198;
static void (* const bpf_ringbuf_submit_dynptr)(struct bpf_dynptr *ptr, __u64 flags) = (void *) 199;
static void (* const bpf_ringbuf_discard_dynptr)(struct bpf_dynptr *ptr, __u64 flags) = (void *) 200;
static long (* const bpf_dynptr_read)(void *dst, __u32 len, const struct bpf_dynptr *src, __u32 offset, __u64 flags) = (void *) 201;
static long (* const bpf_dynptr_write)(const struct bpf_dynptr *dst, __u32 offset, void *src, __u32 len, __u64 flags) = (void *) 202;
static void *(* const bpf_dynptr_data)(const struct bpf_dynptr *ptr, __u32 offset, __u32 len) = (void *) 203;
static __u64 (* const bpf_ktime_get_coarse_ns)(void) = (void *) 160;
static long (* const bpf_for_each_map_elem)(void *map, void *callback_fn, void *callback_ctx, __u64 flags) = (void *) 164;
static long (* const bpf_snprintf)(char *str, __u32 str_size, const char *fmt, __u64 *data, __u32 data_len) = (void *) 165;
static long (* const bpf_loop)(__u32 nr_loops, void *callback_fn, void *callback_ctx, __u64 flags) = (void *) 181;
static long (* const bpf_strncmp)(const char *s1, __u32 s1_sz, const char *s2) = (void *) 182;

/* bpf_ringbuf_query() selectors. */
#define BPF_RB_AVAIL_DATA 0
#define BPF_RB_RING_SIZE  1
#define BPF_RB_CONS_POS   2
#define BPF_RB_PROD_POS   3

/*
 * bpf_printk("fmt", args...): copy the format into a char array on the BPF
 * stack and hand it to bpf_trace_printk (which takes at most three arguments).
 * Output appears in /sys/kernel/tracing/trace_pipe.
 */
#define bpf_printk(fmt, ...)                                              \
	({                                                                \
		char __swiftbpf_fmt[] = fmt;                              \
		bpf_trace_printk(__swiftbpf_fmt, sizeof(__swiftbpf_fmt),  \
				 ##__VA_ARGS__);                          \
	})

/* ------------------------------------------------------------------------ */
/* Byte order                                                               */
/* ------------------------------------------------------------------------ */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define bpf_htons(x) ((__be16)(x))
#define bpf_ntohs(x) ((__u16)(x))
#define bpf_htonl(x) ((__be32)(x))
#define bpf_ntohl(x) ((__u32)(x))
#else
#define bpf_htons(x) ((__be16)__builtin_bswap16((__u16)(x)))
#define bpf_ntohs(x) ((__u16)__builtin_bswap16((__u16)(x)))
#define bpf_htonl(x) ((__be32)__builtin_bswap32((__u32)(x)))
#define bpf_ntohl(x) ((__u32)__builtin_bswap32((__u32)(x)))
#endif

/* ------------------------------------------------------------------------ */
/* Packet headers                                                           */
/* ------------------------------------------------------------------------ */

#define ETH_ALEN    6
#define ETH_HLEN    14
#define ETH_P_IP    0x0800
#define ETH_P_ARP   0x0806
#define ETH_P_8021Q 0x8100
#define ETH_P_IPV6  0x86DD

#define IPPROTO_ICMP 1
#define IPPROTO_TCP  6
#define IPPROTO_UDP  17

struct ethhdr {
	unsigned char h_dest[ETH_ALEN];
	unsigned char h_source[ETH_ALEN];
	__be16        h_proto;
} __attribute__((packed));

struct iphdr {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	__u8 version : 4, ihl : 4;
#else
	__u8 ihl : 4, version : 4;
#endif
	__u8    tos;
	__be16  tot_len;
	__be16  id;
	__be16  frag_off;
	__u8    ttl;
	__u8    protocol;
	__sum16 check;
	__be32  saddr;
	__be32  daddr;
};

struct udphdr {
	__be16  source;
	__be16  dest;
	__be16  len;
	__sum16 check;
};

/* The fixed 20-byte TCP header; flags are kept as one 16-bit word
 * (data offset in the top 4 bits of its first byte) to stay endian-neutral. */
struct tcphdr {
	__be16  source;
	__be16  dest;
	__be32  seq;
	__be32  ack_seq;
	__be16  doff_flags;
	__be16  window;
	__sum16 check;
	__be16  urg_ptr;
};

#define TCP_FLAG_FIN 0x0001
#define TCP_FLAG_SYN 0x0002
#define TCP_FLAG_RST 0x0004
#define TCP_FLAG_PSH 0x0008
#define TCP_FLAG_ACK 0x0010

struct icmphdr_min {
	__u8    type;
	__u8    code;
	__sum16 checksum;
	__be32  rest;
};

/* ------------------------------------------------------------------------ */
/* Layout checks                                                            */
/* ------------------------------------------------------------------------ */

#define __swiftbpf_assert_off(T, f, off) \
	_Static_assert(__builtin_offsetof(T, f) == (off), #T "." #f " offset")

_Static_assert(sizeof(struct xdp_md) == 24, "xdp_md size");
__swiftbpf_assert_off(struct xdp_md, egress_ifindex, 20);
__swiftbpf_assert_off(struct __sk_buff, cb, 48);
__swiftbpf_assert_off(struct __sk_buff, data, 76);
__swiftbpf_assert_off(struct __sk_buff, data_end, 80);
__swiftbpf_assert_off(struct __sk_buff, local_port, 136);
__swiftbpf_assert_off(struct __sk_buff, data_meta, 140);
__swiftbpf_assert_off(struct __sk_buff, flow_keys, 144);
__swiftbpf_assert_off(struct __sk_buff, tstamp, 152);
__swiftbpf_assert_off(struct __sk_buff, wire_len, 160);
__swiftbpf_assert_off(struct __sk_buff, gso_segs, 164);
__swiftbpf_assert_off(struct __sk_buff, sk, 168);
__swiftbpf_assert_off(struct __sk_buff, gso_size, 176);
__swiftbpf_assert_off(struct __sk_buff, tstamp_type, 180);
__swiftbpf_assert_off(struct __sk_buff, hwtstamp, 184);
_Static_assert(sizeof(struct __sk_buff) == 192, "__sk_buff size");
_Static_assert(sizeof(struct ethhdr) == 14, "ethhdr size");
_Static_assert(sizeof(struct iphdr) == 20, "iphdr size");
_Static_assert(sizeof(struct udphdr) == 8, "udphdr size");
_Static_assert(sizeof(struct tcphdr) == 20, "tcphdr size");

#endif /* SWIFTBPF_HELPERS_H */
