#include "waypoint/l7/filters.h"

#include <algorithm>

#include "common/base/status.h"
#include "common/base/strings.h"

namespace ambit::waypoint::l7 {
namespace {

namespace pb = ::ambit::waypoint::v1;

absl::Status compile_headers(const google::protobuf::RepeatedPtrField<pb::Header>& in,
                             std::string_view where, std::vector<Header>* out) {
  for (int i = 0; i < in.size(); ++i) {
    if (auto st = validate_header(in[i].name(), in[i].value()); !st.ok()) {
      return absl::InvalidArgumentError(str_cat(where, "[", i, "]: ", st.message()));
    }
    out->push_back(Header{to_lower(in[i].name()), in[i].value()});
  }
  return absl::OkStatus();
}

absl::StatusOr<HeaderModifier> compile_modifier(const pb::HeaderModifier& m,
                                                std::string_view where) {
  HeaderModifier out;
  AMBIT_RETURN_IF_ERROR(compile_headers(m.set(), str_cat(where, ".set"), &out.set));
  AMBIT_RETURN_IF_ERROR(compile_headers(m.add(), str_cat(where, ".add"), &out.add));
  for (int i = 0; i < m.remove_size(); ++i) {
    if (auto st = validate_header(m.remove(i), ""); !st.ok()) {
      return absl::InvalidArgumentError(str_cat(where, ".remove[", i, "]: ", st.message()));
    }
    out.remove.push_back(to_lower(m.remove(i)));
  }
  return out;
}

// Gateway API PreciseHostname: lower-case DNS name, no port.
absl::Status check_hostname(std::string_view h, std::string_view where) {
  if (h.empty() || h.size() > 253) {
    return absl::InvalidArgumentError(str_cat(where, ": hostname of ", h.size(), " characters"));
  }
  for (char c : h) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
      return absl::InvalidArgumentError(
          str_cat(where, ": hostname \"", printable(h), "\" is not a lower-case DNS name"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PathModifier> compile_path(const pb::PathModifier& p, bool prefix_match_ok,
                                          std::string_view where) {
  PathModifier out;
  switch (p.kind_case()) {
    case pb::PathModifier::kReplaceFullPath:
      if (!p.replace_full_path().starts_with('/')) {
        return absl::InvalidArgumentError(str_cat(where, ": replace_full_path \"",
                                                  printable(p.replace_full_path()),
                                                  "\" does not start with '/'"));
      }
      out.kind = PathModifier::Kind::kFullPath;
      out.value = p.replace_full_path();
      break;
    case pb::PathModifier::kReplacePrefixMatch:
      if (!prefix_match_ok) {
        return absl::InvalidArgumentError(
            str_cat(where, ": replace_prefix_match needs every match of the rule to be a "
                           "PathPrefix"));
      }
      if (!p.replace_prefix_match().empty() && !p.replace_prefix_match().starts_with('/')) {
        return absl::InvalidArgumentError(str_cat(where, ": replace_prefix_match \"",
                                                  printable(p.replace_prefix_match()),
                                                  "\" does not start with '/'"));
      }
      out.kind = PathModifier::Kind::kPrefixMatch;
      out.value = p.replace_prefix_match();
      break;
    case pb::PathModifier::KIND_NOT_SET:
      break;
  }
  for (char c : out.value) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#' ||
        static_cast<unsigned char>(c) >= 0x80) {
      return absl::InvalidArgumentError(
          str_cat(where, ": path \"", printable(out.value), "\" has a byte not allowed there"));
    }
  }
  return out;
}

absl::StatusOr<std::optional<std::chrono::milliseconds>> to_ms(
    const google::protobuf::Duration& d, std::string_view where) {
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() >= 1000000000 || d.seconds() > 315576000000) {
    return absl::InvalidArgumentError(str_cat(where, ": invalid duration"));
  }
  auto ms = std::chrono::milliseconds(d.seconds() * 1000 + d.nanos() / 1000000);
  if (ms.count() == 0 && d.nanos() > 0) ms = std::chrono::milliseconds(1);  // round up
  if (ms.count() == 0) return std::optional<std::chrono::milliseconds>();
  return std::optional<std::chrono::milliseconds>(ms);
}

std::string_view strip_trailing_slash(std::string_view p) {
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  return p;
}

}  // namespace

absl::StatusOr<BackendTarget> compile_backend_ref(const pb::BackendRef& b, std::string_view where) {
  BackendTarget out;
  if (b.target_case() == pb::BackendRef::kInvalid) {
    out.invalid = b.invalid().empty() ? std::string("invalid backend") : b.invalid();
    return out;
  }
  if (b.port() == 0 || b.port() > 65535) {
    return absl::InvalidArgumentError(str_cat(where, ": port ", b.port(), " is not 1..65535"));
  }
  out.port = static_cast<uint16_t>(b.port());
  switch (b.target_case()) {
    case pb::BackendRef::kService:
      if (b.service().namespace_().empty() || b.service().hostname().empty()) {
        return absl::InvalidArgumentError(str_cat(where, ": service namespace and hostname required"));
      }
      out.service = service_key(b.service());
      return out;
    case pb::BackendRef::kWorkloadUid:
      if (b.workload_uid().empty()) {
        return absl::InvalidArgumentError(str_cat(where, ": empty workload uid"));
      }
      out.workload_uid = b.workload_uid();
      return out;
    default:
      return absl::InvalidArgumentError(str_cat(where, ": no target"));
  }
}

absl::StatusOr<CompiledFilter> compile_filter(const pb::Filter& f, bool prefix_match_ok,
                                              std::string_view where) {
  switch (f.kind_case()) {
    case pb::Filter::kRequestHeaderModifier: {
      auto m = compile_modifier(f.request_header_modifier(),
                                str_cat(where, ".request_header_modifier"));
      if (!m.ok()) return m.status();
      return RequestHeaderModifier{*std::move(m)};
    }
    case pb::Filter::kResponseHeaderModifier: {
      auto m = compile_modifier(f.response_header_modifier(),
                                str_cat(where, ".response_header_modifier"));
      if (!m.ok()) return m.status();
      return ResponseHeaderModifier{*std::move(m)};
    }
    case pb::Filter::kRequestRedirect: {
      const pb::RequestRedirect& r = f.request_redirect();
      std::string w = str_cat(where, ".request_redirect");
      RequestRedirect out;
      if (!r.scheme().empty() && r.scheme() != "http" && r.scheme() != "https") {
        return absl::InvalidArgumentError(
            str_cat(w, ": scheme \"", printable(r.scheme()), "\" is not http or https"));
      }
      out.scheme = r.scheme();
      if (!r.hostname().empty()) AMBIT_RETURN_IF_ERROR(check_hostname(r.hostname(), w));
      out.hostname = r.hostname();
      if (r.port() > 65535) {
        return absl::InvalidArgumentError(str_cat(w, ": port ", r.port(), " is not 1..65535"));
      }
      out.port = static_cast<uint16_t>(r.port());
      uint32_t code = r.status_code() == 0 ? 302 : r.status_code();
      if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) {
        return absl::InvalidArgumentError(
            str_cat(w, ": status ", code, " is not 301, 302, 303, 307 or 308"));
      }
      out.status = static_cast<uint16_t>(code);
      auto p = compile_path(r.path(), prefix_match_ok, str_cat(w, ".path"));
      if (!p.ok()) return p.status();
      out.path = *std::move(p);
      return out;
    }
    case pb::Filter::kUrlRewrite: {
      const pb::UrlRewrite& r = f.url_rewrite();
      std::string w = str_cat(where, ".url_rewrite");
      UrlRewrite out;
      if (!r.hostname().empty()) AMBIT_RETURN_IF_ERROR(check_hostname(r.hostname(), w));
      out.hostname = r.hostname();
      auto p = compile_path(r.path(), prefix_match_ok, str_cat(w, ".path"));
      if (!p.ok()) return p.status();
      out.path = *std::move(p);
      return out;
    }
    case pb::Filter::kRequestMirror: {
      const pb::RequestMirror& m = f.request_mirror();
      std::string w = str_cat(where, ".request_mirror");
      RequestMirror out;
      auto b = compile_backend_ref(m.backend(), str_cat(w, ".backend"));
      if (!b.ok()) return b.status();
      out.backend = *std::move(b);
      if (m.denominator() == 0 && m.numerator() == 0) {
        out.numerator = out.denominator = 100;
      } else {
        out.numerator = m.numerator();
        out.denominator = m.denominator() == 0 ? 100 : m.denominator();
      }
      if (out.numerator > out.denominator) {
        return absl::InvalidArgumentError(str_cat(w, ": fraction ", out.numerator, "/",
                                                  out.denominator, " is above 1"));
      }
      return out;
    }
    case pb::Filter::KIND_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(str_cat(where, ": no filter kind set"));
}

absl::StatusOr<RetryPolicy> compile_retry(const pb::Retry& r, std::string_view where) {
  RetryPolicy out;
  out.attempts = r.attempts();
  if (out.attempts > 100) {
    return absl::InvalidArgumentError(str_cat(where, ": ", out.attempts, " attempts (at most 100)"));
  }
  for (uint32_t c : r.codes()) {
    if (c < 400 || c > 599) {
      return absl::InvalidArgumentError(str_cat(where, ": code ", c, " is not 400..599"));
    }
    out.codes.push_back(static_cast<uint16_t>(c));
  }
  if (r.has_backoff()) {
    auto b = to_ms(r.backoff(), str_cat(where, ".backoff"));
    if (!b.ok()) return b.status();
    out.backoff = b->value_or(std::chrono::milliseconds(0));
  }
  out.connection_errors = r.connection_errors();
  return out;
}

absl::StatusOr<Timeouts> compile_timeouts(const pb::Timeouts& t, std::string_view where) {
  Timeouts out;
  if (t.has_request()) {
    auto v = to_ms(t.request(), str_cat(where, ".request"));
    if (!v.ok()) return v.status();
    out.request = *v;
  }
  if (t.has_backend_request()) {
    auto v = to_ms(t.backend_request(), str_cat(where, ".backend_request"));
    if (!v.ok()) return v.status();
    out.backend_request = *v;
  }
  // Gateway API: backendRequest must not exceed request.
  if (out.request && out.backend_request && *out.backend_request > *out.request) {
    return absl::InvalidArgumentError(
        str_cat(where, ": backend_request (", out.backend_request->count(),
                " ms) is longer than request (", out.request->count(), " ms)"));
  }
  return out;
}

bool RetryPolicy::retriable_status(uint16_t status) const {
  return std::find(codes.begin(), codes.end(), status) != codes.end();
}

std::chrono::milliseconds RetryPolicy::backoff_before(uint32_t retry, uint64_t draw) const {
  if (retry == 0 || backoff.count() <= 0) return std::chrono::milliseconds(0);
  const uint64_t base = static_cast<uint64_t>(backoff.count());
  const uint64_t factor = (uint64_t{1} << std::min<uint32_t>(retry, 20)) - 1;
  const uint64_t upper = std::min(base * factor, base * 10);
  return std::chrono::milliseconds(draw % (upper + 1));
}

void apply_header_modifier(const HeaderModifier& m, HeaderMap* headers) {
  for (const std::string& name : m.remove) headers->remove(name);
  for (const Header& h : m.set) headers->set(h.name, h.value);
  for (const Header& h : m.add) headers->add(h.name, h.value);
}

std::string replace_prefix_match(std::string_view path, std::string_view prefix,
                                 std::string_view replacement) {
  std::string_view p = strip_trailing_slash(prefix);
  if (!path.starts_with(p) || (path.size() > p.size() && path[p.size()] != '/')) {
    return std::string(path);  // not this prefix's request: nothing to replace
  }
  std::string out(strip_trailing_slash(replacement));
  out.append(path.substr(p.size()));  // "" or "/rest"
  if (out.empty()) return "/";
  if (out.front() != '/') out.insert(out.begin(), '/');
  return out;
}

std::string rewrite_path(const PathModifier& m, const RequestContext& ctx) {
  switch (m.kind) {
    case PathModifier::Kind::kNone:
      return std::string(ctx.path);
    case PathModifier::Kind::kFullPath:
      return m.value;
    case PathModifier::Kind::kPrefixMatch:
      return replace_prefix_match(ctx.path, ctx.matched_prefix, m.value);
  }
  return std::string(ctx.path);
}

Redirect redirect_response(const RequestRedirect& r, const RequestContext& ctx) {
  std::string scheme = r.scheme.empty() ? to_lower(ctx.scheme) : r.scheme;
  std::string host = r.hostname.empty() ? host_without_port(ctx.authority) : r.hostname;
  uint16_t port = r.port;
  if (port == 0) {
    if (!r.scheme.empty() && r.scheme == "http") {
      port = 80;
    } else if (!r.scheme.empty() && r.scheme == "https") {
      port = 443;
    } else {
      port = ctx.listener_port;
    }
  }
  std::string location = str_cat(scheme, "://", host);
  bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  if (port != 0 && !default_port) str_append(&location, ":", port);
  location += rewrite_path(r.path, ctx);
  if (ctx.has_query) str_append(&location, "?", ctx.query);
  return Redirect{r.status, std::move(location)};
}

void apply_url_rewrite(const UrlRewrite& r, const RequestContext& ctx, Request* req) {
  if (!r.hostname.empty()) req->authority = r.hostname;
  std::string path = rewrite_path(r.path, ctx);
  if (ctx.has_query) str_append(&path, "?", ctx.query);
  req->path = std::move(path);
}

bool mirror_selected(const RequestMirror& m, uint64_t draw) {
  return m.denominator != 0 && (draw % m.denominator) < m.numerator;
}

}  // namespace ambit::waypoint::l7
