// Test peers for the HTTP/2 server codec, all in-process: a real nghttp2 client session
// (H2Client), raw frame builders for the abuse cases (nghttp2's client would refuse to send
// them), and a scripted handler (TestHandler) that records what the codec delivered.
#pragma once

#include <doctest/doctest.h>
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <functional>
#include <memory>
#include <optional>

#include <map>
#include <string>
#include <vector>

#include "waypoint/http/h2_server_codec.h"

namespace h2test {

using namespace ambit::waypoint::http;

// ---- raw frames -------------------------------------------------------------------------------
enum : uint8_t { kData = 0, kHeaders = 1, kPriority = 2, kRstStream = 3, kSettings = 4, kPing = 6, kGoaway = 7,
                 kWindowUpdate = 8, kContinuation = 9 };
enum : uint8_t { kEndStream = 1, kAck = 1, kEndHeaders = 4 };

inline std::string u32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
inline std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  size_t n = payload.size();
  std::string f = {static_cast<char>(n >> 16), static_cast<char>(n >> 8), static_cast<char>(n), static_cast<char>(type),
                   static_cast<char>(flags)};
  f += u32(stream & 0x7fffffff);
  f += payload;
  return f;
}
// HPACK integer with an N-bit prefix (RFC 7541 §5.1).
inline void hpack_int(std::string* out, uint8_t first, int prefix_bits, size_t v) {
  size_t max = (size_t{1} << prefix_bits) - 1;
  if (v < max) {
    out->push_back(static_cast<char>(first | v));
    return;
  }
  out->push_back(static_cast<char>(first | max));
  v -= max;
  while (v >= 128) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
// A literal header field without indexing, new name (RFC 7541 §6.2.2).
inline std::string hpack_literal(std::string_view name, std::string_view value) {
  std::string out(1, '\0');
  hpack_int(&out, 0, 7, name.size());
  out += name;
  hpack_int(&out, 0, 7, value.size());
  out += value;
  return out;
}
inline std::string request_block(std::string_view method = "GET", std::string_view path = "/",
                                 std::string_view authority = "svc.ns:80") {
  return hpack_literal(":method", method) + hpack_literal(":scheme", "http") + hpack_literal(":path", path) +
         hpack_literal(":authority", authority);
}
inline std::string client_start() {
  return "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(kSettings, 0, 0, "");
}

struct Frame {
  uint8_t type = 0, flags = 0;
  uint32_t stream = 0;
  std::string payload;
};
// Splits a server's output into frames (the preface-less server side).
inline std::vector<Frame> frames_of(std::string_view out) {
  std::vector<Frame> fs;
  while (out.size() >= 9) {
    size_t n = (static_cast<uint8_t>(out[0]) << 16) | (static_cast<uint8_t>(out[1]) << 8) | static_cast<uint8_t>(out[2]);
    if (out.size() < 9 + n) break;
    Frame f;
    f.type = static_cast<uint8_t>(out[3]);
    f.flags = static_cast<uint8_t>(out[4]);
    f.stream = ((static_cast<uint8_t>(out[5]) & 0x7f) << 24) | (static_cast<uint8_t>(out[6]) << 16) |
               (static_cast<uint8_t>(out[7]) << 8) | static_cast<uint8_t>(out[8]);
    f.payload = std::string(out.substr(9, n));
    fs.push_back(std::move(f));
    out.remove_prefix(9 + n);
  }
  return fs;
}
inline uint32_t goaway_code(const Frame& f) {
  const auto* p = reinterpret_cast<const uint8_t*>(f.payload.data());
  return f.payload.size() >= 8 ? (uint32_t{p[4]} << 24) | (uint32_t{p[5]} << 16) | (uint32_t{p[6]} << 8) | p[7] : 0xffffffff;
}

// ---- scripted handler -------------------------------------------------------------------------
struct TestHandler : H2ServerHandler {
  struct Req {
    RequestHead head;
    std::string body;
    HeaderMap trailers;
    bool ended = false;
    bool closed = false;
    uint32_t close_code = 0;
  };
  H2ServerCodec* codec = nullptr;
  std::map<int32_t, Req> reqs;
  bool auto_consume = true;
  bool echo = true;  // answer 200 with the request body at the end of each request
  std::vector<int32_t> writable;

  void on_request_head(int32_t id, RequestHead head, bool) override { reqs[id].head = std::move(head); }
  void on_request_body(int32_t id, std::string_view data) override {
    reqs[id].body.append(data);
    if (auto_consume) codec->consume(id, data.size());
  }
  void on_request_trailers(int32_t id, HeaderMap t) override { reqs[id].trailers = std::move(t); }
  void on_request_end(int32_t id) override {
    reqs[id].ended = true;
    if (!echo) return;
    ResponseHead r;
    r.status = 200;
    r.headers.add("x-path", reqs[id].head.path);
    r.body = BodyInfo{BodyInfo::Kind::kLength, reqs[id].body.size()};
    bool empty = reqs[id].body.empty();
    REQUIRE(codec->submit_response(id, r, empty).ok());
    if (!empty) codec->send_body(id, reqs[id].body, true);
  }
  void on_stream_close(int32_t id, uint32_t code) override {
    reqs[id].closed = true;
    reqs[id].close_code = code;
  }
  void on_response_writable(int32_t id) override { writable.push_back(id); }
};

// ---- a real nghttp2 client --------------------------------------------------------------------
class H2Client {
 public:
  struct Resp {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::vector<std::pair<std::string, std::string>> trailers;
    bool done = false;
    uint32_t close_code = 0;
  };

  H2Client() {
    nghttp2_session_callbacks* cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, [](nghttp2_session*, const uint8_t* d, size_t n, int, void* u) -> ssize_t {
      static_cast<H2Client*>(u)->out_.append(reinterpret_cast<const char*>(d), n);
      return static_cast<ssize_t>(n);
    });
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl, const uint8_t* v, size_t vl, uint8_t,
                void* u) -> int {
          auto* c = static_cast<H2Client*>(u);
          Resp& r = c->resps[f->hd.stream_id];
          std::string name(reinterpret_cast<const char*>(n), nl), value(reinterpret_cast<const char*>(v), vl);
          if (name == ":status") {
            r.status = std::stoi(value);
            r.headers.clear();
          } else if (f->headers.cat == NGHTTP2_HCAT_HEADERS && r.status >= 200) {
            r.trailers.emplace_back(name, value);
          } else {
            r.headers.emplace_back(name, value);
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t n, void* u) -> int {
          static_cast<H2Client*>(u)->resps[id].body.append(reinterpret_cast<const char*>(d), n);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, [](nghttp2_session*, int32_t id, uint32_t code, void* u) -> int {
      auto& r = static_cast<H2Client*>(u)->resps[id];
      r.done = true;
      r.close_code = code;
      return 0;
    });
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, [](nghttp2_session*, const nghttp2_frame* f, void* u) -> int {
      if (f->hd.type == NGHTTP2_GOAWAY) static_cast<H2Client*>(u)->goaway = f->goaway.error_code;
      return 0;
    });
    nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~H2Client() { nghttp2_session_del(session_); }

  // Submits a request; `body` (if any) is sent from memory, then `trailers` if given.
  int32_t request(const std::vector<std::pair<std::string, std::string>>& headers, std::string body = {},
                  std::vector<std::pair<std::string, std::string>> trailers = {}, bool has_body = false) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [k, v] : headers) {
      nva.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(k.data())),
                               reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    auto src = std::make_unique<Source>();
    src->body = std::move(body);
    src->trailers = std::move(trailers);
    src->client = this;
    nghttp2_data_provider prd{};
    prd.source.ptr = src.get();
    prd.read_callback = [](nghttp2_session* s, int32_t id, uint8_t* buf, size_t len, uint32_t* flags, nghttp2_data_source* ds,
                           void*) -> ssize_t {
      auto* src = static_cast<Source*>(ds->ptr);
      size_t n = std::min(len, src->body.size() - src->off);
      memcpy(buf, src->body.data() + src->off, n);
      src->off += n;
      if (src->off == src->body.size()) {
        if (src->hold) {
          if (n == 0) return NGHTTP2_ERR_DEFERRED;
          return static_cast<ssize_t>(n);
        }
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (!src->trailers.empty()) {
          *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
          std::vector<nghttp2_nv> t;
          for (const auto& [k, v] : src->trailers) {
            t.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(k.data())),
                                   reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), k.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
          }
          nghttp2_submit_trailer(s, id, t.data(), t.size());
        }
      }
      return static_cast<ssize_t>(n);
    };
    bool with_body = has_body || !src->body.empty() || !src->trailers.empty();
    int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), with_body ? &prd : nullptr, nullptr);
    sources_[id] = std::move(src);
    return id;
  }
  // Keeps the request body open after its bytes (for flow-control tests).
  void hold(int32_t id, bool on) {
    sources_[id]->hold = on;
    if (!on) nghttp2_session_resume_data(session_, id);
  }
  void reset(int32_t id) { nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL); }

  std::string take() {
    nghttp2_session_send(session_);
    std::string o;
    o.swap(out_);
    return o;
  }
  void receive(std::string_view in) { nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(in.data()), in.size()); }

  std::map<int32_t, Resp> resps;
  std::optional<uint32_t> goaway;

 private:
  struct Source {
    std::string body;
    size_t off = 0;
    bool hold = false;
    std::vector<std::pair<std::string, std::string>> trailers;
    H2Client* client = nullptr;
  };
  nghttp2_session* session_ = nullptr;
  std::string out_;
  std::map<int32_t, std::unique_ptr<Source>> sources_;
};

// Moves bytes both ways until neither side has anything to say.
inline void pump(H2Client& client, H2ServerCodec& codec, int rounds = 1000) {
  for (int i = 0; i < rounds; ++i) {
    std::string c2s = client.take();
    if (!c2s.empty()) (void)codec.receive(c2s);
    std::string s2c;
    codec.take_output(&s2c);
    if (!s2c.empty()) client.receive(s2c);
    if (c2s.empty() && s2c.empty()) return;
  }
}

inline std::vector<std::pair<std::string, std::string>> get(std::string path, std::string authority = "svc.ns:80") {
  return {{":method", "GET"}, {":scheme", "http"}, {":path", std::move(path)}, {":authority", std::move(authority)}};
}

}  // namespace h2test
