// HBONE CONNECT header codecs; mirrors istio/ztunnel src/proxy.rs (HboneAddress, TraceParent,
// parse_forwarded_host), src/baggage.rs and src/proxy/outbound.rs (build_forwarded).
#include "common/hbone/headers.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>
#include <random>

#include "common/base/strings.h"

namespace ambit::hbone {
namespace {

// Untrusted input quoted in an error message: escaped and cut short.
std::string quoted(std::string_view s) {
  constexpr size_t kShow = 96;
  std::string out = str_cat("\"", printable(s.substr(0, kShow)), "\"");
  if (s.size() > kShow) str_append(&out, "... (", s.size(), " bytes)");
  return out;
}

std::string show_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u < 0x20 || u >= 0x7f) return printable(std::string_view(&c, 1));
  return str_cat("'", c, "'");
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_lower_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

// RFC 9110 tchar.
bool is_tchar(char c) {
  return is_digit(c) || is_alpha(c) || (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// ---- :authority ---------------------------------------------------------------------------

absl::Status authority_error(std::string_view authority, std::string_view why) {
  return absl::InvalidArgumentError(
      str_cat("invalid CONNECT authority ", quoted(authority), ": ", why));
}

// Decimal 1..65535, no sign, no leading zero. Returns the reason on failure.
std::optional<std::string> parse_port(std::string_view s, uint16_t* out) {
  if (s.empty()) return "empty port";
  for (char c : s) {
    if (!is_digit(c)) return str_cat("port ", quoted(s), " is not a decimal number");
  }
  if (s.size() > 1 && s[0] == '0') return str_cat("port ", quoted(s), " has a leading zero");
  if (s.size() > 5) return str_cat("port ", quoted(s), " is out of range (1-65535)");
  unsigned v = 0;
  for (char c : s) v = v * 10 + static_cast<unsigned>(c - '0');
  if (v > 65535) return str_cat("port ", v, " is out of range (1-65535)");
  if (v == 0) return std::string("port 0 is not a valid destination");
  *out = static_cast<uint16_t>(v);
  return std::nullopt;
}

// A DNS name as Kubernetes service FQDNs are: LDH labels of 1..63, at most 253 in all.
std::optional<std::string> check_hostname(std::string_view host) {
  if (host.size() > 253) return str_cat("hostname is ", host.size(), " bytes, over 253");
  for (std::string_view label : split(host, '.')) {
    if (label.empty()) return std::string("hostname has an empty label");
    if (label.size() > 63) return std::string("hostname label longer than 63 characters");
    for (char c : label) {
      if (!is_alpha(c) && !is_digit(c) && c != '-') {
        return str_cat("invalid character ", show_char(c), " in hostname");
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return str_cat("hostname label ", quoted(label), " starts or ends with '-'");
    }
  }
  return std::nullopt;
}

// ---- baggage ------------------------------------------------------------------------------

// W3C baggage-octet, minus '=' (ztunnel's parser splits on every '=') and '%' (the escape).
bool baggage_plain(char c) {
  auto u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7e && c != '"' && c != ',' && c != ';' && c != '\\' && c != '=' &&
         c != '%';
}

void append_baggage_value(std::string* out, std::string_view v) {
  static const char* kHex = "0123456789ABCDEF";
  for (char c : v) {
    if (baggage_plain(c)) {
      out->push_back(c);
    } else {
      auto u = static_cast<unsigned char>(c);
      out->push_back('%');
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 15]);
    }
  }
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes; a malformed escape is kept literally (tolerant, like ztunnel which never
// decodes). nullopt if the result is not printable ASCII.
std::optional<std::string> decode_baggage_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '%' && i + 2 < v.size()) {
      int hi = hex_value(v[i + 1]);
      int lo = hex_value(v[i + 2]);
      if (hi >= 0 && lo >= 0) {
        c = static_cast<char>(hi * 16 + lo);
        i += 2;
      }
    }
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return std::nullopt;
    out.push_back(c);
  }
  return out;
}

bool known_workload_type(std::string_view t) {
  return t == "deployment" || t == "cronjob" || t == "pod" || t == "job";
}

void apply_baggage_member(std::string_view member, Baggage* b) {
  // Properties (";k=v" after the value) are not ours to read.
  member = trim(member.substr(0, member.find(';')));
  size_t eq = member.find('=');
  if (eq == std::string_view::npos) return;
  std::string_view key = trim(member.substr(0, eq));
  auto value = decode_baggage_value(trim(member.substr(eq + 1)));
  if (!value) return;
  std::string* field = nullptr;
  if (key == "k8s.cluster.name") {
    field = &b->cluster_id;
  } else if (key == "k8s.namespace.name") {
    field = &b->ns;
  } else if (key == "service.name") {
    field = &b->service_name;
  } else if (key == "service.version") {
    field = &b->revision;
  } else if (key == "cloud.region") {
    field = &b->region;
  } else if (key == "cloud.availability_zone") {
    field = &b->zone;
  } else if (key.size() > 9 && key.starts_with("k8s.") && key.ends_with(".name") &&
             known_workload_type(key.substr(4, key.size() - 9))) {
    b->workload_name = *value;
    b->workload_type = value->empty() ? "" : std::string(key.substr(4, key.size() - 9));
    return;
  } else {
    return;  // unknown key
  }
  *field = std::move(*value);
}

// ---- forwarded ----------------------------------------------------------------------------

absl::Status forwarded_error(std::string_view header, std::string_view why) {
  return absl::InvalidArgumentError(
      str_cat("invalid forwarded header ", quoted(header), ": ", why));
}

bool eq_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// ---- traceparent --------------------------------------------------------------------------

// xoshiro256** (Blackman & Vigna), one per thread, seeded from std::random_device through
// splitmix64. Trace ids only need to be unique-ish and cheap, not unpredictable.
class FastRng {
 public:
  FastRng() {
    std::random_device rd;
    uint64_t x = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    for (auto& s : s_) {
      x += 0x9e3779b97f4a7c15ULL;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      s = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

absl::Status traceparent_error(std::string_view header, std::string_view why) {
  return absl::InvalidArgumentError(str_cat("invalid traceparent ", quoted(header), ": ", why));
}

// Lower-case hex field [pos, pos+n) into bytes; returns the reason on failure.
std::optional<std::string> read_hex(std::string_view s, size_t pos, size_t n, uint8_t* out) {
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (!is_lower_hex(c)) {
      return str_cat("invalid character ", show_char(c), " at offset ", pos + i,
                     " (lower-case hex only)");
    }
  }
  for (size_t i = 0; i < n / 2; ++i) {
    out[i] = static_cast<uint8_t>(hex_value(s[pos + 2 * i]) * 16 + hex_value(s[pos + 2 * i + 1]));
  }
  return std::nullopt;
}

}  // namespace

// ---- :authority ---------------------------------------------------------------------------

std::string HboneAddress::to_string() const {
  if (ip) return net::SocketAddr{*ip, port}.to_string();
  return str_cat(hostname, ":", port);
}

absl::StatusOr<HboneAddress> parse_connect_authority(std::string_view a) {
  if (a.empty()) return authority_error(a, "empty authority");
  if (a.size() > HboneAddress::kMaxAuthorityLength) {
    return authority_error(
        a, str_cat("longer than ", HboneAddress::kMaxAuthorityLength, " bytes (", a.size(), ")"));
  }
  for (char c : a) {
    auto u = static_cast<unsigned char>(c);
    if (u == 0) return authority_error(a, "contains a NUL byte");
    if (c == ' ' || c == '\t') return authority_error(a, "contains whitespace");
    if (u < 0x20 || u == 0x7f) return authority_error(a, "contains a control byte");
    if (u >= 0x80) return authority_error(a, "contains a non-ASCII byte");
    if (c == '@') return authority_error(a, "userinfo ('@') is not allowed");
    if (c == '/') return authority_error(a, "a path is not allowed");
    if (c == '?') return authority_error(a, "a query is not allowed");
    if (c == '#') return authority_error(a, "a fragment is not allowed");
    if (c == '%') return authority_error(a, "percent-encoding and zone ids are not allowed");
  }

  HboneAddress out;
  std::string_view port_str;
  if (a[0] == '[') {
    size_t close = a.find(']');
    if (close == std::string_view::npos) return authority_error(a, "unterminated '['");
    std::string literal(a.substr(1, close - 1));
    if (close + 1 == a.size()) return authority_error(a, "missing port (want [ipv6]:port)");
    if (a[close + 1] != ':') return authority_error(a, "expected ':' after ']'");
    in6_addr a6;
    if (literal.empty() || inet_pton(AF_INET6, literal.c_str(), &a6) != 1) {
      return authority_error(a, str_cat("invalid IPv6 address ", quoted(literal)));
    }
    out.ip = net::IpAddr::from_in6(a6);
    port_str = a.substr(close + 2);
  } else {
    size_t colon = a.rfind(':');
    if (colon == std::string_view::npos) return authority_error(a, "missing port (want host:port)");
    std::string_view host = a.substr(0, colon);
    port_str = a.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return authority_error(a, "an IPv6 address must be in brackets ([ipv6]:port)");
    }
    if (host.find('[') != std::string_view::npos || host.find(']') != std::string_view::npos) {
      return authority_error(a, "misplaced '[' or ']'");
    }
    if (host.empty()) return authority_error(a, "empty host");
    // A host whose last label is numeric can only be an IPv4 address (RFC 3696 §2).
    std::string_view last = host.substr(host.rfind('.') + 1);
    bool numeric = !last.empty() && last.find_first_not_of("0123456789") == std::string_view::npos;
    if (numeric) {
      std::string h(host);
      in_addr a4;
      if (inet_pton(AF_INET, h.c_str(), &a4) != 1) {
        return authority_error(a, str_cat("invalid IPv4 address ", quoted(host)));
      }
      out.ip = net::IpAddr::from_in(a4);
    } else {
      if (auto why = check_hostname(host)) return authority_error(a, *why);
      out.hostname = std::string(host);
    }
  }
  if (auto why = parse_port(port_str, &out.port)) return authority_error(a, *why);
  return out;
}

// ---- baggage ------------------------------------------------------------------------------

std::string build_baggage(const Baggage& b) {
  std::string out;
  auto add = [&](std::string_view key, const std::string& value) {
    if (value.empty()) return;
    if (!out.empty()) out.push_back(',');
    str_append(&out, key, "=");
    append_baggage_value(&out, value);
  };
  add("k8s.cluster.name", b.cluster_id);
  add("k8s.namespace.name", b.ns);
  std::string_view type = known_workload_type(b.workload_type) ? std::string_view(b.workload_type)
                                                               : std::string_view("deployment");
  add(str_cat("k8s.", type, ".name"), b.workload_name);
  add("service.name", b.service_name);
  add("service.version", b.revision);
  add("cloud.region", b.region);
  add("cloud.availability_zone", b.zone);
  return out;
}

absl::StatusOr<Baggage> parse_baggage(const std::vector<std::string_view>& values) {
  size_t total = 0;
  for (auto v : values) total += v.size();
  if (total > Baggage::kMaxLength) {
    return absl::InvalidArgumentError(
        str_cat("baggage is ", total, " bytes, over the ", Baggage::kMaxLength, "-byte limit"));
  }
  Baggage b;
  size_t members = 0;
  for (auto v : values) {
    for (std::string_view member : split(v, ',')) {
      if (trim(member).empty()) continue;
      if (++members > Baggage::kMaxEntries) {
        return absl::InvalidArgumentError(
            str_cat("baggage has more than ", Baggage::kMaxEntries, " members"));
      }
      apply_baggage_member(member, &b);
    }
  }
  return b;
}

absl::StatusOr<Baggage> parse_baggage(std::string_view value) {
  return parse_baggage(std::vector<std::string_view>{value});
}

// ---- forwarded ----------------------------------------------------------------------------

std::string build_forwarded(const net::SocketAddr& src, std::string_view host) {
  std::string out = str_cat("for=\"", src.to_string(), "\"");
  if (host.empty()) return out;
  bool token = true;
  for (char c : host) {
    auto u = static_cast<unsigned char>(c);
    // A quoted-string cannot carry control or non-ASCII bytes: such a name is not sent.
    if ((u < 0x20 && c != '\t') || u >= 0x7f) return out;
    token = token && is_tchar(c);
  }
  if (token) {
    str_append(&out, ";host=", host);
    return out;
  }
  out += ";host=\"";
  for (char c : host) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

absl::StatusOr<std::optional<std::string>> parse_forwarded_host(std::string_view h) {
  if (h.size() > kMaxForwardedLength) {
    return forwarded_error(h,
                           str_cat("longer than ", kMaxForwardedLength, " bytes (", h.size(), ")"));
  }
  for (size_t i = 0; i < h.size(); ++i) {
    auto u = static_cast<unsigned char>(h[i]);
    if (u >= 0x80) return forwarded_error(h, str_cat("non-ASCII byte at offset ", i));
    if ((u < 0x20 && h[i] != '\t') || u == 0x7f) {
      return forwarded_error(h, str_cat("control byte at offset ", i));
    }
  }
  std::optional<std::string> host;
  bool host_seen = false;  // ztunnel: the first host= decides, even when empty
  size_t pairs = 0;
  size_t i = 0;
  auto skip_ows = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t')) ++i;
  };
  while (i < h.size()) {  // one forwarded-element per iteration
    bool element_host = false;
    for (;;) {  // one forwarded-pair per iteration
      skip_ows();
      if (i == h.size() || h[i] == ',') break;
      if (h[i] == ';') {  // empty pair
        ++i;
        continue;
      }
      size_t name_start = i;
      while (i < h.size() && is_tchar(h[i])) ++i;
      std::string_view name = h.substr(name_start, i - name_start);
      if (name.empty()) {
        return forwarded_error(
            h, str_cat("expected a parameter name at offset ", i, ", got ", show_char(h[i])));
      }
      if (i == h.size() || h[i] != '=') {
        return forwarded_error(h, str_cat("parameter ", quoted(name), " has no '='"));
      }
      ++i;
      std::string value;
      if (i < h.size() && h[i] == '"') {
        ++i;
        bool closed = false;
        while (i < h.size()) {
          char c = h[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i == h.size()) break;
            c = h[i++];
          }
          value.push_back(c);
        }
        if (!closed) {
          return forwarded_error(h, str_cat("unterminated quoted value of ", quoted(name)));
        }
      } else {
        size_t start = i;
        while (i < h.size() && is_tchar(h[i])) ++i;
        value = std::string(h.substr(start, i - start));  // may be empty: "host=" is no host
      }
      if (++pairs > kMaxForwardedPairs) {
        return forwarded_error(h, str_cat("more than ", kMaxForwardedPairs, " parameters"));
      }
      if (eq_ignore_case(name, "host")) {
        if (element_host) return forwarded_error(h, "duplicate host parameter in one element");
        element_host = true;
        if (!host_seen) {
          host_seen = true;
          if (!value.empty()) host = std::move(value);
        }
      }
      skip_ows();
      if (i == h.size() || h[i] == ',') break;
      if (h[i] != ';') {
        return forwarded_error(h, str_cat("unexpected ", show_char(h[i]), " at offset ", i));
      }
      ++i;
    }
    if (i < h.size()) ++i;  // the ','
  }
  return host;
}

// ---- traceparent --------------------------------------------------------------------------

TraceParent TraceParent::random() {
  thread_local FastRng rng;
  TraceParent t;
  uint64_t hi = 0, lo = 0;
  while (hi == 0 && lo == 0) {
    hi = rng.next();
    lo = rng.next();
  }
  for (int i = 0; i < 8; ++i) {
    t.trace_id[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
    t.trace_id[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
  }
  while (t.parent_id == 0) t.parent_id = rng.next();
  return t;
}

std::string TraceParent::trace_id_hex() const {
  return hex(std::string_view(reinterpret_cast<const char*>(trace_id.data()), trace_id.size()));
}

std::string TraceParent::to_string() const {
  char parent[17];
  std::snprintf(parent, sizeof(parent), "%016llx", static_cast<unsigned long long>(parent_id));
  char ver[3], fl[3];
  std::snprintf(ver, sizeof(ver), "%02x", version);
  std::snprintf(fl, sizeof(fl), "%02x", flags);
  return str_cat(ver, "-", trace_id_hex(), "-", parent, "-", fl);
}

absl::StatusOr<TraceParent> parse_traceparent(std::string_view s) {
  constexpr size_t kLen = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2
  if (s.size() < kLen) {
    return traceparent_error(s, str_cat(s.size(), " characters, want ", kLen));
  }
  TraceParent t;
  if (auto why = read_hex(s, 0, 2, &t.version)) return traceparent_error(s, *why);
  if (t.version == 0xff) return traceparent_error(s, "version ff is invalid");
  if (t.version == 0 && s.size() != kLen) {
    return traceparent_error(
        s, str_cat("version 00 is exactly ", kLen, " characters, got ", s.size()));
  }
  if (s.size() > kLen && s[kLen] != '-') {
    return traceparent_error(s, str_cat("expected '-' at offset ", kLen));
  }
  for (size_t pos : {2u, 35u, 52u}) {
    if (s[pos] != '-') {
      return traceparent_error(
          s, str_cat("expected '-' at offset ", pos, ", got ", show_char(s[pos])));
    }
  }
  if (auto why = read_hex(s, 3, 32, t.trace_id.data())) return traceparent_error(s, *why);
  uint8_t parent[8];
  if (auto why = read_hex(s, 36, 16, parent)) return traceparent_error(s, *why);
  for (uint8_t b : parent) t.parent_id = (t.parent_id << 8) | b;
  if (auto why = read_hex(s, 53, 2, &t.flags)) return traceparent_error(s, *why);
  bool zero = true;
  for (uint8_t b : t.trace_id) zero = zero && b == 0;
  if (zero) return traceparent_error(s, "all-zero trace id");
  if (t.parent_id == 0) return traceparent_error(s, "all-zero parent id");
  return t;
}

}  // namespace ambit::hbone
