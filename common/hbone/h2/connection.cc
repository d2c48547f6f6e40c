#include "common/hbone/h2/connection.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cstring>

#include "common/base/log.h"
#include "common/base/strings.h"

namespace ambit::hbone::h2 {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

spdlog::logger& lg() { return log::scope("h2"); }

constexpr size_t kOutHigh = 256 * 1024;     // stop serializing frames past this much pending output
constexpr size_t kReadChunk = 64 * 1024;    // app socket read size
constexpr size_t kScratch = 64 * 1024;      // TLS read scratch (per worker thread)
constexpr size_t kMaxFrameOut = 128 * 1024; // largest DATA frame we build
constexpr size_t kMaxHeaders = 100;

thread_local char t_scratch[kScratch];

// Views, not std::string temporaries: nghttp2 reads the bytes later in the submit call.
nghttp2_nv nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

void release_if_empty(std::vector<char>& v, size_t& off) {
  if (off >= v.size()) {
    off = 0;
    v.clear();
    if (v.capacity() > 64 * 1024) std::vector<char>().swap(v);
  }
}

}  // namespace

struct Connection::Stream {
  int32_t id = 0;
  Headers headers;
  size_t header_bytes = 0;
  ResponseFn on_response;
  bool response_seen = false;
  std::optional<tcp::socket> app;
  std::function<void(const StreamStats&)> on_done;
  // peer -> app
  // `to_app` is what the in-flight async_write points into, so it is never appended to while
  // app_writing; new data goes to `to_app_next` and is swapped in when the write completes.
  std::vector<char> to_app;
  size_t to_app_off = 0;
  std::vector<char> to_app_next;
  bool app_writing = false;
  bool peer_eof = false;
  bool app_write_shut = false;
  // app -> peer
  // Valid bytes are [to_peer_off, to_peer_end); the rest of the vector is room for the app read
  // in flight, which must never be mistaken for data.
  std::vector<char> to_peer;
  size_t to_peer_off = 0;
  size_t to_peer_end = 0;
  bool app_reading = false;
  bool app_eof = false;
  bool deferred = false;
  bool provider = false;
  bool h2_closed = false;
  bool finished = false;
  bool reset_after_response = false;  // error response sent: reset once its HEADERS are out
  std::function<void()> on_abort;     // set_abort_hook
  StreamStats stats;
};

std::shared_ptr<Connection> Connection::create(Role role, std::unique_ptr<TlsSocket> tls, Settings settings,
                                               Hooks hooks) {
  return std::shared_ptr<Connection>(new Connection(role, std::move(tls), settings, std::move(hooks)));
}

Connection::Connection(Role role, std::unique_ptr<TlsSocket> tls, Settings settings, Hooks hooks)
    : role_(role),
      tls_(std::move(tls)),
      settings_(settings),
      hooks_(std::move(hooks)),
      want_write_(tls_->socket().get_executor()),
      idle_since_(std::chrono::steady_clock::now()) {
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, &Connection::on_send);
  nghttp2_session_callbacks_set_send_data_callback(cbs, &Connection::on_send_data);
  nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, &Connection::on_read_length);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Connection::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Connection::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Connection::on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Connection::on_frame_send);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Connection::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Connection::on_stream_close);
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  // Windows are returned only for bytes the app accepted (backpressure), see header.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_send_header_block_length(opt, settings_.max_header_list);
  nghttp2_option_set_max_outbound_ack(opt, 1000);  // SETTINGS/PING ACK flood cap
  nghttp2_option_set_max_settings(opt, 32);
  nghttp2_option_set_max_continuations(opt, 8);    // CONTINUATION flood (CVE-2024-28182)
  nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);  // rapid reset (CVE-2023-44487)
  if (role_ == Role::kServer) {
    nghttp2_session_server_new2(&session_, cbs, this, opt);
  } else {
    nghttp2_session_client_new2(&session_, cbs, this, opt);
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
}

Connection::~Connection() {
  if (session_) nghttp2_session_del(session_);
}

void Connection::start() {
  std::vector<nghttp2_settings_entry> iv = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings_.stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, settings_.max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings_.max_header_list},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  if (role_ == Role::kServer) iv.push_back({NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings_.max_concurrent_streams});
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(settings_.connection_window));
  auto self = shared_from_this();
  auto ex = tls_->socket().get_executor();
  asio::co_spawn(ex, [self]() { return self->read_loop(); }, asio::detached);
  asio::co_spawn(ex, [self]() { return self->write_loop(); }, asio::detached);
  idle_since_ = std::chrono::steady_clock::now();
  asio::co_spawn(ex, [self]() { return self->keepalive_loop(); }, asio::detached);
  kick();
}

Connection::Stream* Connection::find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

bool Connection::usable() const {
  if (closed_ || draining_ || goaway_received_) return false;
  if (!nghttp2_session_check_request_allowed(session_)) return false;
  return streams_.size() < peer_max_streams();
}

size_t Connection::peer_max_streams() const {
  uint32_t peer = nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return std::min<size_t>(peer, 100);  // POOL_MAX_STREAMS_PER_CONNECTION
}

// ---------------------------------------------------------------------------------------------
// I/O loops

asio::awaitable<void> Connection::read_loop() {
  auto self = shared_from_this();
  SSL* ssl = tls_->ssl();
  while (!closed_) {
    // Drain everything OpenSSL can give now and parse it synchronously: the scratch buffer is
    // per thread, and nothing else runs on this thread until we wait again.
    for (;;) {
      size_t n = 0;
      ERR_clear_error();
      if (SSL_read_ex(ssl, t_scratch, kScratch, &n) == 1) {
        ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<uint8_t*>(t_scratch), n);
        if (rv < 0) {
          std::string why = nghttp2_strerror(static_cast<int>(rv));
          lg().warn("h2 protocol error from peer: {}", why);
          if (hooks_.on_protocol_error) hooks_.on_protocol_error(NGHTTP2_PROTOCOL_ERROR, why);
          // Queue a GOAWAY: the write loop flushes it, then closes with this reason (and
          // on_frame_send does not count the violation twice). Wait on a timer of our own:
          // want_write_ has one waiter, the write loop, and waiting on it here consumed the
          // wake-up, so the GOAWAY was never sent. A peer that does not take it within 100 ms is
          // cut off.
          close_reason_ = absl::InvalidArgumentError(str_cat("HTTP/2 protocol error: ", why));
          nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
          kick();
          asio::steady_timer flush(tls_->socket().get_executor());
          flush.expires_after(std::chrono::milliseconds(100));
          co_await flush.async_wait(asio::as_tuple(asio::use_awaitable));
          absl::Status reason = close_reason_;
          close(reason);
          co_return;
        }
        if (closed_) co_return;
        continue;
      }
      int e = SSL_get_error(ssl, 0);
      if (e == SSL_ERROR_WANT_READ) break;
      if (e == SSL_ERROR_WANT_WRITE) {
        auto [ec] = co_await tls_->socket().async_wait(tcp::socket::wait_write, asio::as_tuple(asio::use_awaitable));
        if (ec) {
          close(absl::UnavailableError(ec.message()));
          co_return;
        }
        continue;
      }
      if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
        absl::Status reason = close_reason_;  // OK unless we sent a GOAWAY for a violation
        close(reason);  // peer closed the connection
      } else {
        close(crypto::openssl_error("TLS read", absl::StatusCode::kUnavailable));
      }
      co_return;
    }
    kick();
    if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
      absl::Status reason = close_reason_;
      close(reason);
      co_return;
    }
    auto [ec] = co_await tls_->socket().async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      close(absl::UnavailableError(ec.message()));
      co_return;
    }
  }
}

asio::awaitable<void> Connection::write_loop() {
  auto self = shared_from_this();
  while (!closed_) {
    co_await want_write_.wait();
    while (!closed_) {
      out_.clear();
      int rv = nghttp2_session_send(session_);
      if (rv != 0) {
        close(absl::InternalError(str_cat("HTTP/2 send: ", nghttp2_strerror(rv))));
        co_return;
      }
      if (out_.empty()) break;
      absl::Status st = co_await tls_->write_all(out_);
      if (!st.ok()) {
        close(st);
        co_return;
      }
    }
    if (out_.capacity() > kOutHigh) std::vector<char>().swap(out_);
    if (!closed_ && nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
      absl::Status reason = close_reason_;  // OK unless the read loop hit a protocol error
      close(reason);
      co_return;
    }
  }
}

asio::awaitable<void> Connection::keepalive_loop() {
  auto self = shared_from_this();
  asio::steady_timer t(tls_->socket().get_executor());
  const bool idle_limit = settings_.idle_timeout.count() > 0;
  auto tick = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.ping_interval);
  if (idle_limit) tick = std::min(tick, std::chrono::duration_cast<std::chrono::milliseconds>(settings_.idle_timeout) / 2);
  while (!closed_) {
    t.expires_after(tick);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    if (closed_) co_return;
    auto now = std::chrono::steady_clock::now();
    // A connection that carries no stream for the idle timeout only holds an fd: let it go
    // (GOAWAY first, so a client that is about to use it opens a new one instead).
    if (idle_limit && streams_.empty() && !draining_ && now - idle_since_ >= settings_.idle_timeout) {
      lg().debug("no stream for {}s; closing", settings_.idle_timeout.count());
      if (hooks_.on_idle_timeout) hooks_.on_idle_timeout();
      drain();
      continue;
    }
    if (ping_outstanding_) {
      if (now - ping_sent_ >= settings_.ping_timeout) {
        lg().warn("HTTP/2 PING not answered within {}s; closing", settings_.ping_timeout.count());
        close(absl::DeadlineExceededError("HTTP/2 keepalive timeout"));
        co_return;
      }
      continue;
    }
    if (now - ping_sent_ < settings_.ping_interval) continue;
    nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
    ping_outstanding_ = true;
    ping_sent_ = now;
    kick();
  }
}

// ---------------------------------------------------------------------------------------------
// Streams

absl::StatusOr<int32_t> Connection::open_stream(const Headers& request, ResponseFn on_response) {
  if (!usable()) return absl::UnavailableError("HTTP/2 connection cannot take new streams");
  std::vector<nghttp2_nv> nva;
  for (const auto& [k, v] : request) nva.push_back(nv(k, v));
  nghttp2_data_provider prd{};
  prd.read_callback = &Connection::on_read_data;
  int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), &prd, nullptr);
  if (id < 0) return absl::UnavailableError(str_cat("submit CONNECT: ", nghttp2_strerror(id)));
  auto s = std::make_unique<Stream>();
  s->id = id;
  s->on_response = std::move(on_response);
  s->provider = true;
  streams_[id] = std::move(s);
  kick();
  return id;
}

void Connection::respond(int32_t id, int status, const Headers& extra) {
  Stream* s = find(id);
  if (!s || closed_) return;
  std::string st = std::to_string(status);
  std::vector<nghttp2_nv> nva = {nv(":status", st)};
  for (const auto& [k, v] : extra) nva.push_back(nv(k, v));
  if (status >= 200 && status < 300) {
    nghttp2_data_provider prd{};
    prd.read_callback = &Connection::on_read_data;
    s->provider = true;
    nghttp2_submit_response(session_, id, nva.data(), nva.size(), &prd);
  } else {
    // An error status ends our half. The request half is reset only after the response is on
    // the wire: nghttp2 sends RST_STREAM ahead of queued HEADERS, which would lose the status.
    nghttp2_submit_response(session_, id, nva.data(), nva.size(), nullptr);
    s->reset_after_response = true;
  }
  kick();
}

void Connection::attach(int32_t id, tcp::socket app, std::function<void(const StreamStats&)> on_done) {
  Stream* s = find(id);
  if (!s || closed_ || s->h2_closed) {
    boost::system::error_code ec;
    app.set_option(tcp::socket::linger(true, 0), ec);
    app.close(ec);
    if (on_done) {
      StreamStats st;
      st.error = "stream closed before the app connection was attached";
      st.reset_code = NGHTTP2_CANCEL;
      on_done(st);
    }
    return;
  }
  boost::system::error_code ec;
  app.non_blocking(true, ec);
  app.set_option(tcp::no_delay(true), ec);
  s->app.emplace(std::move(app));
  s->on_done = std::move(on_done);
  // Data that arrived before the app was attached.
  if (s->to_app.size() > s->to_app_off) app_write(id);
  else if (s->peer_eof) app_write(id);
  app_read(id);
}

void Connection::submit_reset(int32_t id, uint32_t error_code) {
  our_resets_.insert(id);
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error_code);
}

void Connection::count_provoked_reset() {
  // Token bucket as nghttp2's rapid-reset limiter (1000, refilled at 33/s), for the resets the
  // *peer* makes us send (MadeYouReset, CVE-2025-8671): each frees a stream slot just like a
  // reset the peer sends itself, which the nghttp2 in use does not count.
  auto now = std::chrono::steady_clock::now();
  double refill = std::chrono::duration<double>(now - provoked_at_).count() * kProvokedResetRate;
  provoked_tokens_ = std::min(kProvokedResetBurst, provoked_tokens_ + refill);
  provoked_at_ = now;
  if (provoked_tokens_ >= 1) {
    provoked_tokens_ -= 1;
    return;
  }
  if (!goaway_for_resets_) {
    goaway_for_resets_ = true;
    lg().warn("peer provoked more than {} stream resets; closing", static_cast<int>(kProvokedResetBurst));
    nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
    kick();
  }
}

void Connection::count_empty_data() {
  // An empty DATA frame without END_STREAM carries nothing; a long run of them is only work for
  // us (CVE-2019-9518). nghttp2 does not limit them, so we do, as Envoy does with
  // max_consecutive_inbound_frames_with_empty_payload. The run resets on any DATA with payload.
  if (++empty_data_run_ <= kMaxEmptyDataRun || goaway_for_empty_) return;
  goaway_for_empty_ = true;
  lg().warn("peer sent more than {} empty DATA frames in a row; closing", kMaxEmptyDataRun);
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
  kick();
}

bool Connection::set_abort_hook(int32_t id, std::function<void()> fn) {
  Stream* s = find(id);
  if (!s || s->h2_closed) return false;
  s->on_abort = std::move(fn);
  return true;
}

void Connection::reset(int32_t id, uint32_t error_code) {
  Stream* s = find(id);
  if (!s) return;
  s->stats.reset_code = error_code;
  submit_reset(id, error_code);
  fail_stream_app(*s, true);
  kick();
}

void Connection::fail_stream_app(Stream& s, bool reset_app) {
  if (!s.app || !s.app->is_open()) return;
  boost::system::error_code ec;
  if (reset_app) s.app->set_option(tcp::socket::linger(true, 0), ec);  // RST, as ztunnel does
  s.app->close(ec);  // pending app operations complete with operation_aborted
}

void Connection::app_read(int32_t id) {
  Stream* s = find(id);
  if (!s || !s->app || s->app_reading || s->app_eof || s->h2_closed) return;
  if (s->to_peer_end - s->to_peer_off >= settings_.send_buffer_limit) return;  // resumed by on_send_data
  if (to_peer_buffered_ >= settings_.connection_send_buffer_limit) {
    // Resumed by on_send_data once the connection drains.
    if (std::find(paused_for_budget_.begin(), paused_for_budget_.end(), id) == paused_for_budget_.end()) {
      paused_for_budget_.push_back(id);
    }
    return;
  }
  s->app_reading = true;
  auto self = shared_from_this();
  // Wait for readability first and read only then: an idle stream holds no read buffer.
  s->app->async_wait(tcp::socket::wait_read, [self, id](boost::system::error_code ec) {
    Stream* s = self->find(id);
    if (!s) return;
    s->app_reading = false;
    if (!ec && s->app && s->app->is_open() && !s->h2_closed) {
      if (s->to_peer_off == s->to_peer_end) s->to_peer_off = s->to_peer_end = 0;
      // Drain what is readable now, up to the send-buffer limit.
      while (s->to_peer_end - s->to_peer_off < self->settings_.send_buffer_limit &&
             self->to_peer_buffered_ < self->settings_.connection_send_buffer_limit) {
        if (s->to_peer.size() < s->to_peer_end + kReadChunk) s->to_peer.resize(s->to_peer_end + kReadChunk);
        ssize_t n = ::recv(s->app->native_handle(), s->to_peer.data() + s->to_peer_end, kReadChunk, MSG_DONTWAIT);
        if (n > 0) {
          s->to_peer_end += static_cast<size_t>(n);
          self->to_peer_buffered_ += static_cast<size_t>(n);
          s->stats.bytes_to_peer += static_cast<uint64_t>(n);
          if (static_cast<size_t>(n) < kReadChunk) break;
          continue;
        }
        if (n == 0) {
          s->app_eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          ec = boost::system::error_code(errno, boost::system::system_category());
        }
        break;
      }
      if (s->to_peer_off == s->to_peer_end) {
        s->to_peer_off = s->to_peer_end = 0;
        std::vector<char>().swap(s->to_peer);
      }
    }
    if (ec) {
      if (ec != asio::error::operation_aborted && !s->h2_closed) {
        s->stats.error = ec.message();
        s->stats.reset_code = NGHTTP2_CANCEL;
        self->submit_reset(id, NGHTTP2_CANCEL);
        self->fail_stream_app(*s, true);
      }
      self->kick();
      self->maybe_finish(id);
      return;
    }
    if (s->deferred && !s->h2_closed && (s->to_peer_end > s->to_peer_off || s->app_eof)) {
      s->deferred = false;
      nghttp2_session_resume_data(self->session_, id);
    }
    self->kick();
    if (!s->app_eof) self->app_read(id);
    else self->maybe_finish(id);
  });
}

void Connection::app_deliver(Stream& s, const uint8_t* data, size_t len) {
  if (len == 0) return;
  // Fast path: nothing queued, app attached — try writing straight from the parse buffer.
  if (s.app && s.app->is_open() && !s.app_writing && s.to_app_off >= s.to_app.size()) {
    ssize_t n = ::send(s.app->native_handle(), data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      nghttp2_session_consume(session_, s.id, static_cast<size_t>(n));
      s.stats.bytes_to_app += static_cast<uint64_t>(n);
      data += n;
      len -= static_cast<size_t>(n);
    }
    if (len == 0) return;
  }
  if (s.app_writing) {
    s.to_app_next.insert(s.to_app_next.end(), data, data + len);
    return;
  }
  if (s.to_app_off > 0 && s.to_app_off == s.to_app.size()) {
    s.to_app.clear();
    s.to_app_off = 0;
  }
  s.to_app.insert(s.to_app.end(), data, data + len);
  app_write(s.id);
}

void Connection::app_write(int32_t id) {
  Stream* s = find(id);
  if (!s || !s->app || !s->app->is_open() || s->app_writing) return;
  if (s->to_app_off >= s->to_app.size() && !s->to_app_next.empty()) {
    s->to_app.swap(s->to_app_next);
    s->to_app_next.clear();
    s->to_app_off = 0;
  }
  if (s->to_app_off >= s->to_app.size()) {
    release_if_empty(s->to_app, s->to_app_off);
    if (s->to_app_next.capacity() > 0) std::vector<char>().swap(s->to_app_next);
    if (s->peer_eof && !s->app_write_shut) {
      boost::system::error_code ec;
      s->app->shutdown(tcp::socket::shutdown_send, ec);
      s->app_write_shut = true;
      maybe_finish(id);
    }
    return;
  }
  s->app_writing = true;
  auto self = shared_from_this();
  size_t off = s->to_app_off;
  asio::async_write(*s->app, asio::buffer(s->to_app.data() + off, s->to_app.size() - off),
                    [self, id](boost::system::error_code ec, size_t n) {
                      Stream* s = self->find(id);
                      if (!s) return;
                      s->app_writing = false;
                      if (ec) {
                        if (ec != asio::error::operation_aborted && !s->h2_closed) {
                          s->stats.error = ec.message();
                          s->stats.reset_code = NGHTTP2_CANCEL;
                          self->submit_reset(id, NGHTTP2_CANCEL);
                          self->fail_stream_app(*s, true);
                        }
                        self->kick();
                        self->maybe_finish(id);
                        return;
                      }
                      s->to_app_off += n;
                      s->stats.bytes_to_app += n;
                      if (!s->h2_closed) nghttp2_session_consume(self->session_, id, n);
                      else nghttp2_session_consume_connection(self->session_, n);
                      self->kick();
                      self->app_write(id);
                    });
}

void Connection::resume_paused_reads() {
  if (paused_for_budget_.empty() || to_peer_buffered_ >= settings_.connection_send_buffer_limit) return;
  std::vector<int32_t> ids;
  ids.swap(paused_for_budget_);
  for (int32_t id : ids) app_read(id);  // each re-checks, and pauses again if the budget is gone
}

size_t Connection::unwritten(const Stream& s) {
  size_t n = s.to_app_next.size();
  if (s.to_app_off < s.to_app.size()) n += s.to_app.size() - s.to_app_off;
  return n;
}

size_t Connection::pending_to_app() const {
  size_t n = 0;
  for (const auto& [id, s] : streams_) n += unwritten(*s);
  return n;
}


void Connection::maybe_finish(int32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream& s = *it->second;
  if (!s.h2_closed || s.app_reading || s.app_writing) return;
  bool reset = s.stats.reset_code != 0;
  if (!reset && s.app && s.app->is_open() && (s.to_app_off < s.to_app.size() || !s.to_app_next.empty())) {
    return;  // still flushing to the app
  }
  if (s.app && s.app->is_open()) {
    boost::system::error_code ec;
    if (reset) s.app->set_option(tcp::socket::linger(true, 0), ec);
    s.app->close(ec);
  }
  // Its unsent app bytes leave the connection's budget with it.
  to_peer_buffered_ -= s.to_peer_end - s.to_peer_off;
  resume_paused_reads();
  // What the stream still held for its app will never be written: return its share of the
  // connection window now. Dropped silently, a few aborted downloads would use the window up
  // and every later stream on this connection would get its 200 and then no data.
  if (size_t unconsumed = unwritten(s); unconsumed > 0 && !closed_) {
    nghttp2_session_consume_connection(session_, unconsumed);
    kick();
  }
  if (!s.response_seen && s.on_response) {
    auto fn = std::move(s.on_response);
    fn(0, {});
  }
  auto done = std::move(s.on_done);
  StreamStats stats = s.stats;
  streams_.erase(it);
  if (streams_.empty()) idle_since_ = std::chrono::steady_clock::now();
  if (done) done(stats);
  if (draining_ && streams_.empty() && !closed_) {
    nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
    kick();
  }
}

void Connection::drain() {
  if (closed_ || draining_) return;
  draining_ = true;
  if (role_ == Role::kServer) {
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
  }
  if (streams_.empty()) nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
  kick();
}

void Connection::close(const absl::Status& why) {
  if (closed_) return;
  closed_ = true;
  close_reason_ = why;
  auto self = shared_from_this();
  // Streams first: their app sockets are reset, their owners told.
  std::vector<int32_t> ids;
  for (auto& [id, s] : streams_) ids.push_back(id);
  for (int32_t id : ids) {
    Stream* s = find(id);
    if (!s) continue;
    s->h2_closed = true;
    if (s->stats.reset_code == 0) s->stats.reset_code = NGHTTP2_CANCEL;
    if (s->stats.error.empty()) s->stats.error = why.ok() ? "connection closed" : std::string(why.message());
    fail_stream_app(*s, true);
    s->app_reading = s->app_writing = false;  // their handlers will find nothing
    maybe_finish(id);
  }
  streams_.clear();
  to_peer_buffered_ = 0;
  paused_for_budget_.clear();
  tls_->shutdown();
  tls_->close();
  want_write_.notify();
  if (hooks_.on_closed) {
    auto fn = std::move(hooks_.on_closed);
    fn(why);
  }
}

// ---------------------------------------------------------------------------------------------
// nghttp2 callbacks

ssize_t Connection::on_send(nghttp2_session*, const uint8_t* data, size_t len, int, void* user) {
  auto* c = static_cast<Connection*>(user);
  if (c->out_.size() >= kOutHigh) return NGHTTP2_ERR_WOULDBLOCK;
  c->out_.insert(c->out_.end(), data, data + len);
  return static_cast<ssize_t>(len);
}

int Connection::on_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length,
                             nghttp2_data_source*, void* user) {
  auto* c = static_cast<Connection*>(user);
  if (c->out_.size() >= kOutHigh) return NGHTTP2_ERR_WOULDBLOCK;
  Stream* s = c->find(frame->hd.stream_id);
  if (!s || s->to_peer_end - s->to_peer_off < length) return NGHTTP2_ERR_CALLBACK_FAILURE;
  c->out_.insert(c->out_.end(), framehd, framehd + 9);
  c->out_.insert(c->out_.end(), s->to_peer.data() + s->to_peer_off, s->to_peer.data() + s->to_peer_off + length);
  s->to_peer_off += length;
  c->to_peer_buffered_ -= length;
  if (s->to_peer_off == s->to_peer_end) {
    s->to_peer_off = s->to_peer_end = 0;
    std::vector<char>().swap(s->to_peer);  // released while idle; reallocated on the next read
  }
  if (!s->app_reading && !s->app_eof) c->app_read(s->id);
  c->resume_paused_reads();
  return 0;
}

ssize_t Connection::on_read_length(nghttp2_session*, uint8_t, int32_t, int32_t session_window, int32_t stream_window,
                                   uint32_t remote_max_frame_size, void*) {
  int64_t n = std::min<int64_t>({session_window, stream_window, remote_max_frame_size, kMaxFrameOut});
  return static_cast<ssize_t>(std::max<int64_t>(n, 1));
}

ssize_t Connection::on_read_data(nghttp2_session*, int32_t stream_id, uint8_t*, size_t length, uint32_t* flags,
                                 nghttp2_data_source*, void* user) {
  auto* c = static_cast<Connection*>(user);
  Stream* s = c->find(stream_id);
  if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  size_t avail = s->to_peer_end - s->to_peer_off;
  // Until the app side is attached (client: before 200), nothing to send.
  if (!s->app) {
    s->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (avail == 0) {
    if (s->app_eof) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    s->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  size_t n = std::min(avail, length);
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (s->app_eof && n == avail) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

int Connection::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (c->role_ == Role::kServer && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (c->draining_) {
      c->submit_reset(frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    auto s = std::make_unique<Stream>();
    s->id = frame->hd.stream_id;
    c->streams_[s->id] = std::move(s);
  }
  return 0;
}

int Connection::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                          const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* c = static_cast<Connection*>(user);
  Stream* s = c->find(frame->hd.stream_id);
  if (!s) return 0;
  s->header_bytes += namelen + valuelen + 32;
  if (s->headers.size() >= kMaxHeaders || s->header_bytes > c->settings_.max_header_list) {
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // RST_STREAM for this stream only
  }
  s->headers.emplace_back(std::string(reinterpret_cast<const char*>(name), namelen),
                          std::string(reinterpret_cast<const char*>(value), valuelen));
  return 0;
}

int Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<Connection*>(user);
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* s = c->find(frame->hd.stream_id);
      if (!s) break;
      if (c->role_ == Role::kServer && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (c->hooks_.on_request) c->hooks_.on_request(s->id, s->headers);
      } else if (c->role_ == Role::kClient && frame->headers.cat == NGHTTP2_HCAT_RESPONSE && !s->response_seen) {
        int status = 0;
        for (const auto& [k, v] : s->headers) {
          if (k == ":status") status = std::atoi(v.c_str());
        }
        if (status >= 100 && status < 200) {
          s->headers.clear();  // informational; wait for the final response
          break;
        }
        s->response_seen = true;
        if (s->on_response) {
          auto fn = std::move(s->on_response);
          Headers h = s->headers;
          fn(status, h);
        }
      }
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        if (Stream* s2 = c->find(frame->hd.stream_id)) {
          s2->peer_eof = true;
          c->app_write(s2->id);
        }
      }
      break;
    }
    case NGHTTP2_DATA:
      if (frame->hd.length == 0 && !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        c->count_empty_data();
      } else {
        c->empty_data_run_ = 0;
      }
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        if (Stream* s = c->find(frame->hd.stream_id)) {
          s->peer_eof = true;
          c->app_write(s->id);
        }
      }
      break;
    case NGHTTP2_PING:
      if (frame->hd.flags & NGHTTP2_FLAG_ACK) c->ping_outstanding_ = false;
      break;
    case NGHTTP2_GOAWAY:
      c->goaway_received_ = true;
      break;
    default:
      break;
  }
  return 0;
}

int Connection::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<Connection*>(user);
  if (frame->hd.type == NGHTTP2_RST_STREAM && c->our_resets_.erase(frame->hd.stream_id) == 0) {
    c->count_provoked_reset();  // nghttp2 sent it for a stream error the peer committed
  }
  if (frame->hd.type == NGHTTP2_HEADERS && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    Stream* s = c->find(frame->hd.stream_id);
    if (s && s->reset_after_response && !s->h2_closed) {
      c->submit_reset(s->id, NGHTTP2_NO_ERROR);
    }
  }
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
    std::string why(reinterpret_cast<const char*>(frame->goaway.opaque_data), frame->goaway.opaque_data_len);
    lg().warn("sent GOAWAY {} ({}): {}", frame->goaway.error_code, nghttp2_http2_strerror(frame->goaway.error_code), why);
    // Report once: a fatal error was already reported by the read loop (close_reason_ set
    // there). The connection then ends with this reason, not OK.
    if (c->close_reason_.ok()) {
      if (c->hooks_.on_protocol_error) c->hooks_.on_protocol_error(frame->goaway.error_code, why);
      c->close_reason_ = absl::InvalidArgumentError(
          str_cat("sent GOAWAY ", nghttp2_http2_strerror(frame->goaway.error_code), ": ", why));
    }
  }
  return 0;
}

int Connection::on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data, size_t len,
                              void* user) {
  auto* c = static_cast<Connection*>(user);
  Stream* s = c->find(stream_id);
  if (!s || s->stats.reset_code != 0) {
    nghttp2_session_consume_connection(c->session_, len);
    return 0;
  }
  if (!s->app) {
    // Early data (before attach): hold it, and its window, until the app is there.
    s->to_app.insert(s->to_app.end(), data, data + len);
    return 0;
  }
  c->app_deliver(*s, data, len);
  return 0;
}

int Connection::on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user) {
  auto* c = static_cast<Connection*>(user);
  c->our_resets_.erase(stream_id);  // a reset we queued but that was never sent
  Stream* s = c->find(stream_id);
  if (!s) return 0;
  s->h2_closed = true;
  if (s->on_abort) {
    auto abort = std::move(s->on_abort);
    s->on_abort = nullptr;
    abort();
  }
  if (error_code != NGHTTP2_NO_ERROR && s->stats.reset_code == 0) {
    s->stats.reset_code = error_code;
    s->stats.error = str_cat("stream reset: ", nghttp2_http2_strerror(error_code));
  }
  if (s->stats.reset_code != 0) {
    c->fail_stream_app(*s, true);
  } else if (s->app && s->app->is_open()) {
    // Graceful end: stop reading the app; finish writing what it is owed.
    boost::system::error_code ec;
    if (!s->app_eof) s->app->shutdown(tcp::socket::shutdown_receive, ec);
    c->app_write(stream_id);
  }
  c->maybe_finish(stream_id);
  return 0;
}

}  // namespace ambit::hbone::h2
