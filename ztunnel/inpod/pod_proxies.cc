#include "ztunnel/inpod/pod_proxies.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <future>

#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/hbone/pool.h"
#include "ztunnel/proxy/connection_tracker.h"
#include "ztunnel/proxy/inbound.h"
#include "ztunnel/proxy/inbound_passthrough.h"
#include "ztunnel/proxy/outbound.h"

namespace ambit::ztunnel {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

using ListenerKind = PodProxies::ListenerKind;

absl::StatusOr<std::shared_ptr<PodProxies>> PodProxies::start(const ProxyInputs* in, PodPtr pod, PodPorts ports) {
  std::shared_ptr<PodProxies> p(new PodProxies(in, std::move(pod)));
  struct Spec {
    ListenerKind kind;
    uint16_t port;
    bool transparent;
  };
  for (const Spec& s : {Spec{ListenerKind::kOutbound, ports.outbound, false},
                        Spec{ListenerKind::kPlaintext, ports.inbound_plaintext, false},
                        Spec{ListenerKind::kHbone, ports.inbound_hbone, true}}) {
    Worker& w = in->workers->next();
    auto acc = p->pod_->sockets.listen(w.io, s.port, s.transparent);
    if (!acc.ok()) return annotate(acc.status(), str_cat("pod ", p->pod_->name, " listener on port ", s.port));
    uint16_t bound = acc->local_endpoint().port();
    if (s.kind == ListenerKind::kOutbound) p->bound_.outbound = bound;
    if (s.kind == ListenerKind::kPlaintext) p->bound_.inbound_plaintext = bound;
    if (s.kind == ListenerKind::kHbone) p->bound_.inbound_hbone = bound;
    auto l = std::make_unique<Listener>();
    l->kind = s.kind;
    l->worker = &w;
    l->acceptor = std::make_unique<tcp::acceptor>(std::move(*acc));
    p->listeners_.push_back(std::move(l));
  }
  for (auto& l : p->listeners_) {
    Listener* lp = l.get();
    asio::post(lp->worker->io, [p, lp] { p->accept_loop(lp); });
  }
  log::scope("inpod").info("proxies up for pod {}/{} ({}) on ports {}/{}/{}", p->pod_->ns, p->pod_->name,
                           p->pod_->uid, p->bound_.outbound, p->bound_.inbound_plaintext, p->bound_.inbound_hbone);
  return p;
}

PodProxies::~PodProxies() = default;

void PodProxies::accept_loop(Listener* l) {
  auto self = shared_from_this();
  l->acceptor->async_accept([self, l](boost::system::error_code ec, tcp::socket sock) {
    const ProxyInputs* inputs = self->in_;
    if (ec) {
      if (ec == asio::error::operation_aborted || self->draining_) return;
      if (!is_resource_exhaustion(ec.value())) {
        inputs->telemetry->accept_errors.with({"other"}).inc();
        self->accept_loop(l);  // this connection failed (ECONNABORTED...), the next may not
        return;
      }
      // Out of fds or memory: the pending connection stays queued and the listener stays
      // readable, so accepting again at once would spin a core until something closes.
      inputs->telemetry->accept_errors.with({"resource"}).inc();
      auto wait = l->backoff.failed();
      log::scope("inpod").warn("accept on pod {}: {}; retrying in {} ms", self->pod_->name, ec.message(),
                               wait.count());
      if (!l->retry) l->retry = std::make_unique<asio::steady_timer>(l->worker->io);
      l->retry->expires_after(wait);
      l->retry->async_wait([self, l](boost::system::error_code tec) {
        if (!tec && !self->draining_) self->accept_loop(l);
      });
      return;
    }
    l->backoff.succeeded();
    // Admission (inbound only): past a cap the connection is reset now, before any TLS work.
    std::shared_ptr<void> ticket;
    if (l->kind != ListenerKind::kOutbound && inputs->admission) {
      boost::system::error_code pec;
      auto remote = sock.remote_endpoint(pec);
      Refusal why = Refusal::kNone;
      if (!pec) ticket = inputs->admission->admit(hbone::from_endpoint(remote).ip, &why);
      if (!ticket) {
        inputs->telemetry->inbound_refused.with({std::string(refusal_name(pec ? Refusal::kTotal : why))}).inc();
        sock.set_option(tcp::socket::linger(true, 0), pec);
        sock.close(pec);
        self->accept_loop(l);
        return;
      }
    }
    // Spread connections over the workers; a connection then lives on one worker only.
    Worker& w = self->in_->workers->next();
    int proto_v4 = sock.local_endpoint().protocol() == tcp::v4();
    int fd = sock.release();
    // Every accepted socket writes small frames (HBONE control frames, END_STREAM, request and
    // response heads): without TCP_NODELAY, Nagle holds the second small write until the peer's
    // delayed ACK — 40 ms added to every half-close through the tunnel.
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    asio::post(w.io, [self, kind = l->kind, wp = &w, fd, proto_v4, ticket] {
      tcp::socket s(wp->io);
      boost::system::error_code ec2;
      s.assign(proto_v4 ? tcp::v4() : tcp::v6(), fd, ec2);
      if (ec2) {
        ::close(fd);
        return;
      }
      const ProxyInputs* in = self->in_;
      PodPtr pod = self->pod_;
      switch (kind) {
        case ListenerKind::kOutbound:
          asio::co_spawn(wp->io, handle_outbound(in, pod, wp, std::move(s)), asio::detached);
          break;
        case ListenerKind::kPlaintext:
          asio::co_spawn(wp->io, handle_inbound_plaintext(in, pod, wp, std::move(s), ticket), asio::detached);
          break;
        case ListenerKind::kHbone: {
          std::weak_ptr<PodProxies> weak = self;
          asio::co_spawn(wp->io,
                         handle_inbound(in, pod, wp, std::move(s),
                                        [weak](std::shared_ptr<hbone::h2::Connection> c) {
                                          auto p = weak.lock();
                                          if (!p) return;
                                          std::lock_guard lock(p->mu_);
                                          if (p->draining_) {
                                            c->drain();
                                            return;
                                          }
                                          std::erase_if(p->servers_, [](const auto& w) { return w.expired(); });
                                          p->servers_.push_back(c);
                                        },
                                        ticket),
                         asio::detached);
          break;
        }
      }
    });
    self->accept_loop(l);
  });
}

void PodProxies::drain(bool immediate) {
  std::vector<std::weak_ptr<hbone::h2::Connection>> servers;
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    servers.swap(servers_);
  }
  auto self = shared_from_this();
  // Acceptors and connections belong to worker threads: close them there, and wait so that the
  // caller (ZDS DelWorkload) can acknowledge only once the pod is really drained.
  std::vector<std::future<void>> done;
  for (auto& l : listeners_) {
    auto pr = std::make_shared<std::promise<void>>();
    done.push_back(pr->get_future());
    asio::post(l->worker->io, [l = l.get(), pr] {
      boost::system::error_code ec;
      l->acceptor->close(ec);
      pr->set_value();
    });
  }
  for (auto& w : servers) {
    if (auto c = w.lock()) {
      auto ex = c->socket().get_executor();
      asio::post(ex, [c, immediate] {
        if (immediate) c->close(absl::CancelledError("pod removed"));
        else c->drain();
      });
    }
  }
  // Outbound connections of this pod: close its tracked streams.
  if (immediate && in_->tracker) {
    for (const auto& t : in_->tracker->list()) {
      if (t.pod_uid == pod_->uid && t.close) t.close("pod removed");
    }
  }
  for (auto& f : done) f.wait_for(std::chrono::seconds(5));
}

}  // namespace ambit::ztunnel
