// The 15001 outbound proxy for one pod (ZT:src/proxy/outbound.rs): reads the original
// destination (SO_ORIGINAL_DST — answered by iptables NAT or by Ambit's cgroup/getsockopt BPF
// program, so both capture modes work unchanged), routes it (outbound_route.h), and either opens
// an HBONE CONNECT stream from the pool or dials plain TCP from inside the pod's namespace.
// Fails closed: no source workload, no certificate, or no route means the app's connection is
// reset, never sent in plaintext where mTLS was due.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "ztunnel/proxy/proxy_inputs.h"

namespace ambit::ztunnel {

boost::asio::awaitable<void> handle_outbound(const ProxyInputs* in, PodPtr pod, Worker* worker,
                                             boost::asio::ip::tcp::socket app);

}  // namespace ambit::ztunnel
