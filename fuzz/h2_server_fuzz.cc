// libFuzzer target: the waypoint's HTTP/2 server codec (waypoint/http/h2_server_codec) fed
// arbitrary client frames after a valid preface. The handler answers every request (with a body
// and trailers, so the send path runs too) and resets every third stream. Invariants: no crash
// or sanitizer report; the codec's state stays within its limits (open streams, buffered
// response bytes); a GOAWAY with an error always comes with a reason.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "waypoint/http/h2_server_codec.h"

using namespace ambit::waypoint::http;

namespace {

struct Handler : H2ServerHandler {
  H2ServerCodec* codec = nullptr;
  int heads = 0;
  void on_request_head(int32_t id, RequestHead head, bool) override {
    if (head.method.empty() || head.authority.empty() || head.path.empty()) std::abort();
    if (++heads % 3 == 0) {
      codec->reset_stream(id, NGHTTP2_CANCEL);
      return;
    }
    ResponseHead r;
    r.status = 200;
    r.headers.add("x-path", head.path);
    if (!codec->submit_response(id, r, false).ok()) std::abort();
    codec->send_body(id, std::string(1000, 'x'), false);
  }
  void on_request_body(int32_t id, std::string_view data) override { codec->consume(id, data.size()); }
  void on_request_trailers(int32_t, HeaderMap) override {}
  void on_request_end(int32_t id) override {
    HeaderMap t;
    t.add("grpc-status", "0");
    (void)codec->send_trailers(id, t);
  }
  void on_stream_close(int32_t, uint32_t) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  H2Settings settings;
  settings.max_concurrent_streams = 10;
  settings.max_response_buffer = 4096;
  Handler h;
  H2ServerCodec codec(settings, &h);
  h.codec = &codec;
  std::string in = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  in.append(reinterpret_cast<const char*>(data), size);
  std::string out;
  // Feed in pieces of varying size, taking output in between (or not).
  size_t off = 0;
  for (size_t i = 0; off < in.size() && i < 10000; ++i) {
    size_t n = std::min<size_t>(in.size() - off, 1 + (i * 7919) % 97);
    bool ok = codec.receive(std::string_view(in).substr(off, n)).ok();
    off += n;
    if (i % 2 == 0) {
      out.clear();
      codec.take_output(&out, 16 * 1024);
    }
    if (codec.open_streams() > settings.max_concurrent_streams + 1) std::abort();
    if (codec.buffered_response_bytes() > codec.open_streams() * settings.max_response_buffer) std::abort();
    if (!ok) break;
  }
  out.clear();
  codec.take_output(&out);
  const H2Stats& st = codec.stats();
  if (st.goaway_sent && st.goaway_error != 0 && st.goaway_reason.empty()) std::abort();
  return 0;
}
