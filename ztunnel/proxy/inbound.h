// The 15008 HBONE server for one pod (ZT:src/proxy/inbound.rs): mTLS with the pod's own
// certificate, the peer's SPIFFE identity (trust domain checked by the verifier), then per
// CONNECT stream:
//   400  not CONNECT / bad authority / authority IP is not this pod
//   503  this pod unknown / target is ztunnel's own port / the app refused
//   401  denied by L4 AuthorizationPolicy (the access log names the policy)
//   200  the app connection is open; bytes flow
// Inbound connections stay registered so a policy change that now denies them closes them.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>

#include "common/hbone/h2/connection.h"
#include "ztunnel/proxy/proxy_inputs.h"

namespace ambit::ztunnel {

// `on_connection` lets the pod's proxy set track live HBONE server connections (for drain).
boost::asio::awaitable<void> handle_inbound(const ProxyInputs* in, PodPtr pod, Worker* worker,
                                            boost::asio::ip::tcp::socket raw,
                                            std::function<void(std::shared_ptr<hbone::h2::Connection>)> on_connection,
                                            std::shared_ptr<void> ticket = nullptr);

}  // namespace ambit::ztunnel
