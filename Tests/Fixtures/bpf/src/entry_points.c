/* Entry points that no section names a type for, and a static function inside a program's
 * section:
 *   classify     a global function in .text (no SEC): an entry point when named with a type
 *                (--type sched_cls): TC_ACT_SHOT (2) for packets over 100 bytes, else TC_ACT_OK.
 *   tail_stage   SEC("2/1"), an iproute2-style tail-call section that names no type: it takes
 *                the type of the object's entry program (with_static: sched_cls), as iproute2
 *                loads it; returns TC_ACT_SHOT when skb->mark is 7, else TC_ACT_OK.
 *   with_static  SEC("tc") calls half_len, a static function placed in the same section (as
 *                clang's outlined <name>.cold.N parts are): returns skb->len / 2. half_len is a
 *                piece of with_static, not a program of its own.
 */
#include "swiftbpf_helpers.h"

__attribute__((noinline)) int classify(struct __sk_buff *skb)
{
	return skb->len > 100 ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("2/1")
int tail_stage(struct __sk_buff *skb)
{
	return skb->mark == 7 ? TC_ACT_SHOT : TC_ACT_OK;
}

static __attribute__((noinline, section("tc"))) int half_len(struct __sk_buff *skb)
{
	return skb->len / 2;
}

SEC("tc")
int with_static(struct __sk_buff *skb)
{
	return half_len(skb) + classify(skb) * 0;
}

char LICENSE[] SEC("license") = "GPL";
