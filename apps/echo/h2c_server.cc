#include "apps/echo/h2c_server.h"

#include <nghttp2/nghttp2.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <map>
#include <memory>

#include "apps/echo/listener.h"

namespace ambit::echo {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return {const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
          const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};  // nghttp2 copies them
}

class H2cConnection : public std::enable_shared_from_this<H2cConnection> {
 public:
  H2cConnection(tcp::socket sock, std::string name);
  ~H2cConnection() { nghttp2_session_del(session_); }

  // Reads until the peer goes or the session ends. Writers and delayed answers hold their own
  // reference, so the connection outlives this loop until they are done.
  static asio::awaitable<void> run(std::shared_ptr<H2cConnection> self, std::string initial,
                                   std::optional<H2cUpgrade> upgrade) {
    nghttp2_settings_entry iv{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100};
    nghttp2_submit_settings(self->session_, NGHTTP2_FLAG_NONE, &iv, 1);
    if (upgrade) {
      const auto* s = reinterpret_cast<const uint8_t*>(upgrade->settings.data());
      if (int rv = nghttp2_session_upgrade2(self->session_, s, upgrade->settings.size(),
                                            upgrade->request.method == "HEAD", nullptr);
          rv != 0) {
        traffic_log().warn("HTTP/2 {}: upgrade: {}", self->peer_, nghttp2_strerror(rv));
        co_return;
      }
      upgrade->request.protocol = "HTTP/2";
      self->streams_[1].req = std::move(upgrade->request);
      self->respond(1);
    }
    std::array<char, 16384> buf;
    for (std::string_view data = initial; self->receive(data);) {
      if (!nghttp2_session_want_read(self->session_)) break;
      auto [ec, n] = co_await self->sock_.async_read_some(asio::buffer(buf), kTuple);
      if (ec) break;
      data = {buf.data(), n};
    }
  }

 private:
  struct Stream {
    Request req;
    std::string body;  // the answer's
    size_t sent = 0;
  };

  Stream* find(int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : &it->second;
  }

  bool receive(std::string_view data) {
    ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data.data()), data.size());
    if (rv < 0) traffic_log().warn("HTTP/2 {}: {}", peer_, nghttp2_strerror(static_cast<int>(rv)));
    flush();
    return rv >= 0;
  }

  void respond(int32_t id) {
    Response r = answer(streams_[id].req, name_);
    if (r.delay.count() == 0) return submit(id, std::move(r));
    auto timer = std::make_shared<asio::steady_timer>(sock_.get_executor(), r.delay);
    timer->async_wait([self = shared_from_this(), timer, id, r = std::move(r)](auto) mutable {
      if (!self->find(id)) return;  // reset by the client meanwhile
      self->submit(id, std::move(r));
      self->flush();
    });
  }

  void submit(int32_t id, Response r) {
    Stream& s = streams_[id];
    traffic_log().info("{}", log_line(s.req, r));
    std::string status = std::to_string(r.status), length = std::to_string(r.body.size());
    if (s.req.method != "HEAD") s.body = std::move(r.body);
    nghttp2_nv nv[] = {make_nv(":status", status), make_nv("content-type", r.content_type),
                       make_nv("content-length", length), make_nv("server", "ambit-echo")};
    nghttp2_data_provider body{};
    body.read_callback = [](nghttp2_session*, int32_t id, uint8_t* buf, size_t len, uint32_t* flags,
                            nghttp2_data_source*, void* user) -> ssize_t {
      Stream* s = static_cast<H2cConnection*>(user)->find(id);
      if (s == nullptr) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      size_t n = std::min(len, s->body.size() - s->sent);
      std::memcpy(buf, s->body.data() + s->sent, n);
      s->sent += n;
      if (s->sent == s->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    nghttp2_submit_response(session_, id, nv, std::size(nv), s.body.empty() ? nullptr : &body);
  }

  // Writes what nghttp2 has queued. One writer at a time; the running one picks up more.
  void flush() {
    if (writing_) return;
    writing_ = true;
    asio::co_spawn(sock_.get_executor(), write_loop(shared_from_this()), asio::detached);
  }

  static asio::awaitable<void> write_loop(std::shared_ptr<H2cConnection> self) {
    for (std::string out;; out.clear()) {
      const uint8_t* data;
      for (ssize_t n; out.size() < 65536 && (n = nghttp2_session_mem_send(self->session_, &data)) > 0;) {
        out.append(reinterpret_cast<const char*>(data), n);
      }
      if (out.empty()) break;
      auto [ec, n] = co_await asio::async_write(self->sock_, asio::buffer(out), kTuple);
      if (ec) break;  // the reader sees the broken connection too
    }
    self->writing_ = false;
  }

  tcp::socket sock_;
  std::string name_, peer_, local_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, Stream> streams_;
  bool writing_ = false;
};

H2cConnection::H2cConnection(tcp::socket sock, std::string name) : sock_(std::move(sock)), name_(std::move(name)) {
  boost::system::error_code ec;
  peer_ = format_endpoint(sock_.remote_endpoint(ec));
  local_ = format_endpoint(sock_.local_endpoint(ec));
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, [](nghttp2_session*, const nghttp2_frame* f, void* user) {
    auto* c = static_cast<H2cConnection*>(user);
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST) {
      c->streams_[f->hd.stream_id].req = Request{.protocol = "HTTP/2", .method = {}, .path = {}, .headers = {},
                                                 .peer = c->peer_, .local = c->local_, .body_bytes = 0};
    }
    return 0;
  });
  nghttp2_session_callbacks_set_on_header_callback(
      cbs, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t namelen, const uint8_t* value,
              size_t valuelen, uint8_t, void* user) {
        Stream* s = static_cast<H2cConnection*>(user)->find(f->hd.stream_id);
        if (s == nullptr) return 0;
        std::string n(reinterpret_cast<const char*>(name), namelen), v(reinterpret_cast<const char*>(value), valuelen);
        if (n == ":method") s->req.method = std::move(v);
        else if (n == ":path") s->req.path = std::move(v);
        else s->req.headers.emplace_back(std::move(n), std::move(v));
        return 0;
      });
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      cbs, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t*, size_t len, void* user) {
        if (Stream* s = static_cast<H2cConnection*>(user)->find(id)) s->req.body_bytes += len;
        return 0;
      });
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, [](nghttp2_session*, const nghttp2_frame* f, void* user) {
    auto* c = static_cast<H2cConnection*>(user);
    bool request_done = (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
                        (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (request_done && c->find(f->hd.stream_id)) c->respond(f->hd.stream_id);
    return 0;
  });
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, [](nghttp2_session*, int32_t id, uint32_t, void* user) {
    static_cast<H2cConnection*>(user)->streams_.erase(id);
    return 0;
  });
  nghttp2_session_server_new(&session_, cbs, this);
  nghttp2_session_callbacks_del(cbs);
}

}  // namespace

void serve_h2c(tcp::socket sock, std::string initial, std::optional<H2cUpgrade> upgrade, std::string server_name) {
  auto ex = sock.get_executor();
  auto conn = std::make_shared<H2cConnection>(std::move(sock), std::move(server_name));
  asio::co_spawn(ex, H2cConnection::run(std::move(conn), std::move(initial), std::move(upgrade)), asio::detached);
}

}  // namespace ambit::echo
