#include "ztunnel/proxy/inbound_passthrough.h"

#include "common/base/strings.h"
#include "ztunnel/proxy/connection_tracker.h"
#include "ztunnel/proxy/tcp_relay.h"
#include "ztunnel/proxy/ztunnel_ports.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

asio::awaitable<void> handle_inbound_plaintext(const ProxyInputs* in, PodPtr pod, Worker* worker, tcp::socket sock,
                                               std::shared_ptr<void> ticket) {
  // Shared so a policy re-check posted from another thread can still reach it safely.
  auto cs = std::make_shared<tcp::socket>(std::move(sock));
  tcp::socket& client = *cs;
  auto info = std::make_shared<ConnectionInfo>();
  info->direction = Direction::kInbound;
  auto peer = net::peer_addr(client.native_handle());
  if (peer.ok()) info->src_addr = peer->to_string();
  auto refuse = [&](std::string why) {
    info->error = std::move(why);
    in->telemetry->log(*info);
    reset_socket(client);
  };
  // iptables REDIRECT rewrote the destination; eBPF did not, so the local address is it.
  auto dst = net::original_dst(client.native_handle());
  if (!dst.ok()) dst = net::local_addr(client.native_handle());
  if (!dst.ok() || !peer.ok()) {
    refuse("cannot determine addresses");
    co_return;
  }
  info->dst_addr = dst->to_string();
  wds::WorkloadPtr local = pod->workload(*in->state);
  info->dst_workload = local;
  info->dst_identity = pod->identity;
  if (!local) {
    refuse("destination workload is not known to this ztunnel");
    co_return;
  }
  if (is_ztunnel_port(dst->port)) {
    refuse(str_cat("port ", dst->port, " is a ztunnel port"));
    co_return;
  }
  info->src_workload = in->state->workload_by_ip(peer->ip);
  RbacConnection attrs{peer->ip, std::nullopt, dst->ip, dst->port};
  RbacResult decision = evaluate_rbac(in->state->policies_for(*local), attrs);
  if (!decision.allowed) {
    info->policy = decision.policy;
    info->response_flags = "DENY";
    refuse(decision.reason);
    co_return;
  }
  std::optional<net::IpAddr> spoof;
  if (in->config.preserve_source_ip) spoof = peer->ip;
  auto app = pod->sockets.tcp(worker->io, dst->ip, spoof);
  if (!app.ok() && spoof) app = pod->sockets.tcp(worker->io, dst->ip);  // best effort, as for HBONE
  if (!app.ok()) {
    refuse(std::string(app.status().message()));
    co_return;
  }
  absl::Status st = co_await hbone::connect_with_timeout(*app, *dst, in->config.connect_timeout);
  if (!st.ok()) {
    refuse(std::string(st.message()));
    co_return;
  }
  auto labels = in->telemetry->opened(*info);
  std::weak_ptr<tcp::socket> weak = cs;
  uint64_t track = in->tracker->add(TrackedConnection{
      pod->uid, "inbound", dst->to_string(), peer->to_string(), dst->to_string(), "TCP", attrs, local,
      [weak, ex = worker->io.get_executor()](const std::string&) {
        asio::post(ex, [weak] {
          if (auto s = weak.lock()) reset_socket(*s);
        });
      }});
  RelayResult r = co_await relay(client, *app);
  ticket.reset();  // the admission slot is free once the relay ends
  in->tracker->remove(track);
  info->bytes_sent = r.a_to_b;
  info->bytes_recv = r.b_to_a;
  info->error = r.error;
  in->telemetry->closed(*info, labels);
}

}  // namespace ambit::ztunnel
