// waypoint: Ambit's shared L7 proxy for a namespace or service (HBONE in, HTTP routing and
// policy, HBONE out). istiod's deployment controller runs it as
//
//   waypoint --name <gateway> -n <namespace> --xds-address <istiod>:15012
//
// in a pod whose environment carries what every pod gets to obtain its own certificate
// (docs/local-mesh.md): AMBIT_SA_TOKEN_FILE, CA_ADDRESS, CA_ROOT_CA, and POD_NAME / POD_IP for
// the xDS node id.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "common/base/log.h"
#include "common/base/version.h"
#include "waypoint/app.h"

namespace {

std::string env_or(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"waypoint: Ambit's L7 proxy for a namespace or service", "waypoint"};
  app.set_version_flag("--version", ambit::kVersion);
  ambit::waypoint::Config c;
  std::string log_level = "info";
  int drain = static_cast<int>(c.drain_deadline.count());
  // istiod serves xDS and the CA on the same port (15012); a pod is told where in CA_ADDRESS.
  c.xds_address = env_or("CA_ADDRESS");
  c.ca_address = env_or("CA_ADDRESS");
  c.token_file = env_or("AMBIT_SA_TOKEN_FILE");
  c.root_cert_path = env_or("CA_ROOT_CA");
  c.pod_name = env_or("POD_NAME");
  c.pod_ip = env_or("POD_IP", env_or("INSTANCE_IP"));
  app.add_option("--name", c.name, "The waypoint's Gateway (its service account has the same name)")->required();
  app.add_option("-n,--namespace", c.ns, "The Gateway's namespace")->required();
  app.add_option("--xds-address", c.xds_address, "istiod xDS address host:port, TLS (default: $CA_ADDRESS)");
  app.add_option("--ca-address", c.ca_address, "istiod CA address host:port, TLS (default: $CA_ADDRESS)");
  app.add_option("--token-file", c.token_file, "The pod's service-account token (default: $AMBIT_SA_TOKEN_FILE)");
  app.add_option("--root-cert", c.root_cert_path, "Mesh root certificate, PEM (default: $CA_ROOT_CA)");
  app.add_option("--istiod-san", c.istiod_san, "Name expected on istiod's certificate")->capture_default_str();
  app.add_option("--trust-domain", c.trust_domain, "The mesh's trust domain")->envname("TRUST_DOMAIN")->capture_default_str();
  app.add_option("--cluster-id", c.cluster_id, "Cluster id")->envname("CLUSTER_ID")->capture_default_str();
  app.add_option("--workers", c.workers, "Data-path worker threads")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--hbone-port", c.hbone_port, "Inbound HBONE port (0: any free port)")->capture_default_str();
  app.add_option("--admin-port", c.admin_port, "Admin port on 127.0.0.1: /config_dump, /logging")->capture_default_str();
  app.add_option("--stats-port", c.stats_port, "Prometheus port: /metrics")->capture_default_str();
  app.add_option("--readiness-port", c.readiness_port, "Readiness port: /healthz/ready")->capture_default_str();
  app.add_option("--drain-seconds", drain, "On SIGTERM, how long connections being served may finish")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "level, or scope:level,...")->envname("RUST_LOG")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  c.drain_deadline = std::chrono::seconds(drain);
  if (auto s = ambit::log::init(log_level); !s.ok()) {
    std::fprintf(stderr, "waypoint: --log-level: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (c.xds_address.empty()) {
    std::fprintf(stderr, "waypoint: --xds-address (or $CA_ADDRESS) is required\n");
    return 2;
  }
  // Two fds per proxied request stream at most (downstream and upstream are multiplexed HBONE
  // connections): take what the hard limit allows, as ztunnel does.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  // A peer resetting a TLS connection must cost that connection an EPIPE, not the process a
  // SIGPIPE (OpenSSL writes with write(2)).
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto w = ambit::waypoint::App::start(c);
  if (!w.ok()) {
    std::fprintf(stderr, "waypoint: %s\n", w.status().ToString().c_str());
    return 1;
  }
  std::thread([&] {
    int sig = 0;
    sigwait(&set, &sig);
    (*w)->drain();
  }).detach();
  (*w)->wait();
  return 0;
}
