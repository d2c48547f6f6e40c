// The 15006 inbound plaintext proxy for one pod (ZT:src/proxy/inbound_passthrough.rs): traffic
// from outside the mesh to the pod. The destination is the socket's local address (eBPF steers
// without NAT) or SO_ORIGINAL_DST (iptables REDIRECT). Policy runs with no identity, so STRICT
// PeerAuthentication (istiod's static DENY on "no principal") refuses it and PERMISSIVE applies
// the rest; allowed bytes are relayed to the app from inside the pod.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "ztunnel/proxy/proxy_inputs.h"

namespace ambit::ztunnel {

// `ticket` (admission, may be null) is held until the connection ends.
boost::asio::awaitable<void> handle_inbound_plaintext(const ProxyInputs* in, PodPtr pod, Worker* worker,
                                                      boost::asio::ip::tcp::socket client,
                                                      std::shared_ptr<void> ticket = nullptr);

}  // namespace ambit::ztunnel
