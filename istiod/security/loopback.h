// Whether a peer or a listen address is this host's loopback. istiod treats loopback specially
// on its plaintext xDS port: only a process on the same host can reach it there, so anonymous
// debugging is allowed and a node token sent in clear never crosses a network. Everything else
// on plaintext is refused (see authenticator.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ambit::istiod::security {

// A gRPC peer string: "ipv4:127.0.0.1:5000", "ipv6:[::1]:5000" (or "ipv6:%5B::1%5D:5000", as
// newer gRPC escapes it), "unix:/path". 127.0.0.0/8, ::1 and IPv4-mapped 127/8 are loopback; a
// Unix socket is local by construction. Anything unparsable is not loopback.
bool peer_is_loopback(std::string_view grpc_peer);
// The IP address of an "ipv4:" or "ipv6:" peer, as text without brackets; nullopt otherwise.
std::optional<std::string> peer_ip(std::string_view grpc_peer);

// A listen address as given to --plaintext-address: "127.0.0.1:15010", "[::1]:15010",
// "localhost:15010", "unix:/path". Wildcards ("0.0.0.0:15010", "[::]:15010", ":15010") and
// any other host are not loopback.
bool listen_address_is_loopback(std::string_view address);

}  // namespace ambit::istiod::security
