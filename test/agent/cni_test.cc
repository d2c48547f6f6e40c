// The CNI plugin and the agent's CNI endpoint, end to end: the real `ambit-cni` binary is run the
// way a container runtime runs it (CNI_* environment, network config on stdin) against an
// in-test CniServer whose handler is a fake. Also the plugin's pure parsing, the protocol codec,
// and the server facing bad clients. No root needed: sockets live in a private temp directory.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "agent/cni/plugin.h"
#include "agent/cni/protocol.h"
#include "agent/cni/transport.h"
#include "agent/cni_server.h"
#include "common/base/strings.h"
#include "common/base/unique_fd.h"
#include "test/support/as_uid.h"
#include "test/support/root.h"

extern char** environ;

namespace ambit::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// Every wait in this file is bounded by this; it only matters when something hangs.
constexpr auto kBound = 60s;

// ---- running the plugin binary -------------------------------------------------------------

struct CniRun {
  int exit_code = -1;
  std::string out, err;
  ordered_json json() const {
    auto j = ordered_json::parse(out, nullptr, false);
    return j;
  }
};

// Runs ambit-cni with `env` (on top of ours, minus any CNI_* we have) and `input` on stdin.
CniRun run_cni(const std::map<std::string, std::string>& env, const std::string& input,
               std::vector<std::string> args = {}) {
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    if (!starts_with(*e, "CNI_")) envs.emplace_back(*e);
  }
  for (const auto& [k, v] : env) envs.push_back(str_cat(k, "=", v));
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  args.insert(args.begin(), AMBIT_CNI_BIN);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int in[2], out[2], err[2];
  REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  UniqueFd to_child(in[1]), from_out(out[0]), from_err(err[0]);
  ::fcntl(to_child.get(), F_SETFL, O_NONBLOCK);

  CniRun r;
  std::string_view pending = input;
  if (pending.empty()) to_child.reset();
  auto deadline = Clock::now() + kBound;
  bool killed = false;
  while (from_out || from_err) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    pollfd fds[3] = {
        {from_out.get(), POLLIN, 0}, {from_err.get(), POLLIN, 0}, {to_child.get(), POLLOUT, 0}};
    if (::poll(fds, 3, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    if (to_child && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
      ssize_t n = ::write(to_child.get(), pending.data(), pending.size());
      if (n > 0) pending.remove_prefix(static_cast<size_t>(n));
      if (n < 0 && errno != EAGAIN && errno != EINTR) pending = {};
      if (pending.empty()) to_child.reset();
    }
    for (int i = 0; i < 2; ++i) {
      UniqueFd& fd = i == 0 ? from_out : from_err;
      if (!fd || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        fd.reset();
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  REQUIRE_MESSAGE(!killed, "ambit-cni did not finish; stderr: " << r.err);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// A private directory, removed afterwards.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ambit-cni-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ---- the fake agent -------------------------------------------------------------------------

class FakeHandler : public CniHandler {
 public:
  std::function<absl::Status(const CniPod&, Clock::time_point)> on_add =
      [](const CniPod&, Clock::time_point) { return absl::OkStatus(); };
  std::function<absl::Status(const CniPod&)> on_del = [](const CniPod&) {
    return absl::OkStatus();
  };
  std::function<absl::StatusOr<std::string>(const CniPod&)> on_check = [](const CniPod&) {
    return absl::StatusOr<std::string>("enrolled");
  };

  absl::Status add(const CniPod& pod, Clock::time_point deadline) override {
    record("ADD", pod);
    return on_add(pod, deadline);
  }
  absl::Status del(const CniPod& pod) override {
    record("DEL", pod);
    return on_del(pod);
  }
  absl::StatusOr<std::string> check(const CniPod& pod) override {
    record("CHECK", pod);
    return on_check(pod);
  }

  std::vector<std::pair<std::string, CniPod>> calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }

 private:
  void record(const char* what, const CniPod& pod) {
    std::lock_guard<std::mutex> l(mu_);
    calls_.emplace_back(what, pod);
  }
  std::mutex mu_;
  std::vector<std::pair<std::string, CniPod>> calls_;
};

// A server on a fresh socket, a fake handler, and helpers to run the plugin against them.
struct Fixture {
  TempDir dir;
  std::string socket = dir.path() + "/run/ambit/cni.sock";
  FakeHandler handler;
  std::unique_ptr<CniServer> server;

  explicit Fixture(size_t max_concurrent = 4) {
    CniServerOptions o;
    o.socket_path = socket;
    o.max_concurrent = max_concurrent;
    o.allowed_uids.push_back(::geteuid());  // the suite's own plugin runs also run without root
    auto s = CniServer::start(o, &handler);
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    server = std::move(*s);
  }

  ordered_json prev_result() const {
    return ordered_json::parse(R"({
      "cniVersion": "1.0.0",
      "interfaces": [{"name": "cni0", "mac": "aa:bb:cc:00:00:01"},
                     {"name": "veth1234", "mac": "aa:bb:cc:00:00:02"},
                     {"name": "eth0", "mac": "aa:bb:cc:00:00:03", "sandbox": "/var/run/netns/pod-a"}],
      "ips": [{"address": "10.244.1.5/24", "gateway": "10.244.1.1", "interface": 2}],
      "routes": [{"dst": "0.0.0.0/0", "gw": "10.244.1.1"}],
      "dns": {"nameservers": ["10.96.0.10"], "search": ["default.svc.cluster.local"]}
    })");
  }

  std::string config(ordered_json prev, const std::string& version = "1.0.0",
                     double timeout_seconds = 10) const {
    ordered_json c = {{"cniVersion", version},
                      {"name", "k8s-pod-network"},
                      {"type", "ambit-cni"},
                      {"agent_socket", socket},
                      {"timeout_seconds", timeout_seconds}};
    if (!prev.is_null()) c["prevResult"] = std::move(prev);
    return c.dump();
  }

  static std::map<std::string, std::string> env(const std::string& command) {
    return {{"CNI_COMMAND", command},
            {"CNI_CONTAINERID", "3f2a9c0d1e2b"},
            {"CNI_NETNS", "/var/run/netns/pod-a"},
            {"CNI_IFNAME", "eth0"},
            {"CNI_ARGS",
             "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;"
             "K8S_POD_INFRA_CONTAINER_ID=3f2a9c0d1e2b;K8S_POD_UID=0b1c2d3e-4f50-6172-8394-"
             "a5b6c7d8e9f0"},
            {"CNI_PATH", "/opt/cni/bin"}};
  }
};

// prevResult as a chained plugin must print it: unchanged, with the config's cniVersion.
ordered_json expected_result(ordered_json prev, const std::string& version) {
  ordered_json out = {{"cniVersion", version}};
  for (auto it = prev.begin(); it != prev.end(); ++it) {
    if (it.key() != "cniVersion") out[it.key()] = it.value();
  }
  return out;
}

// Sends raw bytes to the server and returns its one-line answer.
absl::StatusOr<std::string> raw_exchange(const std::string& socket, std::string_view bytes) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket.data(), socket.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(str_cat("connect: ", std::strerror(errno)));
  }
  auto deadline = Clock::now() + kBound;
  auto w = write_message(fd.get(), bytes, deadline);
  (void)w;  // the server may answer before reading everything; its answer is what matters
  return read_message(fd.get(), deadline);
}

CniResponse decoded(const absl::StatusOr<std::string>& line) {
  REQUIRE_MESSAGE(line.ok(), line.status().ToString());
  auto r = decode_response(*line);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

std::string valid_request_line() {
  CniRequest req;
  req.pod.container_id = "c1";
  req.pod.netns = "/var/run/netns/x";
  req.pod.ifname = "eth0";
  req.pod.name = "web-0";
  req.pod.ns = "default";
  return encode_request(req);
}

// ---- the plugin binary against the agent ------------------------------------------------------

TEST_CASE("ADD: the agent gets the whole pod and the plugin prints prevResult unchanged") {
  Fixture f;
  auto r = run_cni(Fixture::env("ADD"), f.config(f.prev_result()));
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.json() == expected_result(f.prev_result(), "1.0.0"));
  // Byte for byte, too: key order and values survive.
  CHECK(r.out == expected_result(f.prev_result(), "1.0.0").dump() + "\n");

  auto calls = f.handler.calls();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].first == "ADD");
  const CniPod& p = calls[0].second;
  CHECK(p.container_id == "3f2a9c0d1e2b");
  CHECK(p.netns == "/var/run/netns/pod-a");
  CHECK(p.ifname == "eth0");
  CHECK(p.name == "web-0");
  CHECK(p.ns == "default");
  CHECK(p.uid == "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0");
  REQUIRE(p.ips.size() == 1);
  CHECK(p.ips[0].to_string() == "10.244.1.5");
  REQUIRE(p.gateways.size() == 1);
  CHECK(p.gateways[0].to_string() == "10.244.1.1");
  CHECK(f.server->stats().requests == 1);
}

TEST_CASE("ADD: ztunnel not acknowledging in time is code 11 with the agent's explanation") {
  Fixture f;
  Clock::duration budget{};
  f.handler.on_add = [&](const CniPod& pod, Clock::time_point deadline) {
    budget = deadline - Clock::now();
    std::this_thread::sleep_until(std::min(deadline, Clock::now() + kBound));
    return absl::DeadlineExceededError(
        str_cat("ztunnel did not acknowledge ", pod.ns, "/", pod.name, " before the deadline"));
  };
  auto r = run_cni(Fixture::env("ADD"), f.config(f.prev_result(), "1.0.0", 1));
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code != 0);
  auto j = r.json();
  CHECK(j["cniVersion"] == "1.0.0");
  CHECK(j["code"] == 11);
  CHECK(j["msg"].get<std::string>().find(
            "ztunnel did not acknowledge default/web-0 before the deadline") != std::string::npos);
  CHECK(j["details"].get<std::string>().find("DEADLINE_EXCEEDED") != std::string::npos);
  // The agent is given less than the plugin's own 1 s, so its answer arrives first.
  CHECK(budget < std::chrono::seconds(1));
}

TEST_CASE("ADD: an agent refusal that is not transient is code 999, fail closed") {
  Fixture f;
  f.handler.on_add = [](const CniPod&, Clock::time_point) {
    return absl::FailedPreconditionError("capture failed: cgroup not found");
  };
  auto r = run_cni(Fixture::env("ADD"), f.config(f.prev_result()));
  CHECK(r.exit_code != 0);
  CHECK(r.json()["code"] == 999);
  CHECK(r.json()["msg"].get<std::string>().find("capture failed: cgroup not found") !=
        std::string::npos);
}

TEST_CASE("ADD: a missing CNI_NETNS is CNI code 4 (invalid environment) and names the variable") {
  Fixture f;
  auto env = Fixture::env("ADD");
  env.erase("CNI_NETNS");
  auto r = run_cni(env, f.config(f.prev_result()));
  CHECK(r.exit_code != 0);
  CHECK(r.json()["code"] == cni::kErrInvalidEnvironment);
  CHECK(r.json()["msg"].get<std::string>().find("CNI_NETNS") != std::string::npos);
  CHECK(f.handler.calls().empty());
}

TEST_CASE("malformed network config: bad JSON is code 6, bad fields are code 7, old versions 1") {
  Fixture f;
  SUBCASE("not JSON") {
    auto r = run_cni(Fixture::env("ADD"), "{\"cniVersion\": \"1.0.0\", ");
    CHECK(r.exit_code != 0);
    CHECK(r.json()["code"] == cni::kErrDecodingFailure);
    CHECK(r.json()["msg"].get<std::string>().find("not valid JSON") != std::string::npos);
  }
  SUBCASE("not an object") {
    auto r = run_cni(Fixture::env("ADD"), "[1,2]");
    CHECK(r.json()["code"] == cni::kErrDecodingFailure);
  }
  SUBCASE("timeout_seconds of the wrong type") {
    auto c = ordered_json::parse(f.config(f.prev_result()));
    c["timeout_seconds"] = "soon";
    auto r = run_cni(Fixture::env("ADD"), c.dump());
    CHECK(r.json()["code"] == cni::kErrInvalidNetworkConfig);
    CHECK(r.json()["msg"].get<std::string>().find("timeout_seconds") != std::string::npos);
  }
  SUBCASE("no prevResult: not chained") {
    auto r = run_cni(Fixture::env("ADD"), f.config(nullptr));
    CHECK(r.json()["code"] == cni::kErrInvalidNetworkConfig);
    CHECK(r.json()["msg"].get<std::string>().find("prevResult") != std::string::npos);
  }
  SUBCASE("a prevResult address that is not a CIDR") {
    auto prev = f.prev_result();
    prev["ips"][0]["address"] = "10.244.1.5";
    auto r = run_cni(Fixture::env("ADD"), f.config(prev));
    CHECK(r.json()["code"] == cni::kErrInvalidNetworkConfig);
    CHECK(r.json()["msg"].get<std::string>().find("prevResult.ips[0].address") !=
          std::string::npos);
  }
  SUBCASE("unsupported cniVersion") {
    auto r = run_cni(Fixture::env("ADD"), f.config(f.prev_result(), "0.3.1"));
    CHECK(r.json()["code"] == cni::kErrIncompatibleVersion);
    CHECK(r.json()["cniVersion"] == "0.3.1");
  }
  CHECK(f.handler.calls().empty());
}

TEST_CASE("ADD with no agent listening is code 11 and names the socket: no pod starts uncaptured") {
  TempDir dir;
  Fixture shape;  // only for the config and env helpers
  std::string absent = dir.path() + "/nothing-here.sock";
  auto c = ordered_json::parse(shape.config(shape.prev_result()));
  c["agent_socket"] = absent;
  auto r = run_cni(Fixture::env("ADD"), c.dump());
  INFO("stdout: " << r.out);
  CHECK(r.exit_code != 0);
  CHECK(r.json()["code"] == cni::kErrTryAgainLater);
  CHECK(r.json()["msg"].get<std::string>().find(absent) != std::string::npos);
  CHECK(r.json()["msg"].get<std::string>().find("not reachable") != std::string::npos);
}

TEST_CASE("DEL succeeds silently without an agent, for an unknown pod, and with a failing agent") {
  SUBCASE("no agent") {
    TempDir dir;
    ordered_json c = {{"cniVersion", "1.0.0"},
                      {"name", "k8s-pod-network"},
                      {"type", "ambit-cni"},
                      {"agent_socket", dir.path() + "/absent.sock"}};
    auto env = Fixture::env("DEL");
    env.erase("CNI_NETNS");  // optional for DEL
    auto r = run_cni(env, c.dump());
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());
  }
  SUBCASE("agent answers, and an error from it is ignored") {
    Fixture f;
    f.handler.on_del = [](const CniPod&) { return absl::NotFoundError("unknown pod"); };
    auto env = Fixture::env("DEL");
    env["CNI_ARGS"] = "this is not KEY=VALUE;;";  // DEL works with what it can read
    auto r = run_cni(env, f.config(nullptr));
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());
    auto calls = f.handler.calls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].first == "DEL");
    CHECK(calls[0].second.container_id == "3f2a9c0d1e2b");
  }
}

TEST_CASE("VERSION prints the supported versions without reading stdin") {
  auto r = run_cni({{"CNI_COMMAND", "VERSION"}}, "");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.4.0\",\"1.0.0\"]}\n");
}

TEST_CASE("--help prints usage, and a bare run without CNI_COMMAND is a code 4 error") {
  auto help = run_cni({}, "", {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("CNI_COMMAND") != std::string::npos);
  CHECK(help.out.find("agent_socket") != std::string::npos);
  auto bare = run_cni({}, "");
  CHECK(bare.exit_code != 0);
  CHECK(bare.json()["code"] == cni::kErrInvalidEnvironment);
}

TEST_CASE("CHECK: registered is silent success, unknown or not enrolled is an error") {
  Fixture f;
  SUBCASE("enrolled") {
    auto r = run_cni(Fixture::env("CHECK"), f.config(f.prev_result()));
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());
    auto calls = f.handler.calls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].first == "CHECK");
    CHECK(calls[0].second.name == "web-0");
  }
  SUBCASE("unknown to the agent") {
    f.handler.on_check = [](const CniPod&) -> absl::StatusOr<std::string> {
      return absl::NotFoundError("pod default/web-0 is not registered");
    };
    auto r = run_cni(Fixture::env("CHECK"), f.config(f.prev_result()));
    CHECK(r.exit_code != 0);
    CHECK(r.json()["code"] == cni::kErrInternal);
    CHECK(r.json()["msg"].get<std::string>().find("not registered") != std::string::npos);
  }
  SUBCASE("ambient but not yet enrolled: transient") {
    f.handler.on_check = [](const CniPod&) -> absl::StatusOr<std::string> {
      return absl::UnavailableError("pod default/web-0 should be enrolled but ztunnel has no ack");
    };
    auto r = run_cni(Fixture::env("CHECK"), f.config(f.prev_result()));
    CHECK(r.json()["code"] == cni::kErrTryAgainLater);
  }
}

TEST_CASE("CNI_ARGS: IgnoreUnknown allows extra keys wherever it is, without it they are refused") {
  Fixture f;
  SUBCASE("IgnoreUnknown last, extra keys first") {
    auto env = Fixture::env("ADD");
    env["CNI_ARGS"] =
        "FOO=bar;K8S_POD_NAME=api-7d9f;K8S_POD_NAMESPACE=shop;X=a=b;K8S_POD_UID=u-1;IgnoreUnknown="
        "true";
    auto r = run_cni(env, f.config(f.prev_result()));
    CHECK(r.exit_code == 0);
    auto calls = f.handler.calls();
    REQUIRE(calls.size() == 1);
    CHECK(calls[0].second.name == "api-7d9f");
    CHECK(calls[0].second.ns == "shop");
    CHECK(calls[0].second.uid == "u-1");
  }
  SUBCASE("unknown key without IgnoreUnknown") {
    auto env = Fixture::env("ADD");
    env["CNI_ARGS"] = "K8S_POD_NAME=web-0;K8S_POD_NAMESPACE=default;FOO=bar";
    auto r = run_cni(env, f.config(f.prev_result()));
    CHECK(r.json()["code"] == cni::kErrInvalidEnvironment);
    CHECK(r.json()["msg"].get<std::string>().find("FOO") != std::string::npos);
    CHECK(f.handler.calls().empty());
  }
  SUBCASE("not a Kubernetes pod: passed through without asking the agent") {
    auto env = Fixture::env("ADD");
    env["CNI_ARGS"] = "IgnoreUnknown=1";
    auto r = run_cni(env, f.config(f.prev_result()));
    CHECK(r.exit_code == 0);
    CHECK(r.json() == expected_result(f.prev_result(), "1.0.0"));
    CHECK(f.handler.calls().empty());
  }
}

TEST_CASE("prevResult with several IPs (0.4.0 dual stack): every IP and gateway, in order") {
  Fixture f;
  auto prev = ordered_json::parse(R"({
    "cniVersion": "0.4.0",
    "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/pod-a"}],
    "ips": [{"version": "4", "address": "10.244.1.5/24", "gateway": "10.244.1.1", "interface": 0},
            {"version": "6", "address": "fd00:10:244:1::5/64", "gateway": "fd00:10:244:1::1", "interface": 0},
            {"version": "4", "address": "10.245.0.9/16", "gateway": "10.244.1.1", "interface": 0}],
    "dns": {}
  })");
  auto r = run_cni(Fixture::env("ADD"), f.config(prev, "0.4.0"));
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.json() == expected_result(prev, "0.4.0"));
  auto calls = f.handler.calls();
  REQUIRE(calls.size() == 1);
  const CniPod& p = calls[0].second;
  REQUIRE(p.ips.size() == 3);
  CHECK(p.ips[0].to_string() == "10.244.1.5");
  CHECK(p.ips[1].to_string() == "fd00:10:244:1::5");
  CHECK(p.ips[2].to_string() == "10.245.0.9");
  REQUIRE(p.gateways.size() == 2);  // distinct
  CHECK(p.gateways[0].to_string() == "10.244.1.1");
  CHECK(p.gateways[1].to_string() == "fd00:10:244:1::1");
}

// ---- the server facing bad clients
// ---------------------------------------------------------------

TEST_CASE("server: oversized, garbage and invalid requests get an error naming the problem") {
  Fixture f;
  SUBCASE("oversized") {
    std::string big(kCniMaxMessageBytes + 100, 'x');
    auto r = decoded(raw_exchange(f.socket, big + "\n"));
    CHECK_FALSE(r.ok);
    CHECK_FALSE(r.retry);
    CHECK(r.error.find("exceeds 65536 bytes") != std::string::npos);
  }
  SUBCASE("garbage bytes") {
    static constexpr char kGarbage[] = "\x00\xff\xfe garbage {\n";
    auto r = decoded(raw_exchange(f.socket, std::string(kGarbage, sizeof(kGarbage) - 1)));
    CHECK_FALSE(r.ok);
    CHECK(r.error.find("NUL byte at offset 0") != std::string::npos);
  }
  SUBCASE("not JSON") {
    auto r = decoded(raw_exchange(f.socket, "\xff\xfe garbage {\n"));
    CHECK_FALSE(r.ok);
    CHECK(r.error.find("not valid JSON") != std::string::npos);
  }
  SUBCASE("a valid request with bytes smuggled after a NUL") {
    std::string line = valid_request_line();
    line.insert(line.size() - 1, std::string("\0{\"x\":1}", 8));
    auto r = decoded(raw_exchange(f.socket, line));
    CHECK(r.error.find("NUL byte") != std::string::npos);
  }
  SUBCASE("no newline before the client stops sending") {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, f.socket.data(), f.socket.size());
    REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(write_message(fd.get(), "{\"version\":1", Clock::now() + kBound).ok());
    ::shutdown(fd.get(), SHUT_WR);
    auto r = decoded(read_message(fd.get(), Clock::now() + kBound));
    CHECK(r.error.find("without the terminating newline") != std::string::npos);
  }
  SUBCASE("a JSON array") {
    auto r = decoded(raw_exchange(f.socket, "[1,2,3]\n"));
    CHECK(r.error.find("must be a JSON object") != std::string::npos);
  }
  SUBCASE("wrong protocol version") {
    auto line = ordered_json::parse(valid_request_line());
    line["version"] = 2;
    auto r = decoded(raw_exchange(f.socket, line.dump() + "\n"));
    CHECK(r.error.find("\"version\"") != std::string::npos);
  }
  SUBCASE("missing netns on ADD") {
    auto line = ordered_json::parse(valid_request_line());
    line.erase("netns");
    auto r = decoded(raw_exchange(f.socket, line.dump() + "\n"));
    CHECK(r.error.find("field \"netns\": required for ADD") != std::string::npos);
  }
  SUBCASE("an IP that is not one") {
    auto line = ordered_json::parse(valid_request_line());
    line["ips"] = {"10.0.0.1", "10.0.0.999"};
    auto r = decoded(raw_exchange(f.socket, line.dump() + "\n"));
    CHECK(r.error.find("field \"ips[1]\"") != std::string::npos);
  }
  SUBCASE("a pod name with a slash") {
    auto line = ordered_json::parse(valid_request_line());
    line["pod_name"] = "../etc";
    auto r = decoded(raw_exchange(f.socket, line.dump() + "\n"));
    CHECK(r.error.find("field \"pod_name\"") != std::string::npos);
  }
  SUBCASE("an unknown command") {
    auto line = ordered_json::parse(valid_request_line());
    line["command"] = "GC";
    auto r = decoded(raw_exchange(f.socket, line.dump() + "\n"));
    CHECK(r.error.find("field \"command\"") != std::string::npos);
  }
  // None of it reached the handler, and the server still serves the real plugin.
  CHECK(f.handler.calls().empty());
  CHECK(f.server->stats().bad_requests == 1);
  auto ok = run_cni(Fixture::env("ADD"), f.config(f.prev_result()));
  CHECK(ok.exit_code == 0);
  CHECK(f.handler.calls().size() == 1);
}

TEST_CASE("server: every worker busy means an immediate retry answer, not a queue") {
  Fixture f(/*max_concurrent=*/1);
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  f.handler.on_add = [&](const CniPod&, Clock::time_point) {
    std::unique_lock<std::mutex> l(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(l, kBound, [&] { return release; });
    return absl::OkStatus();
  };
  // The first ADD occupies the only worker.
  absl::StatusOr<std::string> first_answer;
  std::thread first([&] { first_answer = raw_exchange(f.socket, valid_request_line()); });
  {
    std::unique_lock<std::mutex> l(mu);
    REQUIRE(cv.wait_for(l, kBound, [&] { return entered; }));
  }
  auto busy = decoded(raw_exchange(f.socket, valid_request_line()));
  CHECK_FALSE(busy.ok);
  CHECK(busy.retry);
  CHECK(busy.error.find("busy") != std::string::npos);
  CHECK(f.server->stats().busy == 1);
  {
    std::lock_guard<std::mutex> l(mu);
    release = true;
  }
  cv.notify_all();
  first.join();
  CHECK(decoded(first_answer).ok);
  // The worker is free again.
  f.handler.on_add = [](const CniPod&, Clock::time_point) { return absl::OkStatus(); };
  auto again = decoded(raw_exchange(f.socket, valid_request_line()));
  CHECK(again.ok);
}

TEST_CASE("server: a peer running as another uid is refused with its pid and uid, counted, never dispatched, while root is served") {
  AMBIT_REQUIRE_ROOT();
  Fixture f;  // allowed: uid 0
  // 0600 in a 0700 directory would stop another uid at connect(); open the path so the peer
  // check is what is tested (it is what still holds if the path is visible to more than root).
  REQUIRE(::chmod(f.dir.path().c_str(), 0755) == 0);
  REQUIRE(::chmod((f.dir.path() + "/run").c_str(), 0755) == 0);
  REQUIRE(::chmod(std::filesystem::path(f.socket).parent_path().c_str(), 0755) == 0);
  REQUIRE(::chmod(f.socket.c_str(), 0666) == 0);
  CniRequest del;
  del.command = CniCommand::kDel;
  del.pod.container_id = "c1";
  del.pod.uid = "uid-victim";
  const std::string line = encode_request(del);
  const std::string socket = f.socket;
  auto r = ambit::test::run_as_uid(65534, 65534, [&](int out) {
    auto answer = raw_exchange(socket, line);
    std::string text = answer.ok() ? *answer : std::string(answer.status().message());
    (void)!::write(out, text.data(), text.size());
    return answer.ok() ? 0 : 1;
  });
  REQUIRE_MESSAGE(r.exit_code == 0, r.out);
  auto resp = decode_response(r.out);
  REQUIRE_MESSAGE(resp.ok(), r.out);
  CHECK_FALSE(resp->ok);
  CHECK_FALSE(resp->retry);
  CHECK_MESSAGE(resp->error.find("refused peer pid ") != std::string::npos, resp->error);
  CHECK_MESSAGE(resp->error.find(" uid 65534 ") != std::string::npos, resp->error);
  CHECK(f.server->stats().peer_refused == 1);
  CHECK(f.handler.calls().empty());

  // The same request from root reaches the handler.
  auto ok = decoded(raw_exchange(f.socket, line));
  CHECK(ok.ok);
  REQUIRE(f.handler.calls().size() == 1);
  CHECK(f.handler.calls()[0].first == "DEL");
  CHECK(f.server->stats().peer_refused == 1);
}

TEST_CASE("server: socket 0600 in a 0700 dir, stop() removes it and frees silent clients") {
  Fixture f;
  struct stat st {};
  REQUIRE(::stat(f.socket.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(std::filesystem::path(f.socket).parent_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  // A client that connects and never speaks holds a worker until stop().
  UniqueFd silent(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, f.socket.data(), f.socket.size());
  REQUIRE(::connect(silent.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  f.server->stop();
  CHECK_FALSE(std::filesystem::exists(f.socket));
  // With the agent gone, ADD fails closed.
  auto r = run_cni(Fixture::env("ADD"), f.config(f.prev_result()));
  CHECK(r.json()["code"] == cni::kErrTryAgainLater);
}

TEST_CASE("server: a stale socket is replaced, a live one or a non-socket is refused") {
  TempDir dir;
  FakeHandler h;
  CniServerOptions o;
  o.socket_path = dir.path() + "/cni.sock";
  {
    // Stale: bound, never listened to by anyone now.
    UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, o.socket_path.data(), o.socket_path.size());
    REQUIRE(::bind(stale.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  auto first = CniServer::start(o, &h);
  REQUIRE_MESSAGE(first.ok(), first.status().ToString());
  auto second = CniServer::start(o, &h);
  CHECK(absl::IsAlreadyExists(second.status()));
  (*first)->stop();

  std::string file = dir.path() + "/not-a-socket";
  {
    std::FILE* fp = std::fopen(file.c_str(), "w");
    REQUIRE(fp != nullptr);
    std::fclose(fp);
  }
  o.socket_path = file;
  auto refused = CniServer::start(o, &h);
  CHECK(absl::IsFailedPrecondition(refused.status()));
  CHECK(std::filesystem::exists(file));
}

// ---- pure parts
// ----------------------------------------------------------------------------------

TEST_CASE("parse_cni_args: KEY=VALUE pairs, IgnoreUnknown, empty pieces, malformed pieces") {
  auto a = cni::parse_cni_args("IgnoreUnknown=1;K8S_POD_NAME=a;;K8S_POD_NAMESPACE=b;Z=1=2;");
  REQUIRE(a.ok());
  CHECK(a->pod_name == "a");
  CHECK(a->pod_namespace == "b");
  CHECK(cni::parse_cni_args("").ok());
  CHECK_FALSE(cni::parse_cni_args("K8S_POD_NAME").ok());
  CHECK_FALSE(cni::parse_cni_args("=x").ok());
  CHECK_FALSE(cni::parse_cni_args("IgnoreUnknown=maybe").ok());
  CHECK_FALSE(cni::parse_cni_args("IgnoreUnknown=0;FOO=1").ok());
}

TEST_CASE("protocol: a request survives encode/decode, a response carries retry and state") {
  CniRequest req;
  req.command = CniCommand::kCheck;
  req.pod = {.container_id = "c1",
             .netns = "/proc/42/ns/net",
             .ifname = "eth0",
             .name = "web-0",
             .ns = "default",
             .uid = "u1",
             .ips = {*net::IpAddr::parse("10.0.0.5"), *net::IpAddr::parse("fd00::5")},
             .gateways = {*net::IpAddr::parse("10.0.0.1")}};
  req.timeout = 1500ms;
  std::string line = encode_request(req);
  CHECK(line.back() == '\n');
  CHECK(std::count(line.begin(), line.end(), '\n') == 1);
  auto back = decode_request(line);
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(back->command == CniCommand::kCheck);
  CHECK(back->pod.netns == "/proc/42/ns/net");
  CHECK(back->pod.uid == "u1");
  CHECK(back->pod.ips == req.pod.ips);
  CHECK(back->pod.gateways == req.pod.gateways);
  CHECK(back->timeout == 1500ms);

  auto resp = decode_response(
      encode_response(CniResponse::from_status(absl::UnavailableError("ztunnel\nnot connected"))));
  REQUIRE(resp.ok());
  CHECK_FALSE(resp->ok);
  CHECK(resp->retry);
  CHECK(resp->status == "UNAVAILABLE");
  CHECK(resp->error == "ztunnel\nnot connected");
  auto check =
      decode_response(encode_response(CniResponse::from_status(absl::OkStatus(), "enrolled")));
  REQUIRE(check.ok());
  CHECK(check->ok);
  CHECK(check->state == "enrolled");

  // DEL needs only the container id.
  auto del = decode_request("{\"version\":1,\"command\":\"DEL\",\"container_id\":\"c1\"}");
  CHECK(del.ok());
}

}  // namespace
}  // namespace ambit::agent
