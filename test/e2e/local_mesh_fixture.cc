#include "test/e2e/local_mesh_fixture.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>

#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"
#include "common/sim/cgroup.h"
#include "common/sim/topology.h"
#include "test/support/harness.h"

namespace ambit::test {

namespace {

constexpr const char* kCtl = AMBIT_CTL_BIN;

// Leftovers of an earlier run that crashed before its destructor: meshes "ae<pid>" whose test
// process is gone.
void sweep_stale() {
  auto stale = [](const std::string& n) {
    if (n.size() < 3 || n.rfind("ae", 0) != 0) return false;
    size_t end = n.find_first_not_of("0123456789", 2);
    std::string pid = n.substr(2, end == std::string::npos ? std::string::npos : end - 2);
    if (pid.empty() || (end != std::string::npos && n[end] != '-')) return false;
    struct stat st {};
    return ::stat(("/proc/" + pid).c_str(), &st) != 0;
  };
  for (const auto& ns : sim::list_netns()) {
    if (stale(ns)) (void)sim::del_netns(ns);
  }
  auto root = sim::cgroup2_root();
  for (const std::string& dir : {root.value_or("/nonexistent"), std::string("/sys/fs/bpf")}) {
    if (DIR* d = ::opendir(dir.c_str())) {
      std::vector<std::string> gone;
      while (dirent* e = ::readdir(d)) {
        if (stale(e->d_name)) gone.push_back(dir + "/" + e->d_name);
      }
      ::closedir(d);
      for (const auto& g : gone) {
        if (dir == "/sys/fs/bpf") {
          (void)sim::run_raw({"rm", "-rf", g});
        } else {
          (void)sim::remove_cgroup(g);
        }
      }
    }
  }
}

void collect_logs(const std::string& dir, const std::string& rel, std::string* out) {
  DIR* d = ::opendir((dir + "/" + rel).c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string path = str_cat(dir, "/", rel, "/", n);
    struct stat st {};
    ::stat(path.c_str(), &st);
    if (S_ISDIR(st.st_mode)) {
      collect_logs(dir, rel + "/" + n, out);
    } else if (n.size() > 4 && (n.substr(n.size() - 4) == ".log" || n.substr(n.size() - 4) == ".out")) {
      std::string text = crypto::read_file(path).value_or("");
      if (text.size() > 12000) text = "...\n" + text.substr(text.size() - 12000);
      str_append(out, "----- ", rel, "/", n, " -----\n", text, "\n");
    }
  }
}

}  // namespace

int count_lines(const std::string& text, const std::string& word) {
  int n = 0;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) n += trim(l) == word;
  return n;
}

LocalMesh::LocalMesh(std::map<std::string, std::string> env) : name_("ae" + std::to_string(::getpid())), env_(std::move(env)) {
  sweep_stale();
  char tmpl[] = "/tmp/ambit-e2e-XXXXXX";
  dir_ = ::mkdtemp(tmpl) ? tmpl : "/tmp/ambit-e2e";
}

LocalMesh::~LocalMesh() {
  if (current_test_failed() || std::uncaught_exceptions() > 0) {
    std::fprintf(stderr, "\n===== local mesh logs (test failed) =====\n%s\n", logs().c_str());
  }
  auto r = ctl({"local", "down", "--purge"});
  if (r.exit_code != 0) std::fprintf(stderr, "local down failed: %s%s\n", r.out.c_str(), r.err.c_str());
  (void)sim::run_raw({"rm", "-rf", dir_});
}

sim::CommandResult LocalMesh::ctl(const std::vector<std::string>& args, std::chrono::seconds timeout) {
  std::vector<std::string> argv = {"env"};
  for (const auto& [k, v] : env_) argv.push_back(k + "=" + v);
  argv.insert(argv.end(), {kCtl, "--dir", dir_});
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = sim::run_raw(argv, timeout);
  if (!r.ok()) return sim::CommandResult{.exit_code = -1, .out = "", .err = std::string(r.status().message())};
  return *r;
}

absl::StatusOr<sim::Process> LocalMesh::ctl_background(const std::vector<std::string>& args, const std::string& tag) {
  sim::SpawnOptions o;
  o.argv = {kCtl, "--dir", dir_};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.log_path = str_cat(dir_, "/logs/bg-", tag, ".log");
  o.env = env_;
  return sim::Process::spawn(o);
}

absl::Status LocalMesh::up(int nodes) {
  auto r = ctl({"local", "up", "--name", name_, "--nodes", std::to_string(nodes)}, std::chrono::seconds(240));
  if (r.exit_code != 0) return absl::InternalError(str_cat("local up exited ", r.exit_code, ": ", r.out, r.err));
  return absl::OkStatus();
}

absl::Status LocalMesh::write_temp(const std::string& yaml, std::string* path) {
  *path = str_cat(dir_, "/manifest-", ++temp_seq_, ".yaml");
  return crypto::write_file_atomic(*path, yaml);
}

absl::Status LocalMesh::apply(const std::string& yaml, bool wait) {
  std::string path;
  AMBIT_RETURN_IF_ERROR(write_temp(yaml, &path));
  std::vector<std::string> args = {"local", "apply", "-f", path};
  if (wait) args.push_back("--wait");
  auto r = ctl(args);
  if (r.exit_code != 0) return absl::InternalError(str_cat("local apply exited ", r.exit_code, ": ", r.out, r.err));
  return absl::OkStatus();
}

absl::Status LocalMesh::remove(const std::string& yaml) {
  std::string path;
  AMBIT_RETURN_IF_ERROR(write_temp(yaml, &path));
  auto r = ctl({"local", "delete", "-f", path});
  if (r.exit_code != 0) return absl::InternalError(str_cat("local delete exited ", r.exit_code, ": ", r.out, r.err));
  return absl::OkStatus();
}

sim::CommandResult LocalMesh::exec_pod(const std::string& ns, const std::string& pod, const std::vector<std::string>& argv) {
  std::vector<std::string> args = {"-n", ns, "local", "exec", pod, "--"};
  args.insert(args.end(), argv.begin(), argv.end());
  return ctl(args, std::chrono::seconds(180));
}

sim::CommandResult LocalMesh::exec_node(int node, const std::vector<std::string>& argv) {
  std::vector<std::string> args = {"local", "exec", "--node", str_cat("node", node), "--"};
  args.insert(args.end(), argv.begin(), argv.end());
  return ctl(args);
}

std::string LocalMesh::metrics(int node) {
  return exec_node(node, {"curl", "-s", "-m", "5", "http://127.0.0.1:15020/metrics"}).out;
}

std::string LocalMesh::ztunnel_log(int node) {
  return crypto::read_file(str_cat(dir_, "/logs/node", node, "/ztunnel.log")).value_or("");
}

std::string LocalMesh::logs() const {
  std::string out;
  collect_logs(dir_, "logs", &out);
  return out;
}

}  // namespace ambit::test
