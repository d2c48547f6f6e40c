// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Ambit's traffic capture: every program the node agent loads, in one object so they share maps.
 *
 *   cgroup/connect4, connect6  enrolled pods' TCP connects → ztunnel's 15001 in the same netns
 *                              (IPv4, IPv4-mapped and native IPv6 destinations); the original
 *                              destination goes into socket-local storage
 *   sockops                    at ACTIVE_ESTABLISHED, files that destination under
 *                              (netns cookie, app socket's local address) for ztunnel; removes
 *                              it when the socket reaches TCP_CLOSE (no leak under churn)
 *   cgroup/getsockopt          answers SO_ORIGINAL_DST for ztunnel's accepted socket, so ztunnel
 *                              works unchanged under iptables or eBPF capture
 *   cgroup/getpeername4/6      the app sees its original peer, not 15001
 *                              connects from the node itself to an enrolled pod are bound to
 *                              the probe address (169.254.7.127, or Istio's IPv6 one), the
 *                              one source inbound steering lets through
 *   cgroup/sock_create         refuses raw sockets that could carry TCP (IPPROTO_TCP, IPPROTO_RAW)
 *                              in enrolled pods: their packets never pass connect()
 *   cgroup/setsockopt          refuses IP_HDRINCL/IPV6_HDRINCL in enrolled pods, which would turn
 *                              any other raw socket (ICMP, UDP) into one that writes TCP
 *   tc ingress (per pod)       steers SYNs (IPv4 and IPv6) to an enrolled pod's ports onto
 *                              ztunnel's 15006 listener with bpf_sk_assign — no NAT, no
 *                              conntrack; the accepted socket's local address *is* the original
 *                              destination
 *
 * Pods are found by the kernel's netns cookie (cgroup hooks) or by their address (tc), in maps
 * only the agent writes: nothing a process inside a pod can do enrolls or releases it.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/socket.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ambit/abi.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#define SOL_IP 0
#define SOL_IPV6 41
#define SOCK_STREAM 1
#define SOCK_RAW 3
#define IP_HDRINCL 3
#define IPV6_HDRINCL 36

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_PODS);
	__type(key, __u64);
	__type(value, struct ambit_pod);
} ambit_pods SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_PODS * 2);
	__type(key, struct ambit_ip_key);
	__type(value, struct ambit_pod_ip);
} ambit_pod_ips SEC(".maps");

/* LRU as a backstop only: entries are deleted at TCP_CLOSE. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AMBIT_MAX_ORIG);
	__type(key, struct ambit_orig_key);
	__type(value, struct ambit_addr);
} ambit_orig SEC(".maps");

/* Freed by the kernel with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ambit_addr);
} ambit_sk_orig SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AMBIT_MAX_EXCLUDED);
	__type(key, __u16); /* network order */
	__type(value, __u8);
} ambit_excl_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AMBIT_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} ambit_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ambit_meta);
} ambit_meta SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ambit_node);
} ambit_node SEC(".maps");

static __always_inline void stat(__u32 id)
{
	__u64 *v = bpf_map_lookup_elem(&ambit_stats, &id);
	if (v)
		*v += 1;
}

static __always_inline void set_v4(__u8 *addr, __u32 ip4)
{
	__builtin_memset(addr, 0, 10);
	addr[10] = 0xff;
	addr[11] = 0xff;
	__builtin_memcpy(addr + 12, &ip4, 4);
}

static __always_inline __u32 get_v4(const __u8 *addr)
{
	__u32 ip;
	__builtin_memcpy(&ip, addr + 12, 4);
	return ip;
}

/* The part of the capture decision that does not depend on the address family: a TCP connect from
 * an enrolled pod by a socket that is not ztunnel's. Returns the pod, or NULL to leave it alone. */
static __always_inline struct ambit_pod *capture_pod(struct bpf_sock_addr *ctx)
{
	if (ctx->type != SOCK_STREAM)
		return NULL;
	__u64 cookie = bpf_get_netns_cookie(ctx);
	struct ambit_pod *pod = bpf_map_lookup_elem(&ambit_pods, &cookie);
	if (!pod || !(pod->flags & AMBIT_POD_ENROLLED))
		return NULL;
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return NULL;
	/* ztunnel's own sockets (it sets the mark before connect). */
	if (sk->mark == AMBIT_ZTUNNEL_MARK || sk->mark == AMBIT_DELIVERY_MARK) {
		stat(AMBIT_STAT_SKIP_MARK);
		return NULL;
	}
	return pod;
}

static __always_inline int excluded_port(__u16 port)
{
	if (bpf_map_lookup_elem(&ambit_excl_ports, &port)) {
		stat(AMBIT_STAT_SKIP_EXCLUDED);
		return 1;
	}
	return 0;
}

/* Common decision for a connect() from an enrolled pod to ip4:port (network order). Returns the
 * pod to redirect for, or NULL to leave the connect alone. */
static __always_inline struct ambit_pod *should_capture(struct bpf_sock_addr *ctx, __u32 ip4, __u16 port)
{
	struct ambit_pod *pod = capture_pod(ctx);
	if (!pod)
		return NULL;
	if ((bpf_ntohl(ip4) >> 24) == 127) {
		stat(AMBIT_STAT_SKIP_LOOPBACK);
		return NULL;
	}
	if (ip4 == pod->ip4) {
		stat(AMBIT_STAT_SKIP_SELF);
		return NULL;
	}
	if (excluded_port(port))
		return NULL;
	return pod;
}

static __always_inline int ip6_is_zero(const __u32 *a)
{
	return (a[0] | a[1] | a[2] | a[3]) == 0;
}

/* The same decision for a native IPv6 destination (ip6: four network-order words, as the context
 * gives them). ::1 and :: (which the kernel connects to loopback) stay local like 127/8. */
static __always_inline struct ambit_pod *should_capture6(struct bpf_sock_addr *ctx, const __u32 *ip6, __u16 port)
{
	struct ambit_pod *pod = capture_pod(ctx);
	if (!pod)
		return NULL;
	if (ip6[0] == 0 && ip6[1] == 0 && ip6[2] == 0 && (ip6[3] == 0 || ip6[3] == bpf_htonl(1))) {
		stat(AMBIT_STAT_SKIP_LOOPBACK);
		return NULL;
	}
	__u32 self[4];
	__builtin_memcpy(self, pod->ip6, 16);
	if (!ip6_is_zero(self) && self[0] == ip6[0] && self[1] == ip6[1] && self[2] == ip6[2] && self[3] == ip6[3]) {
		stat(AMBIT_STAT_SKIP_SELF);
		return NULL;
	}
	if (excluded_port(port))
		return NULL;
	return pod;
}

struct sockaddr_in_ {
	__u16 sin_family;
	__u16 sin_port;
	__u32 sin_addr;
	__u8 zero[8];
};

static __always_inline struct ambit_pod_ip *enrolled_pod_ip(__u32 daddr);

/* A TCP connect from the node's own network namespace (kubelet, hostNetwork pods) to one of the
 * node's enrolled pods leaves from the probe address instead of the node's. Kubelet's probes
 * therefore keep working without going through ztunnel, while connections the node only forwards
 * (kube-proxy's masquerade uses the node's address) no longer look like probes and are captured.
 * This is Istio's link-local probe SNAT done at connect time: a bind, no NAT, no conntrack. A
 * socket its owner already bound to an address keeps it (and is captured). */
static __always_inline void bind_node_probe(struct bpf_sock_addr *ctx, __u32 ip4)
{
	if (ctx->type != SOCK_STREAM)
		return;
	__u32 zero = 0;
	struct ambit_node *node = bpf_map_lookup_elem(&ambit_node, &zero);
	if (!node || !node->netns_cookie || bpf_get_netns_cookie(ctx) != node->netns_cookie)
		return;
	if (!enrolled_pod_ip(ip4))
		return;
	struct bpf_sock *sk = ctx->sk;
	if (!sk || sk->src_ip4 != 0)
		return;
	struct sockaddr_in_ sa = {};
	sa.sin_family = AF_INET;
	sa.sin_addr = bpf_htonl(AMBIT_PROBE_SRC4);
	if (bpf_bind(ctx, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		stat(AMBIT_STAT_ERR_PROBE_BIND);
		return;
	}
	stat(AMBIT_STAT_PROBE_BOUND);
}

struct sockaddr_in6_ {
	__u16 sin6_family;
	__u16 sin6_port;
	__u32 sin6_flowinfo;
	__u32 sin6_addr[4];
	__u32 sin6_scope_id;
};

static __always_inline struct ambit_pod_ip *enrolled_pod_ip6(const struct in6_addr *daddr);

/* bind_node_probe for IPv6 destinations: the node's connect to an enrolled pod's IPv6 address
 * leaves from AMBIT_PROBE_SRC6, which the agent puts on the node's lo (deprecated, so the kernel
 * never picks it as a source by itself). */
static __always_inline void bind_node_probe6(struct bpf_sock_addr *ctx, const __u32 *ip6)
{
	if (ctx->type != SOCK_STREAM)
		return;
	__u32 zero = 0;
	struct ambit_node *node = bpf_map_lookup_elem(&ambit_node, &zero);
	if (!node || !node->netns_cookie || bpf_get_netns_cookie(ctx) != node->netns_cookie)
		return;
	if (!enrolled_pod_ip6((const struct in6_addr *)ip6))
		return;
	struct bpf_sock *sk = ctx->sk;
	if (!sk || sk->src_ip6[0] != 0 || sk->src_ip6[1] != 0 || sk->src_ip6[2] != 0 || sk->src_ip6[3] != 0)
		return;
	struct sockaddr_in6_ sa = {};
	sa.sin6_family = AF_INET6;
	sa.sin6_addr[0] = bpf_htonl(AMBIT_PROBE_SRC6_0);
	sa.sin6_addr[1] = bpf_htonl(AMBIT_PROBE_SRC6_1);
	sa.sin6_addr[2] = bpf_htonl(AMBIT_PROBE_SRC6_2);
	sa.sin6_addr[3] = bpf_htonl(AMBIT_PROBE_SRC6_3);
	if (bpf_bind(ctx, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		stat(AMBIT_STAT_ERR_PROBE_BIND);
		return;
	}
	stat(AMBIT_STAT_PROBE_BOUND);
}

SEC("cgroup/connect4")
int ambit_connect4(struct bpf_sock_addr *ctx)
{
	__u32 ip4 = ctx->user_ip4;
	__u16 port = (__u16)ctx->user_port;
	bind_node_probe(ctx, ip4);
	struct ambit_pod *pod = should_capture(ctx, ip4, port);
	if (!pod)
		return 1;
	struct ambit_addr *o = bpf_sk_storage_get(&ambit_sk_orig, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o) {
		/* Fail closed: without the original destination ztunnel cannot route; refusing the
		 * connect (EPERM) is better than letting it leave uncaptured. */
		stat(AMBIT_STAT_ERR_STORAGE);
		return 0;
	}
	set_v4(o->addr, ip4);
	o->port = port;
	o->family = AF_INET;
	o->flags = 0;
	ctx->user_ip4 = pod->ip4 ? pod->ip4 : bpf_htonl(0x7f000001);
	ctx->user_port = bpf_htons(AMBIT_PORT_OUTBOUND);
	stat(AMBIT_STAT_CAPTURED);
	return 1;
}

SEC("cgroup/connect6")
int ambit_connect6(struct bpf_sock_addr *ctx)
{
	__u16 port = (__u16)ctx->user_port;
	/* Read the context one word at a time: that is the access the verifier allows. */
	__u32 ip6[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};
	if (ip6[0] == 0 && ip6[1] == 0 && ip6[2] == bpf_htonl(0xffff)) {
		/* A dual-stack socket reaching an IPv4 peer (::ffff:a.b.c.d): the packets are IPv4,
		 * so this is captured exactly like connect4, into an IPv4 record; skipping it would be
		 * the easiest way around capture. */
		__u32 ip4 = ip6[3];
		struct ambit_pod *pod = should_capture(ctx, ip4, port);
		if (!pod)
			return 1;
		struct ambit_addr *o = bpf_sk_storage_get(&ambit_sk_orig, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!o) {
			stat(AMBIT_STAT_ERR_STORAGE);
			return 0;
		}
		set_v4(o->addr, ip4);
		o->port = port;
		o->family = AF_INET;
		o->flags = 0;
		ctx->user_ip6[3] = pod->ip4 ? pod->ip4 : bpf_htonl(0x7f000001);
		ctx->user_port = bpf_htons(AMBIT_PORT_OUTBOUND);
		stat(AMBIT_STAT_CAPTURED);
		return 1;
	}
	bind_node_probe6(ctx, ip6);
	struct ambit_pod *pod = should_capture6(ctx, ip6, port);
	if (!pod)
		return 1;
	struct ambit_addr *o = bpf_sk_storage_get(&ambit_sk_orig, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!o) {
		/* Fail closed, as connect4. */
		stat(AMBIT_STAT_ERR_STORAGE);
		return 0;
	}
	__builtin_memcpy(o->addr, ip6, 16);
	o->port = port;
	o->family = AF_INET6;
	o->flags = 0;
	/* ztunnel's dual-stack listener in the pod: on the pod's own IPv6 address when the agent
	 * knows it (as connect4 uses the pod's IPv4), else on ::1. */
	__u32 to[4];
	__builtin_memcpy(to, pod->ip6, 16);
	if (ip6_is_zero(to)) {
		to[3] = bpf_htonl(1);
	}
	ctx->user_ip6[0] = to[0];
	ctx->user_ip6[1] = to[1];
	ctx->user_ip6[2] = to[2];
	ctx->user_ip6[3] = to[3];
	ctx->user_port = bpf_htons(AMBIT_PORT_OUTBOUND);
	stat(AMBIT_STAT_CAPTURED);
	return 1;
}

static __always_inline void orig_key(struct ambit_orig_key *k, __u64 cookie, __u32 local_ip4, __u32 local_port_host)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->netns_cookie = cookie;
	set_v4(k->addr, local_ip4);
	k->port = bpf_htons((__u16)local_port_host);
	k->family = AF_INET;
}

/* The key for a socket of either family. An AF_INET6 socket carrying IPv4 (v4-mapped addresses)
 * files and finds its record under the IPv4 key, so the app's dual-stack socket and ztunnel's
 * socket agree whatever family each of them was opened with. */
static __always_inline void orig_key_sk(struct ambit_orig_key *k, __u64 cookie, __u32 family, __u32 ip4,
					const __u32 *ip6, __u32 port_host)
{
	if (family != AF_INET6 || (ip6[0] == 0 && ip6[1] == 0 && ip6[2] == bpf_htonl(0xffff))) {
		orig_key(k, cookie, ip4, port_host);
		return;
	}
	__builtin_memset(k, 0, sizeof(*k));
	k->netns_cookie = cookie;
	__builtin_memcpy(k->addr, ip6, 16);
	k->port = bpf_htons((__u16)port_host);
	k->family = AF_INET6;
}

/* sockops: the app socket's local address. */
static __always_inline void orig_key_ops(struct ambit_orig_key *k, struct bpf_sock_ops *skops)
{
	__u32 ip6[4] = {skops->local_ip6[0], skops->local_ip6[1], skops->local_ip6[2], skops->local_ip6[3]};
	orig_key_sk(k, bpf_get_netns_cookie(skops), skops->family, skops->local_ip4, ip6, skops->local_port);
}

SEC("sockops")
int ambit_sockops(struct bpf_sock_ops *skops)
{
	struct ambit_orig_key k;
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB: {
		struct bpf_sock *sk = skops->sk;
		if (!sk)
			return 1;
		/* Only captured sockets have storage; others cost one lookup. The local port is not
		 * known at connect4/6 time (unbound socket), hence this second step. */
		struct ambit_addr *o = bpf_sk_storage_get(&ambit_sk_orig, sk, 0, 0);
		if (!o)
			return 1;
		orig_key_ops(&k, skops);
		if (bpf_map_update_elem(&ambit_orig, &k, o, BPF_ANY) != 0) {
			stat(AMBIT_STAT_ERR_MAP_FULL);
			return 1;
		}
		o->flags |= AMBIT_ORIG_F_RECORDED;
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
		stat(AMBIT_STAT_ORIG_RECORDED);
		return 1;
	}
	case BPF_SOCK_OPS_STATE_CB: {
		if (skops->args[1] != BPF_TCP_CLOSE)
			return 1;
		orig_key_ops(&k, skops);
		if (bpf_map_delete_elem(&ambit_orig, &k) == 0) {
			stat(AMBIT_STAT_ORIG_DELETED);
			return 1;
		}
		/* The kernel has no eviction callback for an LRU map. But only this case removes a
		 * record, once per socket, and while the socket lives no other socket can have its key
		 * (its local address, connected to <pod IP>:15001, is unique in the netns): a record
		 * this socket filed and that is gone now was evicted. Such a socket may have reached
		 * ztunnel with no original destination (refused), or the eviction came after ztunnel
		 * read it (harmless); either way the map was too small for the load. */
		struct bpf_sock *sk = skops->sk;
		if (!sk)
			return 1;
		struct ambit_addr *o = bpf_sk_storage_get(&ambit_sk_orig, sk, 0, 0);
		if (o && (o->flags & AMBIT_ORIG_F_RECORDED)) {
			o->flags &= ~AMBIT_ORIG_F_RECORDED;
			stat(AMBIT_STAT_ORIG_EVICTED);
		}
		return 1;
	}
	}
	return 1;
}

static __always_inline int in_enrolled_pod(__u64 cookie)
{
	struct ambit_pod *pod = bpf_map_lookup_elem(&ambit_pods, &cookie);
	return pod && (pod->flags & AMBIT_POD_ENROLLED);
}

/* Raw sockets skip connect(), so cgroup/connect capture never sees what they send. Refuse, in
 * enrolled pods, the kinds that can write a TCP segment: IPPROTO_TCP (the kernel builds the IP
 * header, the payload is a TCP segment) and IPPROTO_RAW (the caller writes the IP header). Raw
 * ICMP (ping), UDP and other protocols keep working: without IP_HDRINCL (see below) the kernel
 * stamps the socket's own protocol into every packet. Only AF_INET/AF_INET6 reach this hook
 * (inet_create); AF_PACKET does not, so it is not closed here. Returning 0 makes socket() fail
 * with EPERM. Runs only at socket creation, so the cost is one compare for other sockets. */
SEC("cgroup/sock_create")
int ambit_sock_create(struct bpf_sock *sk)
{
	if (sk->type != SOCK_RAW)
		return 1;
	if (sk->protocol != IPPROTO_TCP && sk->protocol != IPPROTO_RAW)
		return 1;
	if (!in_enrolled_pod(bpf_get_netns_cookie(sk)))
		return 1;
	stat(AMBIT_STAT_RAW_REFUSED);
	return 0;
}

/* IP_HDRINCL lets any raw socket — a permitted ICMP one included — write the whole IP header,
 * protocol TCP too; refusing only IPPROTO_TCP/IPPROTO_RAW at creation would be bypassed by it.
 * Refused in enrolled pods (setsockopt fails with EPERM); ping does not use it. */
SEC("cgroup/setsockopt")
int ambit_setsockopt(struct bpf_sockopt *ctx)
{
	int hdrincl = (ctx->level == SOL_IP && ctx->optname == IP_HDRINCL) ||
		      (ctx->level == SOL_IPV6 && ctx->optname == IPV6_HDRINCL);
	if (!hdrincl)
		return 1;
	if (!in_enrolled_pod(bpf_get_netns_cookie(ctx)))
		return 1;
	stat(AMBIT_STAT_RAW_REFUSED);
	return 0;
}

SEC("cgroup/getsockopt")
int ambit_getsockopt(struct bpf_sockopt *ctx)
{
	/* Runs for every getsockopt in the cgroup: filter first, pass everything else through. */
	if (ctx->optname != AMBIT_SO_ORIGINAL_DST || (ctx->level != SOL_IP && ctx->level != SOL_IPV6))
		return 1;
	if (ctx->retval == 0)
		return 1; /* conntrack answered (iptables capture): keep its answer */
	struct bpf_sock *sk = ctx->sk;
	if (!sk)
		return 1;
	struct ambit_orig_key k;
	/* ztunnel's accepted socket: its peer is the app socket's local address. */
	__u32 peer6[4] = {sk->dst_ip6[0], sk->dst_ip6[1], sk->dst_ip6[2], sk->dst_ip6[3]};
	orig_key_sk(&k, bpf_get_netns_cookie(ctx), sk->family, sk->dst_ip4, peer6, bpf_ntohs((__u16)sk->dst_port));
	struct ambit_addr *o = bpf_map_lookup_elem(&ambit_orig, &k);
	if (!o)
		return 1;
	if (o->family == AF_INET6) {
		/* Only IP6T_SO_ORIGINAL_DST can express an IPv6 destination (as with conntrack, where
		 * SOL_IP on an IPv6 connection finds nothing). */
		if (ctx->level != SOL_IPV6)
			return 1;
		struct sockaddr_in6 *sa6 = ctx->optval;
		if ((void *)(sa6 + 1) > ctx->optval_end)
			return 1;
		sa6->sin6_family = AF_INET6;
		sa6->sin6_port = o->port;
		sa6->sin6_flowinfo = 0;
		__builtin_memcpy(&sa6->sin6_addr, o->addr, 16);
		sa6->sin6_scope_id = 0;
		ctx->optlen = sizeof(*sa6);
	} else {
		struct sockaddr_in_ *sa = ctx->optval;
		if ((void *)(sa + 1) > ctx->optval_end)
			return 1;
		sa->sin_family = AF_INET;
		sa->sin_port = o->port;
		sa->sin_addr = get_v4(o->addr);
		__builtin_memset(sa->zero, 0, sizeof(sa->zero));
		ctx->optlen = sizeof(*sa);
	}
	/* Keep the two 32-bit context stores apart: clang merges them into one 64-bit store,
	 * which the verifier rejects as an invalid context access. */
	asm volatile("" ::: "memory");
	ctx->retval = 0;
	stat(AMBIT_STAT_ORIG_ANSWERED);
	return 1;
}

SEC("cgroup/getpeername4")
int ambit_getpeername4(struct bpf_sock_addr *ctx)
{
	if (!ctx->sk)
		return 1;
	struct ambit_addr *o = bpf_sk_storage_get(&ambit_sk_orig, ctx->sk, 0, 0);
	if (!o || o->family != AF_INET)
		return 1;
	ctx->user_ip4 = get_v4(o->addr);
	ctx->user_port = o->port;
	stat(AMBIT_STAT_PEER_RESTORED);
	return 1;
}

SEC("cgroup/getpeername6")
int ambit_getpeername6(struct bpf_sock_addr *ctx)
{
	if (!ctx->sk)
		return 1;
	struct ambit_addr *o = bpf_sk_storage_get(&ambit_sk_orig, ctx->sk, 0, 0);
	if (!o)
		return 1;
	if (o->family == AF_INET6) {
		__u32 a[4];
		__builtin_memcpy(a, o->addr, 16);
		ctx->user_ip6[0] = a[0];
		ctx->user_ip6[1] = a[1];
		ctx->user_ip6[2] = a[2];
		ctx->user_ip6[3] = a[3];
	} else if (o->family == AF_INET) {
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		ctx->user_ip6[2] = bpf_htonl(0xffff);
		ctx->user_ip6[3] = get_v4(o->addr);
	} else {
		return 1;
	}
	ctx->user_port = o->port;
	stat(AMBIT_STAT_PEER_RESTORED);
	return 1;
}

#define AMBIT_IP_MF 0x2000
#define AMBIT_IP_OFFSET 0x1fff

static __always_inline struct ambit_pod_ip *enrolled_pod_ip(__u32 daddr)
{
	struct ambit_ip_key key;
	set_v4(key.addr, daddr);
	struct ambit_pod_ip *pod = bpf_map_lookup_elem(&ambit_pod_ips, &key);
	return pod && (pod->flags & AMBIT_POD_ENROLLED) ? pod : NULL;
}

static __always_inline struct ambit_pod_ip *enrolled_pod_ip6(const struct in6_addr *daddr)
{
	struct ambit_ip_key key;
	__builtin_memcpy(key.addr, daddr, 16);
	struct ambit_pod_ip *pod = bpf_map_lookup_elem(&ambit_pod_ips, &key);
	return pod && (pod->flags & AMBIT_POD_ENROLLED) ? pod : NULL;
}

/* Ports of an enrolled pod that inbound steering leaves alone: ztunnel's own, and excluded ones. */
static __always_inline int inbound_port_exempt(__u16 dport)
{
	if (dport == bpf_htons(AMBIT_PORT_HBONE) || dport == bpf_htons(AMBIT_PORT_INBOUND_PLAINTEXT) ||
	    dport == bpf_htons(AMBIT_PORT_OUTBOUND))
		return 1;
	return 0;
}

/* Assigns a SYN for an enrolled pod to ztunnel's 15006 listener, found by `t` (the pod's address
 * and 15006, with a zero source). Find ztunnel's 15006 *listener*, never a connection. The lookup
 * tries established sockets first, so a tuple with the packet's real source would match a
 * connection that same client already holds to pod:15006 from the same source port (SO_REUSEADDR
 * lets it reuse the port for the SYN to the app); a SYN passed on because of that match would
 * reach the app with no policy at all. No connection can have 0.0.0.0:0 or [::]:0 as its peer
 * (the IP layer drops a zero/unspecified source), so this tuple only ever matches the listener. */
static __always_inline int steer_syn(struct __sk_buff *skb, struct bpf_sock_tuple *t, __u32 tuple_len)
{
	struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, t, tuple_len, BPF_F_CURRENT_NETNS, 0);
	if (!sk) {
		/* Enrolled but ztunnel is not listening (restarting): drop the SYN so the client
		 * retransmits, instead of letting plaintext reach the app around the policy. */
		stat(AMBIT_STAT_DROP_NO_LISTENER);
		return TC_ACT_SHOT;
	}
	if (sk->state != BPF_TCP_LISTEN) {
		/* Cannot happen (see above); if it does, fail closed rather than pass the SYN on. */
		bpf_sk_release(sk);
		stat(AMBIT_STAT_DROP_NO_LISTENER);
		return TC_ACT_SHOT;
	}
	long err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		stat(AMBIT_STAT_DROP_NO_LISTENER);
		return TC_ACT_SHOT;
	}
	stat(AMBIT_STAT_INBOUND_STEERED);
	return TC_ACT_OK;
}

/* Extension headers that may stand between the IPv6 header and a TCP header: hop-by-hop,
 * routing, fragment, destination options, AH, mobility, HIP, shim6, and the experimental ones. */
static __always_inline int ip6_ext_header(__u8 nexthdr)
{
	switch (nexthdr) {
	case 0: case 43: case 44: case 60: case 51: case 135: case 139: case 140: case 253: case 254:
		return 1;
	}
	return 0;
}

static __always_inline int inbound6(struct __sk_buff *skb, struct ipv6hdr *ip6, void *end)
{
	if ((void *)(ip6 + 1) > end)
		return TC_ACT_OK;
	if (ip6->nexthdr != IPPROTO_TCP) {
		/* A TCP segment behind extension headers (a fragment above all: reassembly comes after
		 * this hook) would reach the app unexamined, so to an enrolled pod only bare TCP is
		 * let through (fail closed). Legitimate TCP carries no extension headers; ICMPv6
		 * (neighbour discovery) and UDP are not headers and pass. */
		if (ip6_ext_header(ip6->nexthdr) && enrolled_pod_ip6(&ip6->daddr))
			return TC_ACT_SHOT;
		return TC_ACT_OK;
	}
	struct tcphdr *tcp = (void *)(ip6 + 1);
	if ((void *)(tcp + 1) > end)
		return TC_ACT_OK;
	if (!tcp->syn || tcp->ack)
		return TC_ACT_OK;
	if (!enrolled_pod_ip6(&ip6->daddr))
		return TC_ACT_OK;
	__u16 dport = tcp->dest;
	if (inbound_port_exempt(dport))
		return TC_ACT_OK;
	/* The node's own connections: bind_node_probe6 gave them this source. */
	if (ip6->saddr.in6_u.u6_addr32[0] == bpf_htonl(AMBIT_PROBE_SRC6_0) &&
	    ip6->saddr.in6_u.u6_addr32[1] == bpf_htonl(AMBIT_PROBE_SRC6_1) &&
	    ip6->saddr.in6_u.u6_addr32[2] == bpf_htonl(AMBIT_PROBE_SRC6_2) &&
	    ip6->saddr.in6_u.u6_addr32[3] == bpf_htonl(AMBIT_PROBE_SRC6_3)) {
		stat(AMBIT_STAT_INBOUND_PROBE);
		return TC_ACT_OK;
	}
	if (bpf_map_lookup_elem(&ambit_excl_ports, &dport)) {
		stat(AMBIT_STAT_SKIP_EXCLUDED);
		return TC_ACT_OK;
	}
	struct bpf_sock_tuple t = {};
	__builtin_memcpy(t.ipv6.daddr, &ip6->daddr, 16);
	t.ipv6.dport = bpf_htons(AMBIT_PORT_INBOUND_PLAINTEXT);
	return steer_syn(skb, &t, sizeof(t.ipv6));
}

/* Inbound steering, attached at tc ingress on an enrolled pod's interface (inside its netns).
 * Only the SYN is assigned: later packets find the request/established socket by the normal
 * lookup (assigning every packet to the listener resets the connection). */
SEC("tc")
int ambit_inbound(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return TC_ACT_OK;
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return inbound6(skb, (void *)(eth + 1), end);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
		return TC_ACT_OK;
	/* IP reassembles after this hook: a SYN in fragments (or in a first fragment too short to
	 * show its flags) would reach the app unexamined. TCP to an enrolled pod must arrive whole
	 * (fail closed); TCP senders set DF, so legitimate traffic is practically never fragmented. */
	if (ip->frag_off & bpf_htons(AMBIT_IP_MF | AMBIT_IP_OFFSET))
		return enrolled_pod_ip(ip->daddr) ? TC_ACT_SHOT : TC_ACT_OK;
	/* The TCP header follows the IPv4 options: any sender may add some (IP_OPTIONS needs no
	 * privilege), and a SYN with options is still a new inbound connection. */
	__u32 ihl = ip->ihl;
	if (ihl < 5)
		return TC_ACT_OK; /* malformed: the IP layer drops it */
	struct tcphdr *tcp = (void *)ip + ihl * 4;
	if ((void *)(tcp + 1) > end)
		return TC_ACT_OK;
	if (!tcp->syn || tcp->ack)
		return TC_ACT_OK;
	struct ambit_pod_ip *pod = enrolled_pod_ip(ip->daddr);
	if (!pod)
		return TC_ACT_OK;
	__u16 dport = tcp->dest;
	if (inbound_port_exempt(dport))
		return TC_ACT_OK;
	/* The node's own connections (kubelet's probes) reach the app untouched: bind_node_probe gave
	 * them this source. Not the node's address — forwarded NodePort traffic is masqueraded to it. */
	if (ip->saddr == bpf_htonl(AMBIT_PROBE_SRC4)) {
		stat(AMBIT_STAT_INBOUND_PROBE);
		return TC_ACT_OK;
	}
	if (bpf_map_lookup_elem(&ambit_excl_ports, &dport)) {
		stat(AMBIT_STAT_SKIP_EXCLUDED);
		return TC_ACT_OK;
	}
	struct bpf_sock_tuple t = {};
	t.ipv4.saddr = 0;
	t.ipv4.sport = 0;
	t.ipv4.daddr = ip->daddr;
	t.ipv4.dport = bpf_htons(AMBIT_PORT_INBOUND_PLAINTEXT);
	return steer_syn(skb, &t, sizeof(t.ipv4));
}
