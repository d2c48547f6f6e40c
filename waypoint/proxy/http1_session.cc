#include "waypoint/proxy/http1_session.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <random>

#include "common/base/log.h"
#include "common/base/strings.h"
#include "common/hbone/deadline.h"
#include "common/hbone/headers.h"
#include "waypoint/http/http1_request_parser.h"
#include "waypoint/http/http1_response_parser.h"
#include "waypoint/http/http1_serializer.h"
#include "waypoint/proxy/endpoints.h"
#include "waypoint/proxy/request_log.h"
#include "waypoint/proxy/upstream.h"

namespace ambit::waypoint {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

spdlog::logger& lg() { return log::scope("waypoint"); }

uint64_t draw() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

// Reads more bytes into `buf`; 0 on EOF or error (or when the deadline cancels the read).
template <typename Sock>
asio::awaitable<size_t> read_more(Sock& s, std::string& buf, Clock::duration timeout) {
  char tmp[16384];
  hbone::Deadline d(s.get_executor(), timeout, [&s] {
    boost::system::error_code ec;
    s.cancel(ec);
  });
  auto [ec, n] = co_await s.async_read_some(asio::buffer(tmp), asio::as_tuple(asio::use_awaitable));
  co_await d.disarm();
  if (ec) co_return 0;
  buf.append(tmp, n);
  co_return n;
}

template <typename Sock>
asio::awaitable<bool> write_all(Sock& s, std::string_view data) {
  auto [ec, n] = co_await asio::async_write(s, asio::buffer(data.data(), data.size()), asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

}  // namespace

asio::awaitable<void> serve_http1(const ProxyInputs* in, asio::io_context& io, asio::local::stream_protocol::socket down,
                                  StreamContext ctx) {
  http::Http1RequestParser parser;
  std::string buf;
  for (;;) {
    auto step = parser.next(buf);
    if (step.event == http::Http1RequestParser::Event::kNeedMore) {
      buf.erase(0, step.consumed);
      auto timeout = parser.idle() ? Clock::duration(in->settings.idle_timeout) : in->settings.request_header_timeout;
      if (co_await read_more(down, buf, timeout) == 0) co_return;  // closed, idle or slow: done
      continue;
    }
    if (step.event == http::Http1RequestParser::Event::kError) {
      (void)co_await write_all(down, http::simple_response(parser.error().status, parser.error().reason, false));
      co_return;
    }
    buf.erase(0, step.consumed);
    if (step.event != http::Http1RequestParser::Event::kHead) continue;  // a body we are not forwarding

    auto started = Clock::now();
    RequestLog log;
    log.peer = ctx.peer;
    log.authority = ctx.authority;
    http::RequestHead& head = parser.head();
    log.method = head.method;
    log.path = head.path;
    const bool down_keep_alive = parser.keep_alive();
    bool request_has_body = head.body.kind != http::BodyInfo::Kind::kNone &&
                            !(head.body.kind == http::BodyInfo::Kind::kLength && head.body.length == 0);
    auto snap = in->l7->current();
    const Listener* listener = snap->listener_for(ctx.authority);
    Plan plan;
    if (listener == nullptr) {
      plan.kind = Plan::Kind::kRespond;
      plan.status = 400;
      plan.body = "this waypoint does not serve " + ctx.authority;
    } else {
      log.service = listener->service;
      log.port = listener->port;
      plan = plan_request(*snap, *listener, ctx.peer, ctx.dst_ip, head, draw());
    }
    log.route = plan.route;
    log.policy = plan.policy;
    log.response_flags = plan.response_flags;

    auto finish = [&](int status) {
      log.status = status;
      log.duration = Clock::now() - started;
      record_request(in, log);
    };

    if (plan.kind == Plan::Kind::kRespond) {
      // A request body we do not read would be parsed as the next request: close instead.
      bool keep = down_keep_alive && !request_has_body;
      std::string out = http::simple_response(plan.status, plan.body, keep, plan.headers);
      if (!plan.detail.empty()) lg().debug("{} {} {}: {} ({})", log.method, ctx.authority, log.path, plan.status, plan.detail);
      finish(plan.status);
      if (!co_await write_all(down, out) || !keep) co_return;
      continue;
    }

    auto ep = pick_endpoint(*in->wds, plan.backend, draw());
    if (!ep.ok()) {
      log.response_flags = "UH";
      finish(503);
      (void)co_await write_all(down, http::simple_response(503, "no healthy upstream", false));
      co_return;
    }
    log.endpoint = *ep;
    if (head.expect_continue) {
      if (!co_await write_all(down, http::continue_response())) co_return;
    }
    hbone::h2::Headers connect_headers;
    connect_headers.emplace_back("forwarded", hbone::build_forwarded(net::SocketAddr{ctx.peer.ip, 0}, ep->service));
    connect_headers.emplace_back("traceparent", hbone::TraceParent::random().to_string());
    auto up = co_await Upstreams::for_worker(io).get(in, *ep, connect_headers);
    if (!up.ok()) {
      log.response_flags = "UF";
      finish(503);
      lg().info("upstream {} for {}: {}", ep->target.to_string(), ctx.authority, up.status().message());
      (void)co_await write_all(down, http::simple_response(503, "upstream connect error", false));
      co_return;
    }
    LocalSocket& usock = up->sock;

    // Request head and body, upstream.
    std::string out;
    auto up_kind = http::serialize_request_head(head, true, &out);
    if (!up_kind.ok()) {
      finish(400);
      (void)co_await write_all(down, http::simple_response(400, std::string(up_kind.status().message()), false));
      co_return;
    }
    bool ok = co_await write_all(usock, out);
    while (ok) {
      auto s = parser.next(buf);
      if (s.event == http::Http1RequestParser::Event::kNeedMore) {
        buf.erase(0, s.consumed);
        if (co_await read_more(down, buf, in->settings.request_header_timeout) == 0) {
          ok = false;
          break;
        }
        continue;
      }
      if (s.event == http::Http1RequestParser::Event::kError) {
        ok = false;
        break;
      }
      if (s.event == http::Http1RequestParser::Event::kBody) {
        std::string chunk;
        if (*up_kind == http::BodyInfo::Kind::kChunked) {
          http::append_chunk(s.body, &chunk);
        } else {
          chunk.assign(s.body);
        }
        log.request_bytes += s.body.size();
        buf.erase(0, s.consumed);
        ok = co_await write_all(usock, chunk);
        continue;
      }
      buf.erase(0, s.consumed);
      if (s.event == http::Http1RequestParser::Event::kEnd) {
        if (*up_kind == http::BodyInfo::Kind::kChunked) {
          std::string last;
          (void)http::append_last_chunk(parser.trailers(), &last);
          ok = co_await write_all(usock, last);
        }
        break;
      }
    }
    if (!ok) {
      log.response_flags = "DC";
      finish(400);
      co_return;
    }

    // Response, downstream.
    http::Http1ResponseParser rp;
    rp.start_response(head.method);
    std::string ubuf;
    bool up_keep_alive = false;
    http::BodyInfo::Kind down_kind = http::BodyInfo::Kind::kNone;
    bool head_sent = false;
    auto backend_timeout = plan.timeouts.backend_request.value_or(plan.timeouts.request.value_or(std::chrono::seconds(60)));
    for (;;) {
      auto s = rp.next(ubuf);
      if (s.event == http::Http1ResponseParser::Event::kNeedMore) {
        ubuf.erase(0, s.consumed);
        if (co_await read_more(usock, ubuf, backend_timeout) == 0) {
          s = rp.eof();
          if (s.event != http::Http1ResponseParser::Event::kEnd) {
            log.response_flags = head_sent ? "UPE" : "UT";
            finish(head_sent ? rp.head().status : 504);
            if (!head_sent) (void)co_await write_all(down, http::simple_response(504, "upstream request timeout", false));
            co_return;
          }
        } else {
          continue;
        }
      }
      if (s.event == http::Http1ResponseParser::Event::kError) {
        log.response_flags = "UPE";
        finish(502);
        if (!head_sent) (void)co_await write_all(down, http::simple_response(502, rp.error().reason, false));
        co_return;
      }
      if (s.event == http::Http1ResponseParser::Event::kInformational) {
        ubuf.erase(0, s.consumed);
        continue;  // 100-continue was answered by us; 103 is dropped
      }
      if (s.event == http::Http1ResponseParser::Event::kHead) {
        ubuf.erase(0, s.consumed);
        http::ResponseHead& rh = rp.head();
        for (const auto& m : plan.response_modifiers) l7::apply_header_modifier(m, &rh.headers);
        up_keep_alive = rp.keep_alive();
        std::string hd;
        auto k = http::serialize_response_head(rh, head.version, down_keep_alive, &hd);
        if (!k.ok()) {
          finish(502);
          (void)co_await write_all(down, http::simple_response(502, std::string(k.status().message()), false));
          co_return;
        }
        down_kind = *k;
        log.status = rh.status;
        if (!co_await write_all(down, hd)) co_return;
        head_sent = true;
        continue;
      }
      if (s.event == http::Http1ResponseParser::Event::kBody) {
        std::string chunk;
        if (down_kind == http::BodyInfo::Kind::kChunked) {
          http::append_chunk(s.body, &chunk);
        } else {
          chunk.assign(s.body);
        }
        log.response_bytes += s.body.size();
        ubuf.erase(0, s.consumed);
        if (!co_await write_all(down, chunk)) co_return;
        continue;
      }
      // kEnd
      ubuf.erase(0, s.consumed);
      if (down_kind == http::BodyInfo::Kind::kChunked) {
        std::string last;
        (void)http::append_last_chunk(rp.trailers(), &last);
        if (!co_await write_all(down, last)) co_return;
      }
      break;
    }
    finish(rp.head().status);
    if (up_keep_alive && ubuf.empty()) Upstreams::for_worker(io).put_back(*ep, std::move(usock));
    if (!down_keep_alive) co_return;
  }
}

}  // namespace ambit::waypoint
