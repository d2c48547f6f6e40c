// The waypoint's HTTP/2 client codec, for upstreams that speak h2 or gRPC (h2c inside the HBONE
// tunnel to the endpoint's ztunnel), on nghttp2 and sans-I/O like H2ServerCodec: requests go in
// as the protocol-independent RequestHead, responses come back as ResponseHead events on an
// H2ClientHandler, and the proxy moves bytes with receive()/take_output().
//
//   H2ClientCodec up(settings, &proxy);               // queues the preface and SETTINGS
//   AMBIT_ASSIGN_OR_RETURN(int32_t id, up.submit_request(head, /*end_stream=*/false));
//   up.send_body(id, bytes, /*end_stream=*/true);
//   ... proxy.on_response_head(id, head, end) / on_response_body / on_response_trailers ...
//
// An upstream is less hostile than a client but not trusted either: response headers are held
// to the same limits (a stream over them is reset; the proxy answers its client 502), the
// CONTINUATION and control-frame caps apply, and response bodies wait for consume() (the client
// side's pace), so a fast upstream cannot fill our memory for a slow client.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "waypoint/http/h2_settings.h"
#include "waypoint/http/message.h"

namespace ambit::waypoint::http {

class H2ClientHandler {
 public:
  virtual ~H2ClientHandler() = default;
  // 1xx responses (100, 103) before the final one.
  virtual void on_informational(int32_t /*stream*/, const ResponseHead& /*head*/) {}
  // The final response head. `end_stream`: no body follows (on_response_end is still called).
  virtual void on_response_head(int32_t stream, ResponseHead head, bool end_stream) = 0;
  // Body bytes, valid during the call. consume(stream, n) once forwarded to the client.
  virtual void on_response_body(int32_t stream, std::string_view data) = 0;
  virtual void on_response_trailers(int32_t stream, HeaderMap trailers) = 0;
  virtual void on_response_end(int32_t stream) = 0;
  // The stream is gone: 0 after a complete exchange, else the reset's error code (a stream that
  // closes before its response head means: answer the client 502/503).
  virtual void on_stream_close(int32_t stream, uint32_t error_code) = 0;
  // Request buffer space came back after send_body() took less than offered.
  virtual void on_request_writable(int32_t /*stream*/) {}
};

struct H2ClientStats {
  uint64_t streams_opened = 0;
  uint64_t streams_reset_by_us = 0;  // invalid responses, header limits
  bool goaway_received = false;
  uint32_t goaway_received_error = 0;
  bool goaway_sent = false;
  uint32_t goaway_sent_error = 0;
  std::string error;  // why the connection failed, if it did
};

class H2ClientCodec {
 public:
  H2ClientCodec(H2Settings settings, H2ClientHandler* handler);
  ~H2ClientCodec();
  H2ClientCodec(const H2ClientCodec&) = delete;
  H2ClientCodec& operator=(const H2ClientCodec&) = delete;

  absl::Status receive(std::string_view data);
  void take_output(std::string* out, size_t max = 256 * 1024);
  bool want_read() const;
  bool want_write() const;
  bool finished() const { return !want_read() && !want_write(); }

  // Whether a new request may be sent: no GOAWAY either way, below the upstream's
  // SETTINGS_MAX_CONCURRENT_STREAMS (and ours, max_concurrent_streams, as a pool cap).
  bool can_open_stream() const;
  // Starts a request. `head.body` kLength becomes content-length. Refuses CONNECT and heads
  // that are not valid HTTP/2 (InvalidArgument), and new streams when !can_open_stream()
  // (Unavailable: take another connection).
  absl::StatusOr<int32_t> submit_request(const RequestHead& head, bool end_stream);
  size_t send_body(int32_t stream, std::string_view data, bool end_stream);
  absl::Status send_trailers(int32_t stream, const HeaderMap& trailers);
  void consume(int32_t stream, size_t n);
  void reset_stream(int32_t stream, uint32_t error_code);
  // No new requests; the open ones finish (GOAWAY NO_ERROR).
  void shutdown();

  const H2ClientStats& stats() const { return stats_; }
  size_t open_streams() const { return streams_.size(); }

 private:
  struct Stream;
  Stream* find(int32_t id);
  void fail(uint32_t error_code, std::string reason);
  std::optional<std::string> finish_response_head(Stream& s, bool end_stream);

  static ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t len, int flags, void* user);
  static int on_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length,
                          nghttp2_data_source* source, void* user);
  static ssize_t on_read_data(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length, uint32_t* flags,
                              nghttp2_data_source* source, void* user);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t flags, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data, size_t len,
                           void* user);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* user);

  H2Settings settings_;
  H2ClientHandler* handler_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, std::unique_ptr<Stream>> streams_;
  std::string* out_ = nullptr;
  size_t out_limit_ = 0;
  bool failed_ = false;
  bool shutting_down_ = false;
  H2ClientStats stats_;
};

}  // namespace ambit::waypoint::http
