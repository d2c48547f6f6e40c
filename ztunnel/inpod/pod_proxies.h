// The listeners ztunnel opens *inside* one pod's network namespace (ZT:src/inpod): 15001
// outbound, 15006 inbound plaintext, 15008 inbound HBONE, each marked 0x539. Accepted
// connections are spread over the workers. Draining a pod stops its listeners and ends its
// connections (immediately for a ZDS DelWorkload, gracefully for process shutdown).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "absl/status/statusor.h"
#include "common/hbone/h2/connection.h"
#include "ztunnel/proxy/admission.h"
#include "ztunnel/proxy/proxy_inputs.h"

namespace ambit::ztunnel {

struct PodPorts {
  uint16_t outbound = 15001;
  uint16_t inbound_plaintext = 15006;
  uint16_t inbound_hbone = 15008;
};

class PodProxies : public std::enable_shared_from_this<PodProxies> {
 public:
  static absl::StatusOr<std::shared_ptr<PodProxies>> start(const ProxyInputs* in, PodPtr pod, PodPorts ports = {});
  ~PodProxies();

  // Stops accepting. immediate: resets every connection now; else GOAWAY and let them finish.
  void drain(bool immediate);
  const PodContext& pod() const { return *pod_; }
  PodPtr pod_ptr() const { return pod_; }
  // Actual bound ports (tests use port 0).
  PodPorts bound() const { return bound_; }

  PodProxies(const ProxyInputs* in, PodPtr pod) : in_(in), pod_(std::move(pod)) {}

  enum class ListenerKind { kOutbound, kPlaintext, kHbone };
  struct Listener {
    ListenerKind kind;
    Worker* worker;  // accepts on this worker's thread
    std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor;
    AcceptBackoff backoff;                                // after EMFILE and the like
    std::unique_ptr<boost::asio::steady_timer> retry;     // waits out the back-off
  };

 private:
  void accept_loop(Listener* l);

  const ProxyInputs* in_;
  PodPtr pod_;
  PodPorts bound_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::mutex mu_;
  std::vector<std::weak_ptr<hbone::h2::Connection>> servers_;
  bool draining_ = false;
};

}  // namespace ambit::ztunnel
