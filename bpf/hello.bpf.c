// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A trivial tc classifier that counts packets by L3 protocol. It exists to prove the build path:
 * clang -target bpf -> .bpf.o -> bpftool gen skeleton -> loaded and run by a test with
 * BPF_PROG_TEST_RUN. It is never attached in production.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ambit/abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AMBIT_HELLO_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} hello_stats SEC(".maps");

static __always_inline void count(__u32 id)
{
	__u64 *v = bpf_map_lookup_elem(&hello_stats, &id);
	if (v)
		*v += 1;
}

SEC("tc")
int hello_count(struct __sk_buff *skb)
{
	count(AMBIT_HELLO_PACKETS);
	switch (bpf_ntohs(skb->protocol)) {
	case ETH_P_IP:
		count(AMBIT_HELLO_IPV4);
		break;
	case ETH_P_IPV6:
		count(AMBIT_HELLO_IPV6);
		break;
	default:
		count(AMBIT_HELLO_OTHER);
	}
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
