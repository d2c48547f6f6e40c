#include <doctest/doctest.h>

#include <thread>

#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/metrics/registry.h"
#include "common/sim/command.h"
#include "test/support/harness.h"
#include "test/support/root.h"

using namespace ambit::metrics;

TEST_CASE("counters, gauges and histograms with labels expose in Prometheus text format") {
  Registry reg;
  auto& opened = reg.counter("istio_tcp_connections_opened_total", "Connections opened",
                             {"reporter", "source_workload"});
  opened.with({"destination", "sleep"}).inc();
  opened.with({"destination", "sleep"}).inc(2);
  opened.with({"source", "weird \"name\"\\\n"}).inc();
  auto& g = reg.gauge("ambit_enrolled_pods", "Pods enrolled");
  g.with({}).set(3);
  auto& h = reg.histogram("pilot_proxy_convergence_time", "Push latency", {}, {0.1, 1});
  h.with({}).observe(0.05);
  h.with({}).observe(0.5);
  h.with({}).observe(5);
  reg.gauge_fn("process_open_fds", "Open fds", [] { return 7.0; });
  std::string text = reg.expose();
  CHECK(text.find("# TYPE istio_tcp_connections_opened_total counter\n") != std::string::npos);
  CHECK(text.find("istio_tcp_connections_opened_total{reporter=\"destination\",source_workload=\"sleep\"} 3\n") != std::string::npos);
  CHECK(text.find("source_workload=\"weird \\\"name\\\"\\\\\\n\"} 1") != std::string::npos);
  CHECK(text.find("ambit_enrolled_pods 3\n") != std::string::npos);
  CHECK(text.find("pilot_proxy_convergence_time_bucket{le=\"0.1\"} 1\n") != std::string::npos);
  CHECK(text.find("pilot_proxy_convergence_time_bucket{le=\"1\"} 2\n") != std::string::npos);
  CHECK(text.find("pilot_proxy_convergence_time_bucket{le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find("pilot_proxy_convergence_time_sum 5.55") != std::string::npos);
  CHECK(text.find("pilot_proxy_convergence_time_count 3\n") != std::string::npos);
  CHECK(text.find("process_open_fds 7\n") != std::string::npos);
}

TEST_CASE("re-declaring a family returns it, removing a child drops its series") {
  Registry reg;
  auto& a = reg.counter("x_total", "x", {"l"});
  auto& b = reg.counter("x_total", "x", {"l"});
  CHECK(&a == &b);
  a.with({"v"}).inc();
  CHECK(reg.expose().find("x_total{l=\"v\"} 1") != std::string::npos);
  a.remove({"v"});
  CHECK(reg.expose().find("x_total{l=\"v\"}") == std::string::npos);
}

TEST_CASE("counters are safe under concurrent increments") {
  Registry reg;
  auto& fam = reg.counter("c_total", "c", {"k"});
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) fam.with({"same"}).inc();
    });
  }
  for (auto& t : ts) t.join();
  CHECK(fam.with({"same"}).value() == 40000);
}

TEST_CASE("names are validated") {
  CHECK(valid_metric_name("istio_build"));
  CHECK(valid_metric_name("a:b_c9"));
  CHECK_FALSE(valid_metric_name("9abc"));
  CHECK_FALSE(valid_metric_name("a-b"));
  CHECK(valid_label_name("destination_workload"));
  CHECK_FALSE(valid_label_name("__reserved"));
  CHECK_FALSE(valid_label_name("le-x"));
}

TEST_CASE("promtool check metrics accepts the exposition") {
  Registry reg;
  auto& opened = reg.counter("istio_tcp_connections_opened_total",
                             "The total number of TCP connections opened",
                             {"reporter", "source_workload", "destination_workload",
                              "connection_security_policy"});
  opened.with({"destination", "sleep", "httpbin", "mutual_tls"}).inc(5);
  reg.counter("istio_tcp_sent_bytes_total", "Bytes sent", {"reporter"}).with({"source"}).inc(1024);
  reg.gauge("istio_build", "Istio component build info", {"component", "tag"}).with({"ztunnel", "0.1.0"}).set(1);
  auto& h = reg.histogram("pilot_proxy_convergence_time", "Delay between config change and push",
                          {"type"}, exponential_buckets(0.001, 4, 8));
  h.with({"wds"}).observe(0.02);
  reg.gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes", [] { return 1.5e7; });
  std::string text = reg.expose();

  ambit::test::Harness harness;
  std::string path = harness.work_dir() + "/metrics.txt";
  REQUIRE(ambit::crypto::write_file_atomic(path, text).ok());
  // promtool reads the exposition from stdin; run it through sh to redirect.
  auto r = ambit::sim::run_raw({"sh", "-c", "promtool check metrics < " + path});
  AMBIT_REQUIRE_OK(r);
  CHECK_MESSAGE(r->exit_code == 0, (r->out + r->err));
  CHECK_MESSAGE(r->err.empty(), r->err);

  // The check can fail: promtool rejects a malformed exposition.
  REQUIRE(ambit::crypto::write_file_atomic(path, "bad metric{ 1\n").ok());
  auto bad = ambit::sim::run_raw({"sh", "-c", "promtool check metrics < " + path});
  AMBIT_REQUIRE_OK(bad);
  CHECK(bad->exit_code != 0);
}
