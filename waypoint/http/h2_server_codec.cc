#include "waypoint/http/h2_server_codec.h"

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

struct H2ServerCodec::Stream {
  int32_t id = 0;
  // request
  RequestHead head;
  std::string authority_pseudo;
  std::string host;
  std::optional<std::string> content_length;
  std::vector<std::string> cookies;
  bool has_scheme = false;
  bool extended_connect = false;
  size_t header_bytes = 0;
  size_t header_count = 0;
  bool in_trailers = false;
  HeaderMap trailers;
  std::optional<HttpError> refusal;  // answered by the codec itself
  bool head_delivered = false;
  size_t unconsumed = 0;  // request body bytes handed to the handler, not yet consume()d
  // response
  bool response_submitted = false;
  std::string body;
  size_t body_off = 0;
  bool body_end = false;
  std::optional<HeaderMap> trailers_out;
  bool deferred = false;
  bool blocked = false;  // send_body took less than offered: tell the handler when there is room

  size_t buffered() const { return body.size() - body_off; }
};

H2ServerCodec::H2ServerCodec(H2Settings settings, H2ServerHandler* handler)
    : settings_(std::move(settings)),
      handler_(handler),
      resets_(settings_.reset_burst, settings_.reset_rate, settings_.now()) {
  nghttp2_session_callbacks* cbs;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_send_callback(cbs, &H2ServerCodec::on_send);
  nghttp2_session_callbacks_set_send_data_callback(cbs, &H2ServerCodec::on_send_data);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &H2ServerCodec::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &H2ServerCodec::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2ServerCodec::on_frame_recv);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &H2ServerCodec::on_frame_send);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &H2ServerCodec::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &H2ServerCodec::on_stream_close);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &H2ServerCodec::on_begin_frame);
  nghttp2_option* opt;
  nghttp2_option_new(&opt);
  // Window updates only for bytes the proxy forwarded (consume()): backpressure, see header.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_outbound_ack(opt, settings_.max_outbound_control);
  nghttp2_option_set_max_settings(opt, settings_.max_settings_entries);
  nghttp2_option_set_max_continuations(opt, settings_.max_continuations);
  // nghttp2's own rapid-reset limiter answers with GOAWAY INTERNAL_ERROR, counts only the
  // peer's resets and reads its own clock; ours (resets_) counts provoked resets too and says
  // ENHANCE_YOUR_CALM. nghttp2's stays as a loose backstop, well above ours.
  nghttp2_option_set_stream_reset_rate_limit(opt, static_cast<uint64_t>(settings_.reset_burst * 10 + 1000),
                                             static_cast<uint64_t>(settings_.reset_rate * 10 + 1));
  nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings_.stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, settings_.max_frame_size},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings_.max_header_list},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, static_cast<int32_t>(settings_.connection_window));
}

H2ServerCodec::~H2ServerCodec() {
  if (session_) nghttp2_session_del(session_);
}

H2ServerCodec::Stream* H2ServerCodec::find(int32_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

bool H2ServerCodec::want_read() const { return nghttp2_session_want_read(session_) != 0; }
bool H2ServerCodec::want_write() const { return nghttp2_session_want_write(session_) != 0; }

size_t H2ServerCodec::buffered_response_bytes() const {
  size_t n = 0;
  for (const auto& [id, s] : streams_) n += s->buffered();
  return n;
}

void H2ServerCodec::fail_connection(uint32_t error_code, std::string reason) {
  if (failed_) return;
  failed_ = true;
  stats_.goaway_reason = std::move(reason);
  nghttp2_session_terminate_session(session_, error_code);
}

absl::Status H2ServerCodec::receive(std::string_view data) {
  if (failed_) return absl::FailedPreconditionError(str_cat("HTTP/2 connection already failed: ", stats_.goaway_reason));
  ssize_t rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data.data()), data.size());
  if (rv < 0) {
    switch (rv) {
      case NGHTTP2_ERR_FLOODED:
        fail_connection(NGHTTP2_ENHANCE_YOUR_CALM, str_cat("control frame flood: more than ", settings_.max_outbound_control,
                                                          " SETTINGS/PING acknowledgements queued"));
        break;
      case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
        fail_connection(NGHTTP2_ENHANCE_YOUR_CALM, str_cat("CONTINUATION flood: more than ", settings_.max_continuations,
                                                          " CONTINUATION frames in one header block"));
        break;
      case NGHTTP2_ERR_BAD_CLIENT_MAGIC:
        fail_connection(NGHTTP2_PROTOCOL_ERROR, "not an HTTP/2 connection preface");
        break;
      default:
        fail_connection(NGHTTP2_PROTOCOL_ERROR, str_cat("HTTP/2: ", nghttp2_strerror(static_cast<int>(rv))));
        break;
    }
  }
  if (failed_) return absl::InvalidArgumentError(stats_.goaway_reason);
  return absl::OkStatus();
}

void H2ServerCodec::take_output(std::string* out, size_t max) {
  out_ = out;
  out_limit_ = out->size() + max;
  int rv = nghttp2_session_send(session_);
  out_ = nullptr;
  if (rv != 0 && !failed_) {
    failed_ = true;
    stats_.goaway_reason = str_cat("HTTP/2 send: ", nghttp2_strerror(rv));
  }
  // Room came back in streams the proxy had to hold back: tell it, outside nghttp2's callbacks.
  std::vector<int32_t> writable;
  for (auto& [id, s] : streams_) {
    if (s->blocked && s->buffered() <= settings_.max_response_buffer / 2) {
      s->blocked = false;
      writable.push_back(id);
    }
  }
  for (int32_t id : writable) {
    if (find(id)) handler_->on_response_writable(id);
  }
}

// ---------------------------------------------------------------------------------------------
// Responses

absl::Status H2ServerCodec::submit_response(int32_t id, const ResponseHead& head, bool end_stream) {
  Stream* s = find(id);
  if (!s) return absl::NotFoundError(str_cat("HTTP/2 stream ", id, " is gone"));
  if (s->response_submitted) return absl::FailedPreconditionError(str_cat("HTTP/2 stream ", id, " already has a response"));
  if (head.status < 100 || head.status > 999 || head.status == 101) {
    return absl::InvalidArgumentError(str_cat("invalid response status ", head.status));
  }
  std::string status = std::to_string(head.status);
  std::string length;
  std::vector<nghttp2_nv> nva;
  nva.reserve(head.headers.size() + 2);
  nva.push_back(nv(":status", status));
  for (const HeaderField& f : head.headers) {
    if (skip_on_output(f.name)) continue;
    if (absl::Status st = check_output_field(f); !st.ok()) return st;
    nva.push_back(nv(f.name, f.value));
  }
  if (head.status < 200) {  // informational (100, 103): more headers follow
    int rv = nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, id, nullptr, nva.data(), nva.size(), nullptr);
    if (rv < 0) return absl::InternalError(str_cat("HTTP/2 submit headers: ", nghttp2_strerror(rv)));
    return absl::OkStatus();
  }
  if (head.body.kind == BodyInfo::Kind::kLength && head.status != 204) {
    length = std::to_string(head.body.length);
    nva.push_back(nv("content-length", length));
  }
  nghttp2_data_provider prd{};
  prd.read_callback = &H2ServerCodec::on_read_data;
  int rv = nghttp2_submit_response(session_, id, nva.data(), nva.size(), end_stream ? nullptr : &prd);
  if (rv < 0) return absl::InternalError(str_cat("HTTP/2 submit response: ", nghttp2_strerror(rv)));
  s->response_submitted = true;
  s->body_end = end_stream;
  return absl::OkStatus();
}

size_t H2ServerCodec::send_body(int32_t id, std::string_view data, bool end_stream) {
  Stream* s = find(id);
  if (!s || !s->response_submitted || s->body_end) return 0;
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

absl::Status H2ServerCodec::send_trailers(int32_t id, const HeaderMap& trailers) {
  Stream* s = find(id);
  if (!s) return absl::NotFoundError(str_cat("HTTP/2 stream ", id, " is gone"));
  if (!s->response_submitted || s->body_end) return absl::FailedPreconditionError("trailers need an open response body");
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

void H2ServerCodec::consume(int32_t id, size_t n) {
  Stream* s = find(id);
  if (!s) return;  // its window went back when it closed
  n = std::min(n, s->unconsumed);
  s->unconsumed -= n;
  nghttp2_session_consume(session_, id, n);
}

void H2ServerCodec::reset_stream(int32_t id, uint32_t error_code) {
  if (find(id)) submit_our_reset(id, error_code);
}

void H2ServerCodec::drain() {
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

void H2ServerCodec::submit_our_reset(int32_t id, uint32_t error_code) {
  our_resets_.insert(id);
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error_code);
}

void H2ServerCodec::count_reset(bool provoked) {
  if (resets_.take(settings_.now())) return;
  fail_connection(NGHTTP2_ENHANCE_YOUR_CALM,
                  str_cat(provoked ? "provoked stream resets (MadeYouReset)" : "stream resets (rapid reset)", " over ",
                          static_cast<int64_t>(settings_.reset_burst), " at once or ",
                          static_cast<int64_t>(settings_.reset_rate), "/s"));
}

void H2ServerCodec::refuse(Stream& s, const HttpError& err) {
  ++stats_.requests_refused;
  s.body = str_cat(err.reason, "\n");
  s.body_off = 0;
  std::string status = std::to_string(err.status);
  std::string length = std::to_string(s.body.size());
  nghttp2_nv nva[] = {nv(":status", status), nv("content-type", "text/plain"), nv("content-length", length)};
  nghttp2_data_provider prd{};
  prd.read_callback = &H2ServerCodec::on_read_data;
  s.response_submitted = true;
  s.body_end = true;
  nghttp2_submit_response(session_, s.id, nva, 3, &prd);
}

std::optional<HttpError> H2ServerCodec::finish_request_head(Stream& s) {
  RequestHead& h = s.head;
  if (s.extended_connect) return HttpError(501, "extended CONNECT (:protocol) is not supported by the waypoint");
  if (h.method == "CONNECT") return HttpError(405, "CONNECT is not supported by the waypoint");
  for (char c : h.method) {
    if (c >= 'a' && c <= 'z') return HttpError(400, str_cat("method \"", printable(h.method), "\" must be upper case"));
  }
  std::string scheme = ascii_lower(h.scheme);
  if (scheme != "http" && scheme != "https") return HttpError(400, str_cat("unsupported :scheme \"", printable(h.scheme), "\""));
  h.scheme = scheme;
  // RFC 9113 §8.3.1: :authority, else Host; both present and different is a request two
  // hops could route differently.
  std::string_view authority = s.authority_pseudo;
  if (authority.empty()) {
    authority = s.host;
  } else if (!s.host.empty() && !iequals(s.host, authority)) {
    return HttpError(400, ":authority and host differ");
  }
  if (authority.empty()) return HttpError(400, "missing :authority");
  if (auto why = syntax::authority_error(authority)) return HttpError(400, str_cat("invalid :authority: ", *why));
  h.authority = ascii_lower(authority);
  if (h.path.empty()) return HttpError(400, "missing :path");
  if (h.path == "*") {
    if (h.method != "OPTIONS") return HttpError(400, ":path * is only allowed with OPTIONS");
  } else if (h.path.front() != '/') {
    return HttpError(400, ":path must start with /");
  }
  for (char c : h.path) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return HttpError(400, "invalid character in :path");
    if (c == '#') return HttpError(400, "fragment (#) in :path");
  }
  // RFC 9113 §8.2.3: cookie crumbs are joined for any HTTP/1 hop after us.
  if (!s.cookies.empty()) h.headers.add("cookie", join(s.cookies, "; "));
  if (s.content_length) {
    auto n = syntax::parse_content_length(*s.content_length);
    if (!n) return HttpError(400, "invalid content-length");
    h.body = BodyInfo{BodyInfo::Kind::kLength, *n};
  } else {
    h.body = BodyInfo{BodyInfo::Kind::kChunked, 0};
  }
  h.version = Version::kHttp2;
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// nghttp2 callbacks

ssize_t H2ServerCodec::on_send(nghttp2_session*, const uint8_t* data, size_t len, int, void* user) {
  auto* c = static_cast<H2ServerCodec*>(user);
  if (!c->out_ || c->out_->size() >= c->out_limit_) return NGHTTP2_ERR_WOULDBLOCK;
  c->out_->append(reinterpret_cast<const char*>(data), len);
  return static_cast<ssize_t>(len);
}

int H2ServerCodec::on_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd, size_t length,
                                nghttp2_data_source*, void* user) {
  auto* c = static_cast<H2ServerCodec*>(user);
  if (!c->out_ || c->out_->size() >= c->out_limit_) return NGHTTP2_ERR_WOULDBLOCK;
  Stream* s = c->find(frame->hd.stream_id);
  if (!s || s->buffered() < length) return NGHTTP2_ERR_CALLBACK_FAILURE;
  c->out_->append(reinterpret_cast<const char*>(framehd), 9);
  c->out_->append(s->body, s->body_off, length);
  s->body_off += length;
  if (s->body_off == s->body.size()) {
    s->body_off = 0;
    s->body.clear();
    if (s->body.capacity() > 64 * 1024) std::string().swap(s->body);
  }
  return 0;
}

ssize_t H2ServerCodec::on_read_data(nghttp2_session* session, int32_t stream_id, uint8_t*, size_t length, uint32_t* flags,
                                    nghttp2_data_source*, void* user) {
  auto* c = static_cast<H2ServerCodec*>(user);
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

int H2ServerCodec::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
  auto* c = static_cast<H2ServerCodec*>(user);
  // PRIORITY frames are ignored (we announce SETTINGS_NO_RFC7540_PRIORITIES), so nghttp2 never
  // reports them as received; they still cost a parse each. Counted at the frame header.
  if (hd->type == NGHTTP2_PRIORITY &&
      ++c->priority_frames_ > uint64_t{c->settings_.max_priority_per_stream} * (1 + c->stats_.streams_opened)) {
    c->fail_connection(NGHTTP2_ENHANCE_YOUR_CALM, "PRIORITY flood");
  }
  return 0;
}

int H2ServerCodec::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<H2ServerCodec*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    auto s = std::make_unique<Stream>();
    s->id = frame->hd.stream_id;
    c->streams_[s->id] = std::move(s);
    ++c->stats_.streams_opened;
  } else if (Stream* s = c->find(frame->hd.stream_id)) {
    s->in_trailers = true;
    s->header_bytes = 0;
    s->header_count = 0;
  }
  return 0;
}

int H2ServerCodec::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                             const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* c = static_cast<H2ServerCodec*>(user);
  Stream* s = c->find(frame->hd.stream_id);
  if (!s || s->refusal || c->failed_) return 0;
  std::string_view n = sv(name, namelen), v = sv(value, valuelen);
  s->header_bytes += namelen + valuelen + 32;
  ++s->header_count;
  if (s->header_bytes > c->settings_.max_header_list || s->header_count > c->settings_.max_header_count) {
    if (s->in_trailers) {
      c->submit_our_reset(s->id, NGHTTP2_CANCEL);  // the request is already on its way: abandon it
      return 0;
    }
    s->refusal = s->header_count > c->settings_.max_header_count
                     ? HttpError(431, str_cat("more than ", c->settings_.max_header_count, " header fields"))
                     : HttpError(431, str_cat("header list larger than ", c->settings_.max_header_list, " bytes"));
    return 0;
  }
  if (s->in_trailers) {
    s->trailers.add(n, v);  // nghttp2 refused pseudo-headers in trailers already
    return 0;
  }
  RequestHead& h = s->head;
  if (!n.empty() && n.front() == ':') {
    if (n == ":method") h.method = std::string(v);
    else if (n == ":scheme") h.scheme = std::string(v), s->has_scheme = true;
    else if (n == ":authority") s->authority_pseudo = std::string(v);
    else if (n == ":path") h.path = std::string(v);
    else if (n == ":protocol") s->extended_connect = true;
    return 0;
  }
  if (n == "host") s->host = std::string(v);
  else if (n == "content-length") s->content_length = std::string(v);
  else if (n == "te") h.te_trailers = true;  // nghttp2 allows only "trailers"
  else if (n == "cookie") s->cookies.emplace_back(v);
  else h.headers.add(n, v);
  return 0;
}

int H2ServerCodec::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<H2ServerCodec*>(user);
  const int32_t id = frame->hd.stream_id;
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* s = c->find(id);
      if (!s || c->failed_) break;
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (!s->refusal) s->refusal = c->finish_request_head(*s);
        if (s->refusal) {
          c->refuse(*s, *s->refusal);
          break;
        }
        if (end_stream) s->head.body = BodyInfo{};
        s->head_delivered = true;
        c->handler_->on_request_head(id, std::move(s->head), end_stream);
        if (end_stream && c->find(id)) c->handler_->on_request_end(id);
      } else if (s->head_delivered && !s->refusal) {
        c->handler_->on_request_trailers(id, std::move(s->trailers));
        if (end_stream && c->find(id)) c->handler_->on_request_end(id);
      }
      break;
    }
    case NGHTTP2_DATA: {
      if (frame->hd.length == 0 && !end_stream) {
        if (++c->empty_data_run_ > c->settings_.max_empty_data_run) {
          c->fail_connection(NGHTTP2_ENHANCE_YOUR_CALM,
                             str_cat("empty DATA flood: more than ", c->settings_.max_empty_data_run, " in a row"));
        }
      } else {
        c->empty_data_run_ = 0;
      }
      Stream* s = c->find(id);
      if (end_stream && s && s->head_delivered && !s->refusal && !c->failed_) c->handler_->on_request_end(id);
      break;
    }
    case NGHTTP2_RST_STREAM:
      ++c->stats_.resets_received;
      c->count_reset(false);
      break;
    case NGHTTP2_WINDOW_UPDATE:
      if (++c->window_updates_ > 100 + uint64_t{c->settings_.max_window_update_per_data} * c->data_frames_sent_) {
        c->fail_connection(NGHTTP2_ENHANCE_YOUR_CALM, "WINDOW_UPDATE flood");
      }
      break;
    default:
      break;
  }
  return 0;
}

int H2ServerCodec::on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* c = static_cast<H2ServerCodec*>(user);
  const int32_t id = frame->hd.stream_id;
  switch (frame->hd.type) {
    case NGHTTP2_RST_STREAM:
      if (c->our_resets_.erase(id) == 0) {
        // nghttp2 reset the stream for an error the client made on it (MadeYouReset, CVE-2025-8671):
        // the slot frees just as if the client had reset it.
        ++c->stats_.resets_provoked;
        c->count_reset(true);
      }
      break;
    case NGHTTP2_GOAWAY:
      c->stats_.goaway_sent = true;
      c->stats_.goaway_error = frame->goaway.error_code;
      if (frame->goaway.error_code != NGHTTP2_NO_ERROR && c->stats_.goaway_reason.empty()) {
        c->stats_.goaway_reason = frame->goaway.opaque_data_len > 0
                                      ? std::string(reinterpret_cast<const char*>(frame->goaway.opaque_data), frame->goaway.opaque_data_len)
                                      : nghttp2_http2_strerror(frame->goaway.error_code);
      }
      break;
    case NGHTTP2_DATA:
      ++c->data_frames_sent_;
      [[fallthrough]];
    case NGHTTP2_HEADERS:
      // Our response is complete while the client is still sending: RST_STREAM(NO_ERROR) asks it
      // to stop (RFC 9113 §8.1), and frees the slot instead of reading a body nobody wants.
      if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && c->find(id) &&
          nghttp2_session_get_stream_remote_close(session, id) == 0) {
        c->submit_our_reset(id, NGHTTP2_NO_ERROR);
      }
      break;
    default:
      break;
  }
  return 0;
}

int H2ServerCodec::on_data_chunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len, void* user) {
  auto* c = static_cast<H2ServerCodec*>(user);
  Stream* s = c->find(id);
  if (!s || !s->head_delivered || s->refusal || c->failed_) {
    nghttp2_session_consume(c->session_, id, len);  // nobody will forward it: window back now
    return 0;
  }
  s->unconsumed += len;
  c->handler_->on_request_body(id, sv(data, len));
  return 0;
}

int H2ServerCodec::on_stream_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
  auto* c = static_cast<H2ServerCodec*>(user);
  c->our_resets_.erase(id);  // queued but never sent
  auto it = c->streams_.find(id);
  if (it == c->streams_.end()) return 0;
  bool notify = it->second->head_delivered;
  // What the handler was given and never consumed would be lost from the connection window for
  // good: a few abandoned uploads would stall every later stream.
  if (it->second->unconsumed > 0) nghttp2_session_consume_connection(c->session_, it->second->unconsumed);
  c->streams_.erase(it);
  if (notify) c->handler_->on_stream_close(id, error_code);
  return 0;
}

}  // namespace ambit::waypoint::http
