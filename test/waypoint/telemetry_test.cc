// The waypoint's telemetry: Istio's label set with reporter="waypoint", values looked up in WDS
// when the record leaves them out ("unknown" when WDS does not know either), the four HTTP
// families and the TCP family as Prometheus exposes them, and an access-log line that a
// client's bytes cannot break into two.
#include "waypoint/telemetry.h"

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "istio/workload/workload.pb.h"

using namespace ambit;
using namespace ambit::waypoint;

namespace {

net::IpAddr ip(const char* s) { return *net::IpAddr::parse(s); }
SpiffeId id(const char* ns, const char* sa) { return *SpiffeId::make("cluster.local", ns, sa); }

// WDS: sleep (10.40.1.5) calls service echo (VIP 10.96.0.20) served by echo-1 (10.40.2.6).
void seed(wds::State* st) {
  istio::workload::Address a;
  auto* w = a.mutable_workload();
  w->set_uid("Kubernetes//Pod/demo/sleep-1");
  w->set_name("sleep-1");
  w->set_namespace_("demo");
  w->set_service_account("sleep");
  w->set_workload_name("sleep");
  w->set_canonical_name("sleep");
  w->set_canonical_revision("v1");
  w->set_cluster_id("Kubernetes");
  w->add_addresses(ip("10.40.1.5").bytes());
  REQUIRE(st->upsert_address(w->uid(), a).ok());
  istio::workload::Address e;
  auto* ew = e.mutable_workload();
  ew->set_uid("Kubernetes//Pod/demo/echo-1");
  ew->set_name("echo-1");
  ew->set_namespace_("demo");
  ew->set_service_account("echo");
  ew->set_workload_name("echo");
  ew->set_canonical_name("echo");
  ew->set_canonical_revision("v2");
  ew->set_cluster_id("Kubernetes");
  ew->add_addresses(ip("10.40.2.6").bytes());
  REQUIRE(st->upsert_address(ew->uid(), e).ok());
  istio::workload::Address s;
  auto* svc = s.mutable_service();
  svc->set_name("echo");
  svc->set_namespace_("demo");
  svc->set_hostname("echo.demo.svc.cluster.local");
  auto* na = svc->add_addresses();
  na->set_address(ip("10.96.0.20").bytes());
  REQUIRE(st->upsert_address("demo/echo.demo.svc.cluster.local", s).ok());
}

std::map<std::string, std::string> labelled(const metrics::LabelValues& values) {
  const auto& names = Telemetry::request_label_names();
  REQUIRE(names.size() == values.size());
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < names.size(); ++i) out[names[i]] = values[i];
  return out;
}

RequestRecord served() {
  RequestRecord r;
  r.src_ip = ip("10.40.1.5");
  r.src_identity = id("demo", "sleep");
  r.authority = "10.96.0.20:80";
  r.service = {"demo", "echo.demo.svc.cluster.local"};
  r.upstream_addr = "10.40.2.6:8080";
  r.dst_identity = id("demo", "echo");
  r.method = "GET";
  r.path = "/hello";
  r.host = "echo";
  r.response_code = 200;
  r.request_bytes = 0;
  r.response_bytes = 1500;
  r.duration = std::chrono::milliseconds(3);
  return r;
}

}  // namespace

TEST_CASE("telemetry: Istio's labels with reporter=waypoint, filled in from WDS, unknown when WDS does not know") {
  wds::State st;
  seed(&st);
  metrics::Registry reg;
  Telemetry t(&reg, &st);
  auto echo1 = st.workload_by_uid("Kubernetes//Pod/demo/echo-1");
  REQUIRE(echo1);

  struct Case {
    const char* name;
    std::function<void(RequestRecord&)> edit;
    std::map<std::string, std::string> want;  // a subset of the labels
  };
  std::vector<Case> cases = {
      {"served by an endpoint",
       [&](RequestRecord& r) { r.dst_workload = echo1; },
       {{"reporter", "waypoint"},
        {"source_workload", "sleep"},
        {"source_workload_namespace", "demo"},
        {"source_canonical_service", "sleep"},
        {"source_canonical_revision", "v1"},
        {"source_principal", "spiffe://cluster.local/ns/demo/sa/sleep"},
        {"source_cluster", "Kubernetes"},
        {"destination_service", "echo.demo.svc.cluster.local"},
        {"destination_service_namespace", "demo"},
        {"destination_service_name", "echo"},
        {"destination_workload", "echo"},
        {"destination_canonical_revision", "v2"},
        {"destination_principal", "spiffe://cluster.local/ns/demo/sa/echo"},
        {"request_protocol", "http"},
        {"response_code", "200"},
        {"grpc_response_status", "-"},
        {"response_flags", "-"},
        {"connection_security_policy", "mutual_tls"}}},
      {"denied by the waypoint: no destination workload",
       [](RequestRecord& r) {
         r.response_code = 403;
         r.response_flags = "RBAC";
         r.dst_identity.reset();
       },
       {{"destination_service_name", "echo"},
        {"destination_workload", "unknown"},
        {"destination_principal", "unknown"},
        {"response_code", "403"},
        {"response_flags", "RBAC"}}},
      {"a source WDS does not know, gRPC",
       [](RequestRecord& r) {
         r.src_ip = ip("10.40.9.9");
         r.grpc = true;
         r.grpc_status = 14;
       },
       {{"source_workload", "unknown"},
        {"source_workload_namespace", "unknown"},
        {"source_principal", "spiffe://cluster.local/ns/demo/sa/sleep"},
        {"request_protocol", "grpc"},
        {"grpc_response_status", "14"}}},
      {"an authority no listener serves: the authority is the destination service",
       [](RequestRecord& r) {
         r.service = {};
         r.authority = "10.96.7.7:81";
         r.response_code = 400;
       },
       {{"destination_service", "10.96.7.7:81"},
        {"destination_service_namespace", "unknown"},
        {"destination_service_name", "unknown"},
        {"response_code", "400"}}},
      {"no verified client identity",
       [](RequestRecord& r) { r.src_identity.reset(); },
       {{"source_principal", "unknown"}, {"connection_security_policy", "unknown"}}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    RequestRecord r = served();
    c.edit(r);
    auto got = labelled(t.request_labels(r));
    for (const auto& [k, v] : c.want) {
      CAPTURE(k);
      CHECK(got[k] == v);
    }
  }
}

TEST_CASE("telemetry: a request counts in the four HTTP families, a TCP connection in the istio_tcp family") {
  wds::State st;
  seed(&st);
  metrics::Registry reg;
  Telemetry t(&reg, &st);
  RequestRecord r = served();
  t.request(r);
  t.request(r);
  std::string text = reg.expose();
  auto series = [&](const std::string& name) {
    // The first exposed sample of `name` (with its labels) and its value.
    auto at = text.find("\n" + name + "{");
    REQUIRE_MESSAGE(at != std::string::npos, name, " missing in\n", text);
    auto end = text.find('\n', at + 1);
    return text.substr(at + 1, end - at - 1);
  };
  std::string req = series("istio_requests_total");
  CHECK(req.find("reporter=\"waypoint\"") != std::string::npos);
  CHECK(req.find("response_code=\"200\"") != std::string::npos);
  CHECK(req.find("destination_service=\"echo.demo.svc.cluster.local\"") != std::string::npos);
  CHECK(req.substr(req.rfind(' ') + 1) == "2");
  CHECK(series("istio_request_duration_milliseconds_count").substr(series("istio_request_duration_milliseconds_count").rfind(' ') + 1) == "2");
  // 3 ms: above the 1 ms bound, within 5 ms.
  CHECK(text.find("le=\"1\"} 0") != std::string::npos);
  CHECK(text.find("le=\"5\"} 2") != std::string::npos);
  std::string rsp = series("istio_response_bytes_sum");
  CHECK(rsp.substr(rsp.rfind(' ') + 1) == "3000");
  CHECK(text.find("istio_request_bytes_count{") != std::string::npos);
  CHECK(text.find("istio_build{component=\"waypoint\"") != std::string::npos);

  TcpRecord c;
  c.src_ip = ip("10.40.1.5");
  c.src_identity = id("demo", "sleep");
  c.service = {"demo", "echo.demo.svc.cluster.local"};
  c.bytes_from_client = 100;
  c.bytes_to_client = 7;
  auto labels = t.tcp_opened(c);
  t.tcp_closed(c, labels);
  text = reg.expose();
  std::string opened = series("istio_tcp_connections_opened_total");
  CHECK(opened.find("request_protocol=\"tcp\"") != std::string::npos);
  CHECK(opened.find("reporter=\"waypoint\"") != std::string::npos);
  std::string recv = series("istio_tcp_received_bytes_total");
  CHECK(recv.substr(recv.rfind(' ') + 1) == "100");
  std::string sent = series("istio_tcp_sent_bytes_total");
  CHECK(sent.substr(sent.rfind(' ') + 1) == "7");
  std::string closed = series("istio_tcp_connections_closed_total");
  CHECK(closed.substr(closed.rfind(' ') + 1) == "1");
}

TEST_CASE("telemetry: the access log line names the peers and outcome, and a client's bytes stay inside one quoted field") {
  wds::State st;
  seed(&st);
  metrics::Registry reg;
  Telemetry t(&reg, &st);
  RequestRecord r = served();
  r.route = "demo/echo-split";
  r.policy = "demo/deny-admin";
  r.path = "/a\"b\r\nfake=1 \\x";
  r.user_agent = "curl/8";
  std::string line = t.access_log_line(r);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find('\r') == std::string::npos);
  for (const char* want : {"src.addr=10.40.1.5", "src.workload=sleep-1", "src.namespace=demo",
                           "src.identity=spiffe://cluster.local/ns/demo/sa/sleep", "dst.service=echo.demo.svc.cluster.local",
                           "dst.addr=10.40.2.6:8080", "method=\"GET\"", "path=\"/a\\\"b\\x0d\\x0afake=1 \\\\x\"",
                           "response_code=200", "route=demo/echo-split", "policy=demo/deny-admin", "bytes_out=1500",
                           "duration=3ms", "user_agent=\"curl/8\""}) {
    CHECK_MESSAGE(line.find(want) != std::string::npos, want, " not in ", line);
  }
}
