// A small, fast load generator and sink for the data-path benchmarks (netperf-like, no deps):
//   netperf_lite serve --port P          echo on P, discard on P+1, accept-and-close on P+2,
//                                        and on P+3 an echo for many connections (one epoll thread)
//   netperf_lite stream --to IP:P+1 --conns N --seconds S      → Gb/s (client → server)
//   netperf_lite rr --to IP:P --size B --count K               → round trips p50/p99 (µs)
//   netperf_lite crr --to IP:P+2 --seconds S                   → new connections per second
//   netperf_lite hold --to IP:P --conns N --seconds S          → N idle connections held open, each
//                                                                  echoing once when opened and once
//                                                                  more before it is closed
// Output is one machine-readable line: "key=value ...". Blocking sockets and threads: the
// tool must cost less than what it measures, and this is as cheap as it gets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

namespace {

std::string arg(int argc, char** argv, const char* name, const char* def) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return def;
}

sockaddr_in parse(const std::string& hp) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  auto c = hp.rfind(':');
  inet_pton(AF_INET, hp.substr(0, c).c_str(), &a.sin_addr);
  a.sin_port = htons(static_cast<uint16_t>(std::atoi(hp.c_str() + c + 1)));
  return a;
}

int dial(const sockaddr_in& a) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int listen_on(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 4096) != 0) {
    std::perror("listen");
    std::exit(1);
  }
  return fd;
}

void serve(int port) {
  auto accept_loop = [](int lfd, int mode) {
    for (;;) {
      int c = ::accept(lfd, nullptr, nullptr);
      if (c < 0) continue;
      if (mode == 2) {
        ::close(c);
        continue;
      }
      std::thread([c, mode] {
        int one = 1;
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        std::vector<char> buf(256 * 1024);
        for (;;) {
          ssize_t n = ::read(c, buf.data(), buf.size());
          if (n <= 0) break;
          if (mode == 0) {
            ssize_t off = 0;
            while (off < n) {
              ssize_t w = ::write(c, buf.data() + off, static_cast<size_t>(n - off));
              if (w <= 0) break;
              off += w;
            }
          }
        }
        ::close(c);
      }).detach();
    }
  };
  for (int mode = 0; mode < 3; ++mode) {
    int lfd = listen_on(port + mode);
    std::thread(accept_loop, lfd, mode).detach();
  }
  // P+3: thousands of mostly idle connections must not cost a thread (and its buffer) each.
  std::thread([lfd = listen_on(port + 3)] {
    int ep = ::epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    std::vector<epoll_event> ready(256);
    char buf[4096];
    for (;;) {
      int n = ::epoll_wait(ep, ready.data(), static_cast<int>(ready.size()), -1);
      for (int i = 0; i < n; ++i) {
        int fd = ready[i].data.fd;
        if (fd == lfd) {
          int c = ::accept4(lfd, nullptr, nullptr, 0);
          if (c < 0) continue;
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          continue;
        }
        ssize_t r = ::read(fd, buf, sizeof(buf));
        if (r <= 0 || ::write(fd, buf, static_cast<size_t>(r)) != r) {
          ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
          ::close(fd);
        }
      }
    }
  }).detach();
  std::printf("listening\n");
  std::fflush(stdout);
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

int stream(const sockaddr_in& a, int conns, double seconds) {
  std::atomic<uint64_t> total{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> ts;
  std::atomic<int> failed{0};
  for (int i = 0; i < conns; ++i) {
    ts.emplace_back([&] {
      int fd = dial(a);
      if (fd < 0) {
        failed++;
        return;
      }
      std::vector<char> buf(256 * 1024, 'x');
      while (!stop) {
        ssize_t n = ::write(fd, buf.data(), buf.size());
        if (n <= 0) {
          failed++;
          break;
        }
        total += static_cast<uint64_t>(n);
      }
      ::close(fd);
    });
  }
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  uint64_t bytes = total.load();
  double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  stop = true;
  for (auto& t : ts) t.join();
  std::printf("gbps=%.3f bytes=%llu seconds=%.2f failed=%d\n", bytes * 8 / dt / 1e9,
              static_cast<unsigned long long>(bytes), dt, failed.load());
  return failed.load() ? 1 : 0;
}

int rr(const sockaddr_in& a, int size, int count) {
  int fd = dial(a);
  if (fd < 0) {
    std::printf("error=connect\n");
    return 1;
  }
  std::vector<char> buf(static_cast<size_t>(size), 'r'), in(static_cast<size_t>(size));
  std::vector<double> us;
  for (int i = 0; i < count + 100; ++i) {
    auto t0 = Clock::now();
    if (::write(fd, buf.data(), buf.size()) != size) return 1;
    size_t got = 0;
    while (got < in.size()) {
      ssize_t n = ::read(fd, in.data() + got, in.size() - got);
      if (n <= 0) {
        std::printf("error=read\n");
        return 1;
      }
      got += static_cast<size_t>(n);
    }
    if (i >= 100) us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  ::close(fd);
  std::sort(us.begin(), us.end());
  std::printf("p50_us=%.1f p99_us=%.1f count=%d\n", us[us.size() / 2], us[us.size() * 99 / 100], count);
  return 0;
}

int crr(const sockaddr_in& a, double seconds) {
  auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  int ok = 0, failed = 0;
  auto t0 = Clock::now();
  while (Clock::now() < end) {
    int fd = dial(a);
    if (fd < 0) {
      failed++;
      continue;
    }
    char c;
    // Wait for the server's close so each connection is complete end to end.
    if (::read(fd, &c, 1) == 0) ok++;
    else failed++;
    ::close(fd);
  }
  double dt = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("conns_per_s=%.0f ok=%d failed=%d\n", ok / dt, ok, failed);
  return failed ? 1 : 0;
}

// Connection churn: connect, one round trip, close — N times. Used to show capture state does not
// leak per connection.
int churn(const sockaddr_in& a, int count) {
  int ok = 0, failed = 0;
  for (int i = 0; i < count; ++i) {
    int fd = dial(a);
    if (fd < 0) {
      failed++;
      continue;
    }
    char b = 'c';
    if (::write(fd, &b, 1) == 1 && ::read(fd, &b, 1) == 1) ok++;
    else failed++;
    // Abortive close (RST): no TIME_WAIT, so 100k connections do not exhaust ephemeral ports.
    linger lg{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    ::close(fd);
  }
  std::printf("churn ok=%d failed=%d\n", ok, failed);
  return failed ? 1 : 0;
}

int hold(const sockaddr_in& a, int conns, double seconds) {
  std::vector<int> fds;
  for (int i = 0; i < conns; ++i) {
    int fd = dial(a);
    if (fd < 0) {
      std::printf("error=connect held=%zu\n", fds.size());
      return 1;
    }
    timeval tv{10, 0};  // a stalled tunnel fails the echo instead of hanging the run
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    // One round trip so the tunnel is really established end to end.
    char b = 'h';
    if (::write(fd, &b, 1) != 1 || ::read(fd, &b, 1) != 1) {
      std::printf("error=echo held=%zu\n", fds.size());
      return 1;
    }
    fds.push_back(fd);
  }
  std::printf("held=%zu\n", fds.size());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  // Every connection must still carry bytes after the hold: none was dropped on the way.
  size_t verify_failed = 0;
  for (int fd : fds) {
    char b = 'v';
    if (::write(fd, &b, 1) != 1 || ::read(fd, &b, 1) != 1 || b != 'v') verify_failed++;
  }
  for (int fd : fds) ::close(fd);
  std::printf("done held=%zu verify_failed=%zu\n", fds.size(), verify_failed);
  return verify_failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: netperf_lite serve|stream|rr|crr|hold ...\n");
    return 2;
  }
  std::string cmd = argv[1];
  // Thousands of sockets: take all the fds the hard limit allows.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (cmd == "serve") serve(std::atoi(arg(argc, argv, "--port", "9000").c_str()));
  sockaddr_in to = parse(arg(argc, argv, "--to", "127.0.0.1:9000"));
  if (cmd == "stream") return stream(to, std::atoi(arg(argc, argv, "--conns", "1").c_str()),
                                     std::atof(arg(argc, argv, "--seconds", "5").c_str()));
  if (cmd == "rr") return rr(to, std::atoi(arg(argc, argv, "--size", "64").c_str()),
                             std::atoi(arg(argc, argv, "--count", "5000").c_str()));
  if (cmd == "crr") return crr(to, std::atof(arg(argc, argv, "--seconds", "3").c_str()));
  if (cmd == "churn") return churn(to, std::atoi(arg(argc, argv, "--count", "1000").c_str()));
  if (cmd == "hold") return hold(to, std::atoi(arg(argc, argv, "--conns", "1000").c_str()),
                                 std::atof(arg(argc, argv, "--seconds", "5").c_str()));
  std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
  return 2;
}
