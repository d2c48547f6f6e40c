// ztunnel: Ambit's per-node HBONE mTLS proxy.
//
//   ztunnel --node-name n1 --xds-address istiod:15012 --root-cert root-cert.pem --token node.token
//           --zds-socket /var/run/ztunnel/ztunnel.sock
// Each flag also reads the environment variable Istio's ztunnel uses (NODE_NAME, XDS_ADDRESS, ...).
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <thread>

#include "common/base/log.h"
#include "common/base/version.h"
#include "ztunnel/app.h"

#ifdef AMBIT_JEMALLOC
// Freed pages go back to the kernel within seconds (a background thread purges them; no
// intermediate MADV_FREE stage, whose pages would still count in RSS until memory pressure).
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0";
}
#endif

int main(int argc, char** argv) {
  CLI::App app{"ztunnel: Ambit's per-node HBONE mTLS proxy", "ztunnel"};
  app.set_version_flag("--version", ambit::kVersion);
  ambit::ztunnel::Config c;
  std::string log_level = "info";
  int ttl = 24 * 3600, drain = 5;
  app.add_option("--node-name", c.node_name, "This node's name (Workload.node)")->envname("NODE_NAME");
  app.add_option("--pod-name", c.pod_name, "ztunnel's own pod name (xDS node id)")->envname("POD_NAME")->capture_default_str();
  app.add_option("--pod-namespace", c.pod_namespace, "ztunnel's namespace")->envname("POD_NAMESPACE")->capture_default_str();
  app.add_option("--instance-ip", c.instance_ip, "ztunnel's IP (xDS node id)")->envname("INSTANCE_IP")->capture_default_str();
  app.add_option("--cluster-id", c.cluster_id, "Cluster id")->envname("CLUSTER_ID")->capture_default_str();
  app.add_option("--trust-domain", c.trust_domain, "Trust domain")->envname("TRUST_DOMAIN")->capture_default_str();
  app.add_option("--xds-address", c.xds_address, "istiod xDS address host:port (TLS)")->envname("XDS_ADDRESS");
  app.add_option("--ca-address", c.ca_address, "istiod CA address (defaults to --xds-address)")->envname("CA_ADDRESS");
  app.add_option("--root-cert", c.root_cert_path, "Mesh root certificate (PEM)")->envname("CA_ROOT_CA");
  app.add_option("--token", c.auth_token, "Node credential: a file path or the token")->envname("AUTH_TOKEN");
  app.add_option("--istiod-san", c.istiod_san, "Name expected on istiod's certificate")->capture_default_str();
  app.add_option("--zds-socket", c.zds_socket, "Node agent ZDS unix socket (\"\" disables)")->envname("INPOD_UDS")->capture_default_str();
  app.add_option("--admin-address", c.admin_address, "Admin address")->capture_default_str();
  app.add_option("--stats-address", c.stats_address, "Prometheus address")->capture_default_str();
  app.add_option("--readiness-address", c.readiness_address, "Readiness address")->capture_default_str();
  app.add_option("--worker-threads", c.worker_threads, "Data-path worker threads")->envname("ZTUNNEL_WORKER_THREADS")->capture_default_str();
  app.add_option("--secret-ttl-seconds", ttl, "Requested certificate TTL")->envname("SECRET_TTL_SECONDS")->capture_default_str();
  app.add_option("--drain-seconds", drain, "Drain deadline")->envname("CONNECTION_TERMINATION_DEADLINE")->capture_default_str();
  // On by default, as Istio's ENABLE_ORIG_SRC in in-pod mode: the agent installs the reply
  // routing this needs in every pod it enrolls. --preserve-source-ip=false turns it off.
  c.preserve_source_ip = true;
  app.add_flag("--preserve-source-ip{true}", c.preserve_source_ip,
               "Deliver inbound connections to the app from the client's address (IP_TRANSPARENT)")
      ->envname("ENABLE_ORIG_SRC")
      ->capture_default_str();
  int pool_idle_s = static_cast<int>(c.pool_idle_timeout.count());
  app.add_option("--pool-idle-seconds", pool_idle_s, "Close an outbound HBONE connection unused this long")
      ->envname("POOL_UNUSED_RELEASE_TIMEOUT")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  int handshake_ms = static_cast<int>(c.handshake_timeout.count());
  int idle_s = static_cast<int>(c.inbound_idle_timeout.count());
  app.add_option("--handshake-timeout-ms", handshake_ms,
                 "Deadline of a TLS handshake (in and out) and of an HBONE CONNECT's answer")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  app.add_option("--inbound-idle-timeout", idle_s, "Close an inbound HBONE connection after this many seconds without a stream")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--max-inbound-connections", c.max_inbound_connections, "Cap on all inbound connections (15008 and 15006)")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  app.add_option("--max-inbound-per-source", c.max_inbound_per_source, "Cap on inbound connections from one source address")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "level, or scope:level,...")->envname("RUST_LOG")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  c.secret_ttl = std::chrono::seconds(ttl);
  c.drain_deadline = std::chrono::seconds(drain);
  c.handshake_timeout = std::chrono::milliseconds(handshake_ms);
  c.pool_idle_timeout = std::chrono::seconds(pool_idle_s);
  c.inbound_idle_timeout = std::chrono::seconds(idle_s);
  if (auto s = ambit::log::init(log_level); !s.ok()) {
    std::fprintf(stderr, "ztunnel: --log-level: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  // One fd per proxied socket, for every pod of the node: take all the hard limit allows (as
  // Istio's ztunnel does), so the soft default of 1024 is not what caps the node.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }

  if (c.node_name.empty()) {
    std::fprintf(stderr, "ztunnel: --node-name (NODE_NAME) is required\n");
    return 2;
  }
  // OpenSSL writes TLS records with write(2), without MSG_NOSIGNAL, and also writes from
  // SSL_read (alerts, e.g. after a reset). A peer that resets an HBONE connection must cost that
  // connection an EPIPE, not the process a SIGPIPE (Rust's runtime, hence Istio's ztunnel,
  // ignores it too).
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto z = ambit::ztunnel::App::start(c);
  if (!z.ok()) {
    std::fprintf(stderr, "ztunnel: %s\n", z.status().ToString().c_str());
    return 1;
  }
  std::thread([&] {
    int sig = 0;
    sigwait(&set, &sig);
    (*z)->drain();
  }).detach();
  (*z)->wait();
  return 0;
}
