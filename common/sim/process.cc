#include "common/sim/process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "common/base/status.h"
#include "common/base/unique_fd.h"
#include "common/sim/topology.h"

namespace ambit::sim {

absl::StatusOr<Process> Process::spawn(const SpawnOptions& opts) {
  if (opts.argv.empty()) return absl::InvalidArgumentError("spawn: empty argv");
  UniqueFd ns;
  if (!opts.netns.empty()) {
    ns.reset(::open(netns_path(opts.netns).c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) return errno_error(errno, "open netns ", opts.netns);
  }
  UniqueFd cg;
  if (!opts.cgroup.empty()) {
    cg.reset(::open((opts.cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    if (!cg) return errno_error(errno, "open cgroup ", opts.cgroup);
  }
  UniqueFd log;
  if (!opts.log_path.empty()) {
    log.reset(::open(opts.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (!log) return errno_error(errno, "open log ", opts.log_path);
  }
  // Error reporting from the child before exec: it writes errno to this pipe.
  int errpipe[2];
  if (::pipe2(errpipe, O_CLOEXEC) != 0) return errno_error(errno, "pipe");
  UniqueFd err_r(errpipe[0]), err_w(errpipe[1]);

  std::vector<std::string> envs;
  for (const auto& [k, v] : opts.env) envs.push_back(k + "=" + v);
  std::vector<char*> args;
  for (const auto& a : opts.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return errno_error(errno, "fork");
  if (pid == 0) {
    auto fail = [&](int stage) {
      int payload[2] = {stage, errno};
      (void)!::write(err_w.get(), payload, sizeof(payload));
      ::_exit(127);
    };
    if (opts.new_session) ::setsid();
    if (cg) {
      std::string me = std::to_string(::getpid());
      if (::write(cg.get(), me.data(), me.size()) < 0) fail(1);
    }
    if (ns && ::setns(ns.get(), CLONE_NEWNET) != 0) fail(2);
    if (log) {
      ::dup2(log.get(), 1);
      ::dup2(log.get(), 2);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    if (!opts.cwd.empty() && ::chdir(opts.cwd.c_str()) != 0) fail(3);
    for (const auto& e : envs) ::putenv(const_cast<char*>(e.c_str()));
    ::signal(SIGPIPE, SIG_DFL);
    ::execvp(args[0], args.data());
    fail(4);
  }
  err_w.reset();
  int payload[2];
  ssize_t n = ::read(err_r.get(), payload, sizeof(payload));
  if (n == static_cast<ssize_t>(sizeof(payload))) {
    int status;
    ::waitpid(pid, &status, 0);
    static const char* kStage[] = {"", "join cgroup", "enter netns", "chdir", "exec"};
    return errno_error(payload[1], "spawn `", opts.argv[0], "`: ", kStage[payload[0]]);
  }
  Process p;
  p.pid_ = pid;
  p.group_ = opts.new_session;
  p.log_path_ = opts.log_path;
  return p;
}

Process::~Process() { kill(); }

Process::Process(Process&& o) noexcept { *this = std::move(o); }

Process& Process::operator=(Process&& o) noexcept {
  if (this != &o) {
    kill();
    pid_ = std::exchange(o.pid_, -1);
    group_ = o.group_;
    exit_code_ = o.exit_code_;
    log_path_ = std::move(o.log_path_);
  }
  return *this;
}

bool Process::running() { return pid_ > 0 && !wait_for(std::chrono::milliseconds(0)).has_value(); }

std::optional<int> Process::wait_for(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  if (pid_ <= 0) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Process::signal(int sig) {
  if (pid_ <= 0 || exit_code_) return;
  if (group_) ::kill(-pid_, sig);
  ::kill(pid_, sig);
}

int Process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  signal(SIGTERM);
  if (auto c = wait_for(grace)) return *c;
  kill();
  return exit_code_.value_or(-1);
}

void Process::kill() {
  if (pid_ <= 0 || exit_code_) return;
  signal(SIGKILL);
  wait_for(std::chrono::seconds(10));
}

pid_t Process::detach() {
  pid_t p = pid_;
  pid_ = -1;
  return p;
}

std::string Process::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace ambit::sim
