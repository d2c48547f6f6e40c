#include "waypoint/http/h2_client_codec.h"

#include <algorithm>
#include <vector>

#include "common/base/strings.h"
#include "waypoint/http/h2_common.h"
#include "waypoint/http/http1_syntax.h"

namespace ambit::waypoint::http {

using h2::check_output_field;
using h2::nv;
using h2::skip_on_output;
using h2::sv;

struct H2ClientCodec::Stream {
  int32_t id = 0;
  // request (to the upstream)
  std::string body;
  size_t body_off = 0;
  bool body_end = false;
  std::optional<HeaderMap> trailers_out;
  bool deferred = false;
  bool blocked = false;
  // response
  ResponseHead head;
  std::optional<std::string> content_length;
  bool head_seen = false;  // final head delivered
  bool in_trailers = false;
  HeaderMap trailers;
  size_t header_bytes = 0;
  size_t header_count = 0;
  bool broken = false;  // reset by us for an invalid response: deliver nothing more
  size_t unconsumed = 0;

  size_t buffered() const { return body.size() - body_off; }
};

H2ClientCodec::H2ClientCodec(H2Settings settings, H2ClientHandler* handler)
    : settings_(std::move(settings)), handler_(handler) {
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, &H2ClientCodec::on_send);
  nghttp2_session_callbacks_set_send_data_callback(cbs, &H2ClientCodec::on_send_data);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &H2ClientCodec::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &H2ClientCodec::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2ClientCodec::on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &H2ClientCodec::on_frame_send);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &H2ClientCodec::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2ClientCodec::on_stream_close);
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);  // response windows follow consume()
  nghttp2_option_set_max_outbound_ack(opt, settings_.max_outbound_control);
  nghttp2_option_set_max_settings(opt, settings_.max_settings_entries);
  nghttp2_option_set_max_continuations(opt, settings_.max_continuations);
  nghttp2_option_set_max_send_header_block_length(opt, settings_.max_header_list);
  nghttp2_session_client_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings_.stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, settings_.max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings_.max_header_list},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, static_cast<int32_t>(settings_.connection_window));
}

H2ClientCodec::~H2ClientCodec() {
  if (session_) nghttp2_session_del(session_);
}

H2ClientCodec::Stream* H2ClientCodec::find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

bool H2ClientCodec::want_read() const { return nghttp2_session_want_read(session_) != 0; }
bool H2ClientCodec::want_write() const { return nghttp2_session_want_write(session_) != 0; }

bool H2ClientCodec::can_open_stream() const {
  if (failed_ || shutting_down_ || stats_.goaway_received) return false;
  if (!nghttp2_session_check_request_allowed(session_)) return false;
  uint32_t peer = nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  return streams_.size() < std::min<size_t>(peer, settings_.max_concurrent_streams);
}

void H2ClientCodec::fail(uint32_t error_code, std::string reason) {
  if (failed_) return;
  failed_ = true;
  stats_.error = std::move(reason);
  nghttp2_session_terminate_session(session_, error_code);
}

absl::Status H2ClientCodec::receive(std::string_view data) {
  if (failed_) return absl::FailedPreconditionError(str_cat("upstream HTTP/2 connection already failed: ", stats_.error));
  ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (rv < 0) {
    switch (rv) {
      case NGHTTP2_ERR_FLOODED:
        fail(NGHTTP2_ENHANCE_YOUR_CALM, "upstream control frame flood");
        break;
      case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
        fail(NGHTTP2_ENHANCE_YOUR_CALM, "upstream CONTINUATION flood");
        break;
      default:
        fail(NGHTTP2_PROTOCOL_ERROR, str_cat("upstream HTTP/2: ", nghttp2_strerror(static_cast<int>(rv))));
        break;
    }
  }
  if (failed_) return absl::UnavailableError(stats_.error);
  return absl::OkStatus();
}

void H2ClientCodec::take_output(std::string* out, size_t max) {
  out_ = out;
  out_limit_ = out->size() + max;
  int rv = nghttp2_session_send(session_);
  out_ = nullptr;
  if (rv != 0 && !failed_) {
    failed_ = true;
    stats_.error = str_cat("upstream HTTP/2 send: ", nghttp2_strerror(rv));
  }
  std::vector<int32_t> writable;
  for (auto& [id, s] : streams_) {
    if (s->blocked && s->buffered() <= settings_.max_response_buffer / 2) {
      s->blocked = false;
      writable.push_back(id);
    }
  }
  for (int32_t id : writable) {
    if (find(id)) handler_->on_request_writable(id);
  }
}

absl::StatusOr<int32_t> H2ClientCodec::submit_request(const RequestHead& head, bool end_stream) {
  if (!can_open_stream()) return absl::UnavailableError("upstream HTTP/2 connection cannot take a new stream");
  if (head.method.empty() || !syntax::is_token(head.method)) return absl::InvalidArgumentError("invalid method");
  if (head.method == "CONNECT") return absl::InvalidArgumentError("CONNECT is not forwarded");
  if (head.authority.empty()) return absl::InvalidArgumentError("missing authority");
  if (auto why = syntax::authority_error(head.authority)) return absl::InvalidArgumentError(str_cat("invalid authority: ", *why));
  if (head.path.empty() || (head.path.front() != '/' && head.path != "*")) return absl::InvalidArgumentError("invalid path");
  for (char c : head.path) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#') return absl::InvalidArgumentError("invalid character in path");
  }
  std::string scheme = head.scheme.empty() ? "http" : head.scheme;
  std::string length;
  std::vector<nghttp2_nv> nva;
  nva.reserve(head.headers.size() + 6);
  nva.push_back(nv(":method", head.method));
  nva.push_back(nv(":scheme", scheme));
  nva.push_back(nv(":authority", head.authority));
  nva.push_back(nv(":path", head.path));
  for (const HeaderField& f : head.headers) {
    if (skip_on_output(f.name)) continue;
    if (absl::Status st = check_output_field(f); !st.ok()) return st;
    nva.push_back(nv(f.name, f.value));
  }
  if (head.te_trailers) nva.push_back(nv("te", "trailers"));
  if (head.body.kind == BodyInfo::Kind::kLength) {
    length = std::to_string(head.body.length);
    nva.push_back(nv("content-length", length));
  }
  nghttp2_data_provider prd{};
  prd.read_callback = &H2ClientCodec::on_read_data;
  int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), end_stream ? nullptr : &prd, nullptr);
  if (id < 0) return absl::UnavailableError(str_cat("upstream HTTP/2 submit: ", nghttp2_strerror(id)));
  auto s = std::make_unique<Stream>();
  s->id = id;
  s->body_end = end_stream;
  streams_[id] = std::move(s);
  ++stats_.streams_opened;
  return id;
}

size_t H2ClientCodec::send_body(int32_t id, std::string_view data, bool end_stream) {
  Stream* s = find(id);
  if (!s || s->body_end) return 0;
  size_t room = settings_.max_response_buffer > s->buffered() ? settings_.max_response_buffer - s->buffered() : 0;
  size_t n = std::min(room, data.size());
  if (s->body_off > 0 && s->body_off == s->body.size()) {
    s->body.clear();
    s->body_off = 0;
  }
  s->body.append(data.substr(0, n));
  if (n < data.size()) s->blocked = true;
  if (end_stream && n == data.size()) s->body_end = true;
  if (s->deferred && (n > 0 || s->body_end)) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, id);
  }
  return n;
}

absl::Status H2ClientCodec::send_trailers(int32_t id, const HeaderMap& trailers) {
  Stream* s = find(id);
  if (!s) return absl::NotFoundError(str_cat("upstream HTTP/2 stream ", id, " is gone"));
  if (s->body_end) return absl::FailedPreconditionError("trailers need an open request body");
  for (const HeaderField& f : trailers) {
    if (skip_on_output(f.name)) return absl::InvalidArgumentError(str_cat("header \"", f.name, "\" is not allowed in trailers"));
    if (absl::Status st = check_output_field(f); !st.ok()) return st;
  }
  s->trailers_out = trailers;
  s->body_end = true;
  if (s->deferred) {
    s->deferred = false;
    nghttp2_session_resume_data(session_, id);
  }
  return absl::OkStatus();
}

void H2ClientCodec::consume(int32_t id, size_t n) {
  Stream* s = find(id);
  if (!s) return;
  n = std::min(n, s->unconsumed);
  s->unconsumed -= n;
  nghttp2_session_consume(session_, id, n);
}

void H2ClientCodec::reset_stream(int32_t id, uint32_t error_code) {
  if (find(id)) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error_code);
}

void H2ClientCodec::shutdown() {
  shutting_down_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
}

std::optional<std::string> H2ClientCodec::finish_response_head(Stream& s, bool end_stream) {
  if (s.head.status == 101) return "upstream answered 101, which HTTP/2 does not allow";
  if (s.content_length) {
    auto n = syntax::parse_content_length(*s.content_length);
    if (!n) return "invalid content-length from upstream";
    s.head.body = BodyInfo{BodyInfo::Kind::kLength, *n};
  } else {
    s.head.body = BodyInfo{BodyInfo::Kind::kChunked, 0};
  }
  if (end_stream && s.head.body.kind != BodyInfo::Kind::kLength) s.head.body = BodyInfo{};
  s.head.version = Version::kHttp2;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// nghttp2 callbacks

ssize_t H2ClientCodec::on_send(nghttp2_session*, const uint8_t* data, size_t len, int, void* user) {
  auto* c = static_cast<H2ClientCodec*>(user);
  if (!c->out_ || c->out_->size() >= c->out_limit_) return NGHTTP2_ERR_WOULDBLOCK;
  c->out_->append(reinterpret_cast<const char*>(data), len);
  return static_cast<ssize_t>(len);
}

int H2ClientCodec::on_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length,
                                nghttp2_data_source*, void* user) {
  auto* c = static_cast<H2ClientCodec*>(user);
  if (!c->out_ || c->out_->size() >= c->out_limit_) return NGHTTP2_ERR_WOULDBLOCK;
  Stream* s = c->find(frame->hd.stream_id);
  if (!s || s->buffered() < length) return NGHTTP2_ERR_CALLBACK_FAILURE;
  c->out_->append(reinterpret_cast<const char*>(framehd), 9);
  c->out_->append(s->body, s->body_off, length);
  s->body_off += length;
  if (s->body_off == s->body.size()) {
    s->body_off = 0;
    s->body.clear();
  }
  return 0;
}

ssize_t H2ClientCodec::on_read_data(nghttp2_session* session, int32_t stream_id, uint8_t*, size_t length, uint32_t* flags,
                                    nghttp2_data_source*, void* user) {
  auto* c = static_cast<H2ClientCodec*>(user);
  Stream* s = c->find(stream_id);
  if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  size_t avail = s->buffered();
  size_t n = std::min(avail, length);
  if (n > 0) *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (n == avail && s->body_end) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->trailers_out) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> nva;
      for (const HeaderField& f : *s->trailers_out) nva.push_back(nv(f.name, f.value));
      nghttp2_submit_trailer(session, stream_id, nva.data(), nva.size());
      s->trailers_out.reset();
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    s->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

int H2ClientCodec::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<H2ClientCodec*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Stream* s = c->find(frame->hd.stream_id);
  if (!s) return 0;
  s->header_bytes = 0;
  s->header_count = 0;
  if (frame->headers.cat == NGHTTP2_HCAT_HEADERS && s->head_seen) {
    s->in_trailers = true;
  } else {
    s->head = ResponseHead();  // a new (informational or final) response head
    s->content_length.reset();
  }
  return 0;
}

int H2ClientCodec::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                             const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* c = static_cast<H2ClientCodec*>(user);
  Stream* s = c->find(frame->hd.stream_id);
  if (!s || s->broken) return 0;
  s->header_bytes += namelen + valuelen + 32;
  if (++s->header_count > c->settings_.max_header_count || s->header_bytes > c->settings_.max_header_list) {
    s->broken = true;
    ++c->stats_.streams_reset_by_us;
    nghttp2_submit_rst_stream(c->session_, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    return 0;
  }
  std::string_view n = sv(name, namelen), v = sv(value, valuelen);
  if (s->in_trailers) {
    s->trailers.add(n, v);
  } else if (n == ":status") {
    int status = 0;
    for (char ch : v) status = status * 10 + (ch - '0');  // nghttp2 checked: three digits
    s->head.status = status;
  } else if (n == "content-length") {
    s->content_length = std::string(v);
  } else {
    s->head.headers.add(n, v);
  }
  return 0;
}

int H2ClientCodec::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<H2ClientCodec*>(user);
  const int32_t id = frame->hd.stream_id;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* s = c->find(id);
      if (!s || s->broken) break;
      if (s->in_trailers) {
        c->handler_->on_response_trailers(id, std::move(s->trailers));
      } else if (s->head.status < 200) {
        c->handler_->on_informational(id, s->head);
        break;
      } else {
        if (auto why = c->finish_response_head(*s, end_stream)) {
          s->broken = true;
          ++c->stats_.streams_reset_by_us;
          nghttp2_submit_rst_stream(c->session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_PROTOCOL_ERROR);
          break;
        }
        s->head_seen = true;
        c->handler_->on_response_head(id, std::move(s->head), end_stream);
      }
      if (end_stream && c->find(id)) c->handler_->on_response_end(id);
      break;
    }
    case NGHTTP2_DATA: {
      Stream* s = c->find(id);
      if (end_stream && s && s->head_seen && !s->broken) c->handler_->on_response_end(id);
      break;
    }
    case NGHTTP2_GOAWAY:
      c->stats_.goaway_received = true;
      c->stats_.goaway_received_error = frame->goaway.error_code;
      break;
    default:
      break;
  }
  return 0;
}

int H2ClientCodec::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<H2ClientCodec*>(user);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    c->stats_.goaway_sent = true;
    c->stats_.goaway_sent_error = frame->goaway.error_code;
  }
  return 0;
}

int H2ClientCodec::on_data_chunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
  auto* c = static_cast<H2ClientCodec*>(user);
  Stream* s = c->find(id);
  if (!s || s->broken || !s->head_seen) {
    nghttp2_session_consume(c->session_, id, len);
    return 0;
  }
  s->unconsumed += len;
  c->handler_->on_response_body(id, sv(data, len));
  return 0;
}

int H2ClientCodec::on_stream_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
  auto* c = static_cast<H2ClientCodec*>(user);
  auto it = c->streams_.find(id);
  if (it == c->streams_.end()) return 0;
  if (it->second->unconsumed > 0) nghttp2_session_consume_connection(c->session_, it->second->unconsumed);
  if (it->second->broken && error_code == NGHTTP2_NO_ERROR) error_code = NGHTTP2_CANCEL;
  c->streams_.erase(it);
  c->handler_->on_stream_close(id, error_code);
  return 0;
}

}  // namespace ambit::waypoint::http
