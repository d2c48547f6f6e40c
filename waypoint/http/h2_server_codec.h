// The waypoint's HTTP/2 server codec (h2c with prior knowledge, inside the HBONE tunnel), on
// nghttp2, sans-I/O: the proxy feeds the bytes it read with receive(), gets requests as events
// on an H2ServerHandler in the same protocol-independent model the HTTP/1 parser produces, answers
// with submit_response()/send_body()/send_trailers(), and writes what take_output() gives it. The
// codec owns no socket and no timer, so any transport can drive it: plain TCP, TLS, an HBONE
// stream.
//
//   struct Proxy : H2ServerHandler { ... };
//   H2ServerCodec codec(settings, &proxy);         // queues our SETTINGS
//   for (;;) {
//     if (codec.want_read()) { n = read(fd, buf); if (!codec.receive({buf, n}).ok()) ... }
//     std::string out; codec.take_output(&out); write(fd, out);
//     if (codec.finished()) break;                 // GOAWAY sent and nothing left: close
//   }
//
// Flow control is the proxy's lever: request body bytes are not acknowledged to the client
// (WINDOW_UPDATE) until the proxy calls consume() for them, i.e. once the upstream took them; a
// slow upstream slows the client instead of growing our buffers. Response bytes are accepted up
// to H2Settings::max_response_buffer per stream; on_response_writable() says when there is room
// again.
//
// Abuse handling (every case ends in GOAWAY, the connection is then finished(); stats() says
// why): rapid reset and provoked resets (token bucket, ENHANCE_YOUR_CALM), CONTINUATION flood
// (nghttp2's cap), SETTINGS/PING ACK flood (nghttp2's outbound control queue bound,
// ENHANCE_YOUR_CALM), empty DATA, PRIORITY and WINDOW_UPDATE floods (ENHANCE_YOUR_CALM). A
// request the codec refuses itself — headers over the limits (431), invalid or inconsistent
// pseudo-headers (400), CONNECT (405), extended CONNECT (501) — is answered without reaching the
// handler.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "absl/status/status.h"
#include "waypoint/http/flood_guard.h"
#include "waypoint/http/h2_settings.h"
#include "waypoint/http/http_error.h"
#include "waypoint/http/message.h"

namespace ambit::waypoint::http {

// Called from inside receive() (and, for on_response_writable, take_output()). A handler may
// call the codec's submit/send/reset/consume methods from its callbacks.
class H2ServerHandler {
 public:
  virtual ~H2ServerHandler() = default;
  // A request head. `end_stream`: no body follows (on_request_end is still called).
  virtual void on_request_head(int32_t stream, RequestHead head, bool end_stream) = 0;
  // Body bytes, valid during the call only. Call consume(stream, n) once they are forwarded.
  virtual void on_request_body(int32_t stream, std::string_view data) = 0;
  virtual void on_request_trailers(int32_t stream, HeaderMap trailers) = 0;
  // The client finished its request (END_STREAM).
  virtual void on_request_end(int32_t stream) = 0;
  // The stream is gone: error_code 0 after a complete exchange, otherwise it was reset (by the
  // client, by us, or with the connection). Abandon any work for it. Called once per stream
  // the handler saw a head for.
  virtual void on_stream_close(int32_t stream, uint32_t error_code) = 0;
  // Response buffer space became available after send_body() accepted less than offered.
  virtual void on_response_writable(int32_t /*stream*/) {}
};

struct H2Stats {
  uint64_t streams_opened = 0;
  uint64_t requests_refused = 0;   // answered by the codec itself (4xx)
  uint64_t resets_received = 0;    // RST_STREAM from the client
  uint64_t resets_provoked = 0;    // RST_STREAM nghttp2 sent for the client's stream errors
  bool goaway_sent = false;
  uint32_t goaway_error = 0;       // error code of our GOAWAY (0: NO_ERROR)
  std::string goaway_reason;       // why, when the error code is not NO_ERROR
};

class H2ServerCodec {
 public:
  H2ServerCodec(H2Settings settings, H2ServerHandler* handler);
  ~H2ServerCodec();
  H2ServerCodec(const H2ServerCodec&) = delete;
  H2ServerCodec& operator=(const H2ServerCodec&) = delete;

  // Bytes from the client, starting with its preface. An error means the connection is broken
  // (protocol error or abuse): a GOAWAY is queued; write take_output() and close.
  absl::Status receive(std::string_view data);
  // Appends the frames ready to go to `out`, about `max` bytes at most (one frame may overshoot).
  void take_output(std::string* out, size_t max = 256 * 1024);
  bool want_read() const;
  bool want_write() const;
  // Nothing more will be read or written: close the transport (after writing take_output()).
  bool finished() const { return !want_read() && !want_write(); }

  // Starts the response on `stream`. `end_stream`: no body. The head's BodyInfo kLength becomes
  // content-length.
  absl::Status submit_response(int32_t stream, const ResponseHead& head, bool end_stream);
  // Response body: returns how many bytes of `data` were taken (the rest: retry after
  // on_response_writable). `end_stream` applies only if all of `data` was taken.
  size_t send_body(int32_t stream, std::string_view data, bool end_stream);
  // Ends the response with trailers (gRPC status).
  absl::Status send_trailers(int32_t stream, const HeaderMap& trailers);
  // Request body bytes forwarded: give the client that much window back.
  void consume(int32_t stream, size_t n);
  // Abandons a stream (RST_STREAM with `error_code`, e.g. NGHTTP2_CANCEL).
  void reset_stream(int32_t stream, uint32_t error_code);
  // Graceful shutdown: GOAWAY(NO_ERROR); open streams finish, then finished().
  void drain();

  const H2Stats& stats() const { return stats_; }
  size_t open_streams() const { return streams_.size(); }
  // Response bytes held for clients, over all streams (bounded by the settings).
  size_t buffered_response_bytes() const;

 private:
  struct Stream;
  Stream* find(int32_t id);
  void fail_connection(uint32_t error_code, std::string reason);
  void refuse(Stream& s, const HttpError& err);
  std::optional<HttpError> finish_request_head(Stream& s);
  void submit_our_reset(int32_t id, uint32_t error_code);
  void count_reset(bool provoked);

  static ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t len, int flags, void* user);
  static int on_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length,
                          nghttp2_data_source* source, void* user);
  static ssize_t on_read_data(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                              nghttp2_data_source* source, void* user);
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t flags, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data, size_t len,
                           void* user);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user);

  H2Settings settings_;
  H2ServerHandler* handler_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  std::string* out_ = nullptr;  // take_output's target while nghttp2_session_send runs
  size_t out_limit_ = 0;
  std::unordered_set<int32_t> our_resets_;
  TokenBucket resets_;
  uint32_t empty_data_run_ = 0;
  uint64_t priority_frames_ = 0;
  uint64_t window_updates_ = 0;
  uint64_t data_frames_sent_ = 0;
  bool failed_ = false;
  H2Stats stats_;
};

}  // namespace ambit::waypoint::http
