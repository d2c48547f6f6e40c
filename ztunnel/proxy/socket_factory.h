// Sockets ztunnel creates on behalf of a pod: created *inside the pod's network namespace* (so
// outbound HBONE leaves from the pod IP and inbound delivery reaches the app over the pod's
// loopback), and marked SO_MARK 0x539 so neither eBPF nor iptables capture sends them back to
// ztunnel (ZT:src/socket.rs). Delivery sockets that keep the client's address use 0x111 instead.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <optional>

#include "absl/status/statusor.h"
#include "ambit/abi.h"
#include "common/hbone/connect.h"
#include "common/net/ip_addr.h"

namespace ambit::ztunnel {

inline constexpr uint32_t kZtunnelMark = AMBIT_ZTUNNEL_MARK;  // 0x539
// Sockets that deliver inbound connections to the app from the client's address carry 0x111
// instead: the pod's reply routing (agent/inpod_routing.h) sends what is marked so back to ztunnel,
// which for 0x539 would also catch ztunnel's outbound connections. Capture skips both marks.
inline constexpr uint32_t kDeliveryMark = AMBIT_DELIVERY_MARK;  // 0x111

// netns_fd < 0 means the caller's own namespace (in-process tests).
class SocketFactory : public hbone::SocketSource {
 public:
  explicit SocketFactory(int netns_fd, uint32_t mark = kZtunnelMark) : netns_fd_(netns_fd), mark_(mark) {}

  // A listening socket bound to [::]:port (dual-stack) or 0.0.0.0:port when IPv6 is off.
  absl::StatusOr<boost::asio::ip::tcp::acceptor> listen(boost::asio::io_context& io, uint16_t port,
                                                        bool transparent = false) const;
  // An unconnected TCP socket of `ip`'s family, marked; if `bind_src` is set, bound to it with
  // IP_TRANSPARENT and marked kDeliveryMark (source preservation). An error if the bind fails.
  absl::StatusOr<boost::asio::ip::tcp::socket> tcp(boost::asio::io_context& io, const net::IpAddr& family,
                                                   const std::optional<net::IpAddr>& bind_src = std::nullopt) const;
  int netns_fd() const { return netns_fd_; }
  // The HBONE pool's sockets: tcp() without a source to preserve.
  absl::StatusOr<boost::asio::ip::tcp::socket> open_tcp(boost::asio::io_context& io,
                                                        const net::IpAddr& family) const override {
    return tcp(io, family);
  }

 private:
  int netns_fd_;
  uint32_t mark_;
};

}  // namespace ambit::ztunnel
