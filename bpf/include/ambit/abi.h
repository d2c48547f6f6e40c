/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one ABI shared by Ambit's BPF programs and its C++ user space. Every struct, map name,
 * counter id and drop reason that crosses the kernel boundary is defined here and nowhere else;
 * sizes are asserted on both sides, so a layout drift fails the build instead of corrupting maps.
 *
 * Rules: fixed-width types only, explicit padding, no bitfields, no pointers. Bump
 * AMBIT_ABI_VERSION whenever a pinned map's key/value layout changes: the agent refuses to adopt
 * pins of another version and replaces them.
 */
#ifndef AMBIT_ABI_H
#define AMBIT_ABI_H

#ifdef __BPF__
#include <linux/types.h>
#define AMBIT_STATIC_ASSERT(c, m) _Static_assert(c, m)
#else
#include <linux/types.h>
#ifdef __cplusplus
#define AMBIT_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define AMBIT_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
#endif

#define AMBIT_ABI_VERSION 2

/* ---- constants shared with ztunnel and the agent ---- */

#define AMBIT_ZTUNNEL_MARK 0x539 /* SO_MARK of every socket ztunnel opens in a pod */
/* SO_MARK of ztunnel's inbound delivery sockets, those that connect to the app from the client's
 * address (IP_TRANSPARENT). The app's accepted socket inherits it (tcp_fwmark_accept=1 in the
 * pod), and the pod's rule "fwmark 0x111/0xfff lookup 100" routes its replies to the local
 * ztunnel socket instead of out of the pod. Not 0x539: that rule would also turn ztunnel's
 * outbound sockets back into the pod. Capture skips it like 0x539. */
#define AMBIT_DELIVERY_MARK 0x111
#define AMBIT_REPLY_TABLE 100
#define AMBIT_REPLY_RULE_PREF 32764
#define AMBIT_PORT_OUTBOUND 15001
#define AMBIT_PORT_INBOUND_PLAINTEXT 15006
#define AMBIT_PORT_HBONE 15008
#define AMBIT_SO_ORIGINAL_DST 80 /* SOL_IP / SOL_IPV6 (IP6T_SO_ORIGINAL_DST) */
/* The source address of connections the node itself opens to its enrolled pods (kubelet's
 * probes): Istio's link-local probe address, so Istio's in-pod rules and Ambit's tc program agree.
 * Host order. */
#define AMBIT_PROBE_SRC4 0xA9FE077Fu /* 169.254.7.127 */
/* Its IPv6 counterpart, Istio's fd16:9254:7127:1337:ffff:ffff:ffff:ffff, as four host-order words:
 * the node's IPv6 connects to enrolled pods leave from it. */
#define AMBIT_PROBE_SRC6_0 0xFD169254u
#define AMBIT_PROBE_SRC6_1 0x71271337u
#define AMBIT_PROBE_SRC6_2 0xFFFFFFFFu
#define AMBIT_PROBE_SRC6_3 0xFFFFFFFFu

#define AMBIT_MAX_PODS 4096
#define AMBIT_MAX_ORIG 262144
#define AMBIT_MAX_EXCLUDED 256

/* Pin names under /sys/fs/bpf/ambit/<node>/ (maps survive the agent; see agent/bpf_loader.h). */
#define AMBIT_PIN_PODS "map_pods"
#define AMBIT_PIN_POD_IPS "map_pod_ips"
#define AMBIT_PIN_ORIG "map_orig"
#define AMBIT_PIN_SK_ORIG "map_sk_orig"
#define AMBIT_PIN_STATS "map_stats"
#define AMBIT_PIN_META "map_meta"
#define AMBIT_PIN_EXCL_PORTS "map_excl_ports"
#define AMBIT_PIN_NODE "map_node"

/* ---- capture ---- */

enum ambit_pod_flags {
	AMBIT_POD_ENROLLED = 1 << 0,
};

/* ambit_pods[netns cookie] — written by the agent when a pod is enrolled. The cgroup hooks find
 * the pod by the kernel's netns cookie, which nothing inside the pod can forge. */
struct ambit_pod {
	__u32 flags;
	__u32 ip4;      /* pod IPv4, network order; 0 if none */
	__u8 ip6[16];   /* pod IPv6; all zero if none */
	__u32 _reserved;
	__u32 _pad;
};

/* ambit_pod_ips[address] — the same pods by address, for the tc ingress program (no netns
 * cookie there). Key: 16 bytes, IPv4 as ::ffff:a.b.c.d. */
struct ambit_ip_key {
	__u8 addr[16];
};

struct ambit_pod_ip {
	__u32 flags;
	__u32 _reserved;
};

/* ambit_node[0] — the node this datapath serves, written by the agent at start. Connects from
 * the node's own network namespace to an enrolled pod are bound to AMBIT_PROBE_SRC4, and only
 * that source bypasses inbound capture: traffic the node merely forwards (NodePort/LoadBalancer
 * masqueraded to the node's address) is captured like any other. */
struct ambit_node {
	__u64 netns_cookie; /* the node's (host) network namespace; 0 = not set, nothing is bound */
	__u64 _reserved;
};

/* An original destination. */
struct ambit_addr {
	__u8 addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	__u16 port;    /* network order */
	__u16 family;  /* AF_INET / AF_INET6 */
	__u32 flags;   /* enum ambit_orig_flags; was padding, so the layout is unchanged */
};

enum ambit_orig_flags {
	/* Set in the app socket's storage once sockops filed its record in ambit_orig: a record that
	 * is missing when the socket closes was evicted by the LRU (nothing else removes it). */
	AMBIT_ORIG_F_RECORDED = 1 << 0,
};

/* ambit_orig[key] — the app socket's local address (= ztunnel's accepted peer) in a netns →
 * where the app wanted to go. Written at ACTIVE_ESTABLISHED, deleted when the socket closes. */
struct ambit_orig_key {
	__u64 netns_cookie;
	__u8 addr[16];
	__u16 port; /* network order */
	__u16 family;
	__u32 _pad;
};

/* Per-CPU counters, indexed by this enum; the agent sums them into metrics. Appending one needs
 * no ABI bump: an agent finding a pinned stats map of another size replaces it (counters restart,
 * enrollment stays). Never renumber. */
enum ambit_stat {
	AMBIT_STAT_CAPTURED = 0,         /* connect() rewritten to 15001 */
	AMBIT_STAT_SKIP_MARK = 1,        /* ztunnel's own socket */
	AMBIT_STAT_SKIP_LOOPBACK = 2,
	AMBIT_STAT_SKIP_SELF = 3,        /* to the pod's own address */
	AMBIT_STAT_SKIP_EXCLUDED = 4,    /* excluded port */
	AMBIT_STAT_SKIP_NOT_TCP = 5,
	AMBIT_STAT_ORIG_RECORDED = 6,
	AMBIT_STAT_ORIG_DELETED = 7,
	AMBIT_STAT_ORIG_ANSWERED = 8,    /* SO_ORIGINAL_DST answered */
	AMBIT_STAT_PEER_RESTORED = 9,    /* getpeername rewritten */
	AMBIT_STAT_INBOUND_STEERED = 10, /* SYN assigned to 15006 */
	AMBIT_STAT_INBOUND_PROBE = 11,   /* SYN from the probe address: untouched */
	AMBIT_STAT_DROP_NO_LISTENER = 12, /* enrolled pod, no ztunnel listener: fail closed */
	AMBIT_STAT_ERR_STORAGE = 13,     /* could not allocate socket storage */
	AMBIT_STAT_ERR_MAP_FULL = 14,
	AMBIT_STAT_PROBE_BOUND = 15,     /* node connect to an enrolled pod bound to the probe address */
	AMBIT_STAT_ERR_PROBE_BIND = 16,  /* ... and the bind failed (address missing on the node) */
	AMBIT_STAT_ORIG_EVICTED = 17,    /* a live socket's ambit_orig record was evicted (seen at close) */
	AMBIT_STAT_RAW_REFUSED = 18,     /* raw socket or IP_HDRINCL refused in an enrolled pod */
	AMBIT_STAT_MAX = 19,
};

/* ambit_meta[0]: what layout the pinned maps have. The agent refuses to adopt other layouts. */
struct ambit_meta {
	__u32 abi_version;
	__u32 layout; /* sizes of the structs above, folded; see AMBIT_LAYOUT */
};

#define AMBIT_LAYOUT ((__u32)(sizeof(struct ambit_pod) | sizeof(struct ambit_addr) << 8 | \
			      sizeof(struct ambit_orig_key) << 16 | sizeof(struct ambit_pod_ip) << 24))

AMBIT_STATIC_ASSERT(sizeof(struct ambit_pod) == 32, "ambit_pod layout");
AMBIT_STATIC_ASSERT(sizeof(struct ambit_ip_key) == 16, "ambit_ip_key layout");
AMBIT_STATIC_ASSERT(sizeof(struct ambit_pod_ip) == 8, "ambit_pod_ip layout");
AMBIT_STATIC_ASSERT(sizeof(struct ambit_addr) == 24, "ambit_addr layout");
AMBIT_STATIC_ASSERT(sizeof(struct ambit_orig_key) == 32, "ambit_orig_key layout");
AMBIT_STATIC_ASSERT(sizeof(struct ambit_meta) == 8, "ambit_meta layout");
AMBIT_STATIC_ASSERT(sizeof(struct ambit_node) == 16, "ambit_node layout");

/* ---- hello: the trivial program that proves the bpf_object() build path ---- */

enum ambit_hello_stat {
	AMBIT_HELLO_PACKETS = 0,
	AMBIT_HELLO_IPV4 = 1,
	AMBIT_HELLO_IPV6 = 2,
	AMBIT_HELLO_OTHER = 3,
	AMBIT_HELLO_STAT_MAX = 4,
};

#endif /* AMBIT_ABI_H */
