// One HTTP/2 connection over mTLS (nghttp2), client or server side of HBONE, carrying CONNECT
// streams that are each spliced to a plain TCP socket (the app side).
//
// Data path (one worker thread, no locks):
//   app → peer: the app socket is read straight into the stream's send buffer; nghttp2 frames it
//     with NO_COPY, so the payload is copied once, into the TLS write buffer, and encrypted there.
//   peer → app: decrypted bytes are parsed in a per-worker scratch buffer; DATA payloads are
//     written to the app socket immediately when it is writable, buffered otherwise. The stream's
//     flow-control window is returned (nghttp2_session_consume) only for bytes the app accepted,
//     so a slow app slows its peer instead of growing our memory.
//   Backpressure the other way: the send buffer is capped; when full, the app is not read until
//   nghttp2 has taken bytes out of it.
// Idle connections hold no I/O buffers (they are released when empty; OpenSSL releases its
// record buffers too), which keeps the per-idle-connection footprint small.
//
// Limits from istio/ztunnel (src/config.rs, src/proxy/h2): stream window 4 MiB, connection window
// 16 MiB, max frame 1 MiB, server max concurrent streams 200, keepalive PING every 10 s with a
// 20 s timeout. nghttp2's abuse limits are on: rapid-reset rate limit, CONTINUATION cap,
// SETTINGS/PING-ACK caps; ours on top: provoked-reset limit, empty-DATA run cap. Violations end
// in GOAWAY and are counted.
#pragma once

#include <nghttp2/nghttp2.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "common/hbone/notify.h"
#include "common/hbone/tls_socket.h"

namespace ambit::hbone::h2 {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Settings {
  uint32_t stream_window = 4 * 1024 * 1024;
  uint32_t connection_window = 16 * 1024 * 1024;
  uint32_t max_frame_size = 1024 * 1024;
  uint32_t max_concurrent_streams = 200;   // what we accept (server)
  uint32_t max_header_list = 64 * 1024;
  std::chrono::seconds ping_interval{10};
  std::chrono::seconds ping_timeout{20};
  size_t send_buffer_limit = 256 * 1024;   // per stream, app → peer
  // All streams of the connection together, app → peer: with the peer's windows closed, 100
  // streams would otherwise each hold send_buffer_limit plus a read. It fills only while the
  // streams' bytes cannot leave (windows used up, socket full); with HBONE's windows (4 MiB per
  // stream, 16 MiB per connection) the connection window runs out after four stalled streams,
  // before the budget could hold back a stream that was still able to send.
  size_t connection_send_buffer_limit = 4 * 1024 * 1024;
  std::chrono::seconds idle_timeout{0};    // close after this long without a stream (0: never)
};

// What a finished stream reports (metrics, access log).
struct StreamStats {
  uint64_t bytes_to_app = 0;   // received from the peer, written to the app
  uint64_t bytes_to_peer = 0;  // read from the app, sent to the peer
  uint32_t reset_code = 0;     // non-zero: RST_STREAM (either side)
  std::string error;
};

struct Hooks {
  // Server: a complete request (headers) arrived on `stream`. Respond later with respond().
  std::function<void(int32_t stream, const Headers& headers)> on_request;
  // Connection is gone (after all streams finished or on error).
  std::function<void(const absl::Status&)> on_closed;
  // The connection is being closed for idleness (Settings::idle_timeout).
  std::function<void()> on_idle_timeout;
  // A protocol violation made us send GOAWAY (abuse counters).
  std::function<void(uint32_t error_code, const std::string& why)> on_protocol_error;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Role { kClient, kServer };

  static std::shared_ptr<Connection> create(Role role, std::unique_ptr<TlsSocket> tls, Settings settings, Hooks hooks);
  ~Connection();

  // Sends the preface/SETTINGS and starts the read, write and keepalive loops.
  void start();

  // Client: opens a CONNECT stream. `on_response` runs once with the response status (0 if the
  // stream failed before a response) and headers.
  using ResponseFn = std::function<void(int status, const Headers& headers)>;
  absl::StatusOr<int32_t> open_stream(const Headers& request, ResponseFn on_response);

  // Server: answers a request. A 2xx keeps the stream open for attach(); anything else ends it.
  void respond(int32_t stream, int status, const Headers& extra = {});
  // Either side: splices an established stream with `app`. `on_done` runs when both directions
  // have finished or the stream was reset.
  void attach(int32_t stream, boost::asio::ip::tcp::socket app, std::function<void(const StreamStats&)> on_done);
  // Server, before attach(): `fn` runs if the stream closes first (the peer reset it, or made us
  // reset it), so work started for it — the app connect — is cancelled instead of completing for
  // nobody. Pass nullptr once that work is done. False if the stream is already gone.
  bool set_abort_hook(int32_t stream, std::function<void()> fn);
  // Aborts a stream (RST_STREAM) and resets its app socket.
  void reset(int32_t stream, uint32_t error_code);

  // Graceful: GOAWAY, no new streams, close once the open ones finish.
  void drain();
  // Abrupt: close everything now (app sockets are reset).
  void close(const absl::Status& why);

  bool usable() const;  // can take a new client stream
  size_t active_streams() const { return streams_.size(); }
  size_t peer_max_streams() const;
  bool closed() const { return closed_; }
  SSL* ssl() const { return tls_->ssl(); }
  boost::asio::ip::tcp::socket& socket() { return tls_->socket(); }
  std::chrono::steady_clock::time_point idle_since() const { return idle_since_; }
  // Bytes received from the peer and not yet written to the apps. Their share of the connection
  // window comes back only as they are written — or, for a stream that ends first, when it ends.
  size_t pending_to_app() const;
  // Bytes read from the apps and not yet handed to the peer (bounded by the send-buffer limits):
  // what a peer that grants tiny windows or stops reading makes us hold (CVE-2019-9511, -9517).
  size_t pending_to_peer() const { return to_peer_buffered_; }

 private:
  struct Stream;
  Connection(Role role, std::unique_ptr<TlsSocket> tls, Settings settings, Hooks hooks);

  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  boost::asio::awaitable<void> keepalive_loop();
  void kick() { want_write_.notify(); }
  Stream* find(int32_t id);
  void app_read(int32_t id);
  void app_write(int32_t id);
  void app_deliver(Stream& s, const uint8_t* data, size_t len);
  void maybe_finish(int32_t id);
  static size_t unwritten(const Stream& s);
  void resume_paused_reads();  // held for the app, not yet written (nor consumed)
  void fail_stream_app(Stream& s, bool reset_app);
  void submit_reset(int32_t id, uint32_t error_code);  // every RST_STREAM we decide to send
  void count_provoked_reset();                         // one nghttp2 sent for a peer's error
  void count_empty_data();                             // an empty DATA frame from the peer

  // nghttp2 callbacks
  static ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t len, int flags, void* user);
  static int on_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length,
                          nghttp2_data_source* source, void* user);
  static ssize_t on_read_data(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                              nghttp2_data_source* source, void* user);
  static ssize_t on_read_length(nghttp2_session*, uint8_t frame_type, int32_t stream_id, int32_t session_window,
                                int32_t stream_window, uint32_t remote_max_frame_size, void* user);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t flags, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data, size_t len,
                           void* user);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user);

  Role role_;
  std::unique_ptr<TlsSocket> tls_;
  Settings settings_;
  Hooks hooks_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  std::vector<char> out_;
  Notify want_write_;
  bool closed_ = false;
  bool draining_ = false;
  bool goaway_received_ = false;
  bool ping_outstanding_ = false;
  // Resets the peer provoked (RST_STREAM we did not decide on): a token bucket, GOAWAY
  // ENHANCE_YOUR_CALM when empty.
  static constexpr double kProvokedResetBurst = 1000;
  static constexpr double kProvokedResetRate = 33;  // per second
  std::unordered_set<int32_t> our_resets_;
  size_t to_peer_buffered_ = 0;             // sum of the streams' unsent app bytes
  std::vector<int32_t> paused_for_budget_;  // streams not read while that sum is at its limit
  double provoked_tokens_ = kProvokedResetBurst;
  std::chrono::steady_clock::time_point provoked_at_ = std::chrono::steady_clock::now();
  bool goaway_for_resets_ = false;
  // Empty DATA frames (no payload, no END_STREAM) in a row: GOAWAY ENHANCE_YOUR_CALM past this.
  static constexpr uint32_t kMaxEmptyDataRun = 100;
  uint32_t empty_data_run_ = 0;
  bool goaway_for_empty_ = false;
  std::chrono::steady_clock::time_point ping_sent_{};
  std::chrono::steady_clock::time_point idle_since_;
  absl::Status close_reason_;
};

}  // namespace ambit::hbone::h2
