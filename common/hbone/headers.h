// Codecs for what an HBONE CONNECT request carries besides its bytes: the `:authority`
// destination, and the `baggage`, `forwarded` and `traceparent` headers. Pure string functions,
// shared by the outbound side (build) and the inbound side (parse); everything parsed here comes
// from the network, so parsers are strict, bounded, and say what is wrong.
//
// Mirrors istio/ztunnel:
//   - src/proxy.rs   HboneAddress + TryFrom<&Uri>, TraceParent, parse_forwarded_host
//   - src/baggage.rs baggage_header_val / parse_baggage_header
//   - src/proxy/outbound.rs create_hbone_request / build_forwarded
//
//   AMBIT_ASSIGN_OR_RETURN(HboneAddress dst, parse_connect_authority(":authority value"));
//   std::string baggage = build_baggage({.cluster_id = "Kubernetes", .ns = "default", ...});
//   std::string fwd = build_forwarded(src, "reviews.default.svc.cluster.local");
//   TraceParent id = TraceParent::random();   id.to_string() -> "00-<32hex>-<16hex>-00"
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net/ip_addr.h"

namespace ambit::hbone {

// ---- :authority ---------------------------------------------------------------------------

// Where a CONNECT asks to go: `IP:port` (IPv6 as `[v6]:port`), the normal case, or
// `hostname:port` (service FQDN + service port), used through east-west gateways.
struct HboneAddress {
  static constexpr size_t kMaxAuthorityLength = 255;

  std::optional<net::IpAddr> ip;  // set for the IP:port form
  std::string hostname;           // non-empty for the hostname:port form (ip unset)
  uint16_t port = 0;

  static HboneAddress from_socket_addr(const net::SocketAddr& a) { return {a.ip, "", a.port}; }
  static HboneAddress from_hostname(std::string host, uint16_t port) {
    return {std::nullopt, std::move(host), port};
  }
  bool is_hostname() const { return !ip.has_value(); }
  std::optional<net::SocketAddr> socket_addr() const {
    if (!ip) return std::nullopt;
    return net::SocketAddr{*ip, port};
  }
  // The :authority form: "1.2.3.4:80", "[2001:db8::1]:80", "svc.ns.svc.cluster.local:80".
  std::string to_string() const;
  bool operator==(const HboneAddress&) const = default;
};

// Strict parse of a CONNECT :authority. Rejects (InvalidArgument, naming the reason): empty or
// longer than kMaxAuthorityLength; whitespace, control bytes, NUL, non-ASCII; userinfo ('@');
// path, query or fragment; a missing, empty, zero, non-decimal, leading-zero or > 65535 port;
// an empty host; IPv6 without brackets, with a zone id, or a bad bracketed literal; a dotted
// numeric host that is not a valid IPv4 address; a hostname that is not dot-separated LDH
// labels of 1..63 characters (no leading/trailing '-', no empty label, no trailing dot).
// IPv4-mapped IPv6 literals come back as IPv4 (net::IpAddr normalises them).
absl::StatusOr<HboneAddress> parse_connect_authority(std::string_view authority);

// ---- baggage ------------------------------------------------------------------------------

// What ztunnel puts in `baggage` about the workload at one end of a tunnel (W3C Baggage with
// OpenTelemetry key names). Empty string = absent.
struct Baggage {
  static constexpr size_t kMaxLength = 8192;  // W3C Baggage: total header size limit
  static constexpr size_t kMaxEntries = 64;   // list members, over all header values

  std::string cluster_id{};     // k8s.cluster.name
  std::string ns{};             // k8s.namespace.name
  std::string workload_name{};  // k8s.<workload_type>.name
  // "deployment", "cronjob", "pod" or "job" (Workload.workload_type); on build, anything else
  // (or empty) is written as "deployment", Istio's default workload type.
  std::string workload_type{};
  std::string service_name{};  // service.name (canonical service)
  std::string revision{};      // service.version (canonical revision)
  std::string region{};        // cloud.region
  std::string zone{};          // cloud.availability_zone
  bool operator==(const Baggage&) const = default;
};

// "k8s.cluster.name=c,k8s.namespace.name=ns,k8s.deployment.name=w,service.name=s,..." in
// ztunnel's order, omitting empty values. Bytes outside the W3C baggage-octet set (and '%')
// are percent-encoded, so a value can never break the list; Kubernetes names never need it.
std::string build_baggage(const Baggage& b);

// Parses one or more `baggage` header values (as repeated headers). Tolerant like ztunnel:
// unknown keys, members without '=', empty members, optional whitespace and `;properties` are
// ignored; an empty value clears the key; a later member wins. Values are percent-decoded;
// a member whose value decodes to a control byte is ignored. Errors (InvalidArgument) only for
// input over kMaxLength bytes or kMaxEntries members in total.
absl::StatusOr<Baggage> parse_baggage(const std::vector<std::string_view>& header_values);
absl::StatusOr<Baggage> parse_baggage(std::string_view header_value);

// ---- forwarded ----------------------------------------------------------------------------

// RFC 7239 `for="<src ip:port>"` (always quoted: the port's ':' and IPv6 brackets are not
// token characters), plus `;host=<service hostname>` when the destination was addressed by
// service (quoted only if it is not a token), as ztunnel's build_forwarded.
std::string build_forwarded(const net::SocketAddr& src, std::string_view service_hostname = {});

// The `host=` parameter of a `forwarded` header, as ztunnel's parse_forwarded_host reads it:
// the first forwarded-pair named host (case-insensitive), token or quoted-string value,
// across comma-separated elements; nullopt when there is none or it is empty. Unlike ztunnel,
// the whole header is parsed per RFC 7239, so a malformed header (unterminated quote, bad
// escape, pair without '=', empty parameter name, duplicate host in one element, non-ASCII or
// control bytes, over kMaxForwardedLength bytes / kMaxForwardedPairs pairs) is an error.
constexpr size_t kMaxForwardedLength = 4096;
constexpr size_t kMaxForwardedPairs = 64;
absl::StatusOr<std::optional<std::string>> parse_forwarded_host(std::string_view header);

// ---- traceparent --------------------------------------------------------------------------

// W3C Trace Context `traceparent`. ztunnel sends version 00, random ids, flags 00, one per
// connection, and logs the trace id as the connection id.
struct TraceParent {
  uint8_t version = 0;
  std::array<uint8_t, 16> trace_id{};
  uint64_t parent_id = 0;
  uint8_t flags = 0;

  // Fresh random (non-zero) ids from a per-thread xoshiro256** generator seeded from
  // std::random_device. Not for secrets: these ids are public correlation handles.
  static TraceParent random();
  // "00-<32 hex>-<16 hex>-00".
  std::string to_string() const;
  // The 32-hex trace id (what ztunnel's Display prints).
  std::string trace_id_hex() const;
  bool operator==(const TraceParent&) const = default;
};

// Validating parse per W3C Trace Context §3.2: lower-case hex only; version ff is invalid;
// version 00 is exactly 55 characters; a later version may carry more after a '-' (ignored);
// an all-zero trace id or parent id is invalid.
absl::StatusOr<TraceParent> parse_traceparent(std::string_view header);

}  // namespace ambit::hbone
