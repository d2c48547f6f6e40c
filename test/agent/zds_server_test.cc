// Tests for agent/zds_server against the real ztunnel-side client (ztunnel/inpod/zds_client):
// the snapshot (AddWorkload carrying the pod netns fd, KeepWorkload for a netns that cannot be
// opened, SnapshotSent), live Add/Del with ACK and NACK, no ztunnel, reconnects and replacement,
// concurrent callers, and raw clients that misbehave (garbage or no ZdsHello, no acks) and must be
// dropped without wedging the server. The "pod" netns is /proc/self/ns/net, so no namespace is
// created; every wait is bounded by kWait, which is never a pass/fail threshold.
#include "agent/zds_server.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/peer_cred.h"
#include "common/base/strings.h"
#include "istio/workload/zds/zds.pb.h"
#include "test/support/as_uid.h"
#include "test/support/root.h"
#include "ztunnel/inpod/zds_client.h"

namespace {

using namespace std::chrono_literals;
using ambit::UniqueFd;
using ambit::agent::ZdsPod;
using ambit::agent::ZdsServer;
using ambit::agent::ZdsServerOptions;
using ambit::ztunnel::ZdsClient;
using ambit::ztunnel::ZdsHandler;
using ambit::ztunnel::ZdsWorkload;
namespace zds = istio::workload::zds;

constexpr auto kWait = 10s;

// absl::string_view (Status::message()) is not std::string_view on Debian.
bool contains(absl::string_view hay, std::string_view needle) {
  return ambit::to_std(hay).find(needle) != std::string_view::npos;
}

template <typename F>
bool eventually(F f) {
  auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

struct NsId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const NsId&) const = default;
};

NsId ns_id(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return {};
  return {st.st_dev, st.st_ino};
}

NsId self_netns() {
  UniqueFd fd(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  REQUIRE(fd);
  return ns_id(fd.get());
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ambit-zds-XXXXXX";
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

ZdsPod pod(const std::string& uid, const std::string& netns = "/proc/self/ns/net") {
  return {uid, "name-" + uid, "ns-" + uid, "sa-" + uid, netns};
}

// What ztunnel's ZDS client hands to ztunnel. Uids in `fail` are NACKed with a message naming them.
class Recorder : public ZdsHandler {
 public:
  struct Added {
    ZdsWorkload w;
    NsId ns;
  };

  explicit Recorder(std::set<std::string> fail = {}) : fail_(std::move(fail)) {}

  absl::Status add(const ZdsWorkload& w, UniqueFd netns) override {
    NsId id = ns_id(netns.get());
    std::lock_guard l(mu_);
    adds_.push_back({w, id});
    cv_.notify_all();
    if (fail_.count(w.uid)) return absl::InternalError("proxy for " + w.uid + " failed to start");
    return absl::OkStatus();
  }
  void keep(const std::string& uid) override { record(&keeps_, uid); }
  void del(const std::string& uid) override { record(&dels_, uid); }
  void snapshot_done(const std::set<std::string>& named) override {
    std::lock_guard l(mu_);
    snapshots_.push_back(named);
    cv_.notify_all();
  }
  void connected(bool up) override {
    std::lock_guard l(mu_);
    (up ? ups_ : downs_)++;
    cv_.notify_all();
  }

  template <typename Pred>
  bool wait(Pred p) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, kWait, [&] { return p(); });
  }
  std::vector<Added> adds() const { return copy(adds_); }
  std::vector<std::string> keeps() const { return copy(keeps_); }
  std::vector<std::string> dels() const { return copy(dels_); }
  std::vector<std::set<std::string>> snapshots() const { return copy(snapshots_); }
  int downs() const { return copy(downs_); }
  bool saw_add(const std::string& uid) const {
    for (const Added& a : adds()) {
      if (a.w.uid == uid) return true;
    }
    return false;
  }

  // Read by wait() predicates, which run with mu_ held.
  std::vector<Added> adds_;
  std::vector<std::string> keeps_, dels_;
  std::vector<std::set<std::string>> snapshots_;
  int ups_ = 0, downs_ = 0;

 private:
  void record(std::vector<std::string>* v, const std::string& uid) {
    std::lock_guard l(mu_);
    v->push_back(uid);
    cv_.notify_all();
  }
  template <typename T>
  T copy(const T& t) const {
    std::lock_guard l(mu_);
    return t;
  }
  const std::set<std::string> fail_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
};

class PodSource {
 public:
  void set(std::vector<ZdsPod> pods) {
    std::lock_guard l(mu_);
    pods_ = std::move(pods);
  }
  std::vector<ZdsPod> get() const {
    std::lock_guard l(mu_);
    return pods_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<ZdsPod> pods_;
};

// A started server on a socket in a directory that does not exist yet.
// The suite's own clients run as the test's user: allowed besides root, so the suite runs without
// root too.
ZdsServerOptions with_own_uid(ZdsServerOptions o) {
  o.allowed_uids.push_back(::geteuid());
  return o;
}

struct Fixture {
  explicit Fixture(ZdsServerOptions o = {})
      : server(
            path, [this] { return pods.get(); }, with_own_uid(o)) {
    absl::Status st = server.start();
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  TempDir dir;
  std::string path = dir.path() + "/run/ztunnel/ztunnel.sock";
  PodSource pods;
  ZdsServer server;
};

// A hand-driven ZDS peer, for what the real client never does.
class RawClient {
 public:
  enum class Got { kPacket, kEof, kTimeout };

  explicit RawClient(const std::string& path)
      : fd_(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) {
    REQUIRE(fd_);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  void send(const std::string& bytes) {
    REQUIRE(::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }
  void send_hello() {
    zds::ZdsHello h;
    h.set_version(zds::V1);
    send(h.SerializeAsString());
  }
  // False once the server has hung up on us.
  bool try_ack() {
    zds::WorkloadResponse r;
    r.mutable_ack();
    std::string b = r.SerializeAsString();
    return ::send(fd_.get(), b.data(), b.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(b.size());
  }
  // The next packet; fds it carried are counted into `nfds` and closed.
  Got recv(zds::WorkloadRequest* out = nullptr, int* nfds = nullptr) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kWait).count())) <= 0)
      return Got::kTimeout;
    char buf[2048];
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    iovec iov{buf, sizeof(buf)};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf;
    m.msg_controllen = sizeof(cbuf);
    ssize_t n = ::recvmsg(fd_.get(), &m, MSG_CMSG_CLOEXEC);
    if (n <= 0) return Got::kEof;  // 0, or ECONNRESET
    int count = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
        int f;
        std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        ::close(f);
        ++count;
      }
    }
    if (nfds) *nfds = count;
    if (out) REQUIRE(out->ParseFromArray(buf, static_cast<int>(n)));
    return Got::kPacket;
  }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
};

}  // namespace

TEST_CASE("zds: the snapshot adds each pod with its netns fd, then SnapshotSent names them all") {
  Fixture f;
  f.pods.set({pod("uid-a"), pod("uid-b")});
  Recorder rec;
  ZdsClient client(f.path, &rec);
  client.start();

  REQUIRE(rec.wait([&] { return rec.snapshots_.size() == 1; }));
  CHECK(f.server.wait_snapshot_acked(kWait));
  CHECK(f.server.connected());
  CHECK(client.snapshot_applied());
  std::vector<Recorder::Added> adds = rec.adds();
  REQUIRE(adds.size() == 2);
  for (size_t i = 0; i < adds.size(); ++i) {
    std::string uid = i == 0 ? "uid-a" : "uid-b";
    CHECK(adds[i].w.uid == uid);
    CHECK(adds[i].w.name == "name-" + uid);
    CHECK(adds[i].w.ns == "ns-" + uid);
    CHECK(adds[i].w.service_account == "sa-" + uid);
    CHECK(adds[i].ns == self_netns());  // the fd ztunnel received is the pod's netns
  }
  CHECK(rec.snapshots()[0] == std::set<std::string>{"uid-a", "uid-b"});
  CHECK(rec.keeps().empty());
  CHECK(f.server.snapshot_nacks().empty());
  CHECK(f.server.stats().snapshots_sent == 1);
}

TEST_CASE("zds: a pod whose netns cannot be opened is kept, not added") {
  Fixture f;
  f.pods.set({pod("uid-a"), pod("uid-gone", f.dir.path() + "/no-such-netns")});
  Recorder rec;
  ZdsClient client(f.path, &rec);
  client.start();

  REQUIRE(rec.wait([&] { return rec.snapshots_.size() == 1; }));
  CHECK(f.server.wait_snapshot_acked(kWait));
  std::vector<Recorder::Added> adds = rec.adds();
  REQUIRE(adds.size() == 1);
  CHECK(adds[0].w.uid == "uid-a");
  CHECK(rec.keeps() == std::vector<std::string>{"uid-gone"});
  CHECK(rec.snapshots()[0] == std::set<std::string>{"uid-a", "uid-gone"});
}

TEST_CASE("zds: live add and del are acknowledged") {
  Fixture f;
  Recorder rec;
  ZdsClient client(f.path, &rec);
  client.start();
  REQUIRE(f.server.wait_snapshot_acked(kWait));
  CHECK(rec.snapshots()[0].empty());

  absl::Status st = f.server.add(pod("uid-live"), kWait);
  CHECK_MESSAGE(st.ok(), st.ToString());
  std::vector<Recorder::Added> adds = rec.adds();
  REQUIRE(adds.size() == 1);
  CHECK(adds[0].w.uid == "uid-live");
  CHECK(adds[0].w.name == "name-uid-live");
  CHECK(adds[0].ns == self_netns());

  st = f.server.del("uid-live", kWait);
  CHECK_MESSAGE(st.ok(), st.ToString());
  CHECK(rec.dels() == std::vector<std::string>{"uid-live"});

  SUBCASE("an unopenable netns is reported to the caller and nothing is sent") {
    st = f.server.add(pod("uid-x", f.dir.path() + "/no-such-netns"), kWait);
    CHECK(absl::IsNotFound(st));
    CHECK(contains(st.message(), "no-such-netns"));
  }
  SUBCASE("a message over 1 KiB is refused before sending") {
    ZdsPod big = pod("uid-big");
    big.name = std::string(1100, 'n');
    st = f.server.add(big, kWait);
    CHECK(absl::IsInvalidArgument(st));
  }
  // Still in sync: the next message is matched with its own ack.
  st = f.server.add(pod("uid-after"), kWait);
  CHECK_MESSAGE(st.ok(), st.ToString());
  CHECK(rec.adds().size() == 2);
  CHECK(rec.saw_add("uid-after"));
}

TEST_CASE("zds: NACKs reach add()'s caller, and snapshot NACKs are recorded") {
  Fixture f;
  f.pods.set({pod("uid-snap-bad"), pod("uid-snap-ok")});
  Recorder rec({"uid-snap-bad", "uid-bad"});
  ZdsClient client(f.path, &rec);
  client.start();
  REQUIRE(f.server.wait_snapshot_acked(kWait));
  std::vector<std::string> nacks = f.server.snapshot_nacks();
  REQUIRE(nacks.size() == 1);
  CHECK(contains(nacks[0], "uid-snap-bad: proxy for uid-snap-bad failed to start"));

  absl::Status st = f.server.add(pod("uid-bad"), kWait);
  CHECK(absl::IsInternal(st));
  CHECK(contains(st.message(), "proxy for uid-bad failed to start"));
  st = f.server.add(pod("uid-good"), kWait);
  CHECK_MESSAGE(st.ok(), st.ToString());
  CHECK(f.server.stats().nacks == 2);
  CHECK(f.server.connected());  // a NACK does not end the connection
}

TEST_CASE("zds: add and del without a connected ztunnel fail with Unavailable") {
  Fixture f;
  CHECK(!f.server.connected());
  CHECK(!f.server.snapshot_acked());
  absl::Status st = f.server.add(pod("uid-a"), kWait);
  CHECK(absl::IsUnavailable(st));
  CHECK(contains(st.message(), "no ztunnel connected"));
  CHECK(absl::IsUnavailable(f.server.del("uid-a", kWait)));

  ZdsServer never_started(f.dir.path() + "/other.sock", {});
  CHECK(absl::IsUnavailable(never_started.add(pod("uid-a"), kWait)));
}

TEST_CASE("zds: a reconnecting ztunnel gets a fresh snapshot") {
  Fixture f;
  f.pods.set({pod("uid-a")});
  Recorder rec1;
  {
    ZdsClient first(f.path, &rec1);
    first.start();
    REQUIRE(f.server.wait_snapshot_acked(kWait));
    first.stop();
  }
  CHECK(rec1.snapshots() == std::vector<std::set<std::string>>{{"uid-a"}});
  CHECK(eventually([&] { return !f.server.connected(); }));

  f.pods.set({pod("uid-a"), pod("uid-b")});
  Recorder rec2;
  ZdsClient second(f.path, &rec2);
  second.start();
  REQUIRE(rec2.wait([&] { return rec2.snapshots_.size() == 1; }));
  CHECK(rec2.snapshots()[0] == std::set<std::string>{"uid-a", "uid-b"});
  CHECK(rec2.adds().size() == 2);
  REQUIRE(f.server.wait_snapshot_acked(kWait));
  absl::Status st = f.server.add(pod("uid-c"), kWait);
  CHECK_MESSAGE(st.ok(), st.ToString());
  CHECK(rec2.saw_add("uid-c"));
  CHECK(!rec1.saw_add("uid-c"));
  CHECK(f.server.stats().snapshots_sent == 2);
}

TEST_CASE("zds: a new ztunnel connection replaces the current one") {
  Fixture f;
  f.pods.set({pod("uid-a")});
  Recorder rec;
  ZdsClient real(f.path, &rec);
  real.start();
  REQUIRE(f.server.wait_snapshot_acked(kWait));

  // A second peer says hello: the server closes the real client's connection and serves the
  // newcomer. The real client then reconnects by itself and takes over in turn.
  RawClient raw(f.path);
  raw.send_hello();
  CHECK(rec.wait([&] { return rec.downs_ >= 1; }));
  // It serves the newcomer until the real client's reconnection replaces it, possibly before
  // its snapshot is complete.
  RawClient::Got got;
  while ((got = raw.recv()) == RawClient::Got::kPacket) {
    if (!raw.try_ack()) break;
  }
  while (got == RawClient::Got::kPacket) got = raw.recv();
  CHECK(got == RawClient::Got::kEof);

  REQUIRE(rec.wait([&] { return rec.snapshots_.size() >= 2; }));
  CHECK(rec.snapshots().back() == std::set<std::string>{"uid-a"});
  CHECK(f.server.wait_snapshot_acked(kWait));
  CHECK(f.server.stats().replaced >= 2);
  absl::Status st = f.server.add(pod("uid-b"), kWait);
  CHECK_MESSAGE(st.ok(), st.ToString());
}

TEST_CASE("zds: a client sending garbage instead of ZdsHello is dropped, ztunnel still served") {
  Fixture f;
  {
    RawClient garbage(f.path);
    garbage.send("\xff\xff\xff\xff garbage");
    CHECK(garbage.recv() == RawClient::Got::kEof);
  }
  {
    RawClient parses(f.path);  // parses as unknown fields, so it has no version
    parses.send(std::string("\x0a\x00", 2));
    CHECK(parses.recv() == RawClient::Got::kEof);
  }
  CHECK(f.server.stats().bad_hellos == 2);
  CHECK(!f.server.connected());

  Recorder rec;
  ZdsClient client(f.path, &rec);
  client.start();
  CHECK(f.server.wait_snapshot_acked(kWait));
}

TEST_CASE("zds: a client that says nothing is dropped after the hello deadline") {
  ZdsServerOptions o;
  o.hello_timeout = 100ms;
  Fixture f(o);
  RawClient silent(f.path);
  CHECK(silent.recv() == RawClient::Got::kEof);
  CHECK(f.server.stats().bad_hellos == 1);

  Recorder rec;
  ZdsClient client(f.path, &rec);
  client.start();
  CHECK(f.server.wait_snapshot_acked(kWait));
}

TEST_CASE("zds: connections beyond max_handshakes are refused") {
  ZdsServerOptions o;
  o.max_handshakes = 1;
  o.hello_timeout = 60s;  // the first connection holds its handshake slot for the whole test
  Fixture f(o);
  RawClient first(f.path);
  RawClient second(f.path);
  CHECK(second.recv() == RawClient::Got::kEof);
  CHECK(f.server.stats().refused == 1);
  first.send_hello();
  CHECK(f.server.wait_connected(kWait));
  CHECK(first.recv() == RawClient::Got::kPacket);  // SnapshotSent of the empty snapshot
}

TEST_CASE("peer check: a peer's pid and uid come from SO_PEERCRED, and a uid not allowed is refused, naming both") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd a(sv[0]), b(sv[1]);
  auto c = ambit::agent::peer_cred(a.get());
  REQUIRE(c.ok());
  CHECK(c->pid == ::getpid());
  CHECK(c->uid == ::geteuid());
  CHECK(ambit::agent::check_peer(a.get(), {::geteuid()}, "test socket").ok());
  uid_t other = ::geteuid() + 1;
  absl::Status s = ambit::agent::check_peer(a.get(), {other}, "test socket");
  CHECK(absl::IsPermissionDenied(s));
  CHECK_MESSAGE(contains(s.message(), ambit::str_cat("test socket: refused peer pid ", ::getpid(), " uid ", ::geteuid())),
                s.ToString());
}

TEST_CASE("zds: a peer running as another uid is refused before it can pose as ztunnel, while root is served") {
  AMBIT_REQUIRE_ROOT();
  Fixture f;  // allowed: uid 0
  // The socket is 0600 in its directory; another uid would be stopped by the file mode before
  // the server saw it. Open the path up so the peer check is what is tested: it is what still
  // holds when the path is visible to more than ztunnel.
  for (std::string d : {f.dir.path(), f.dir.path() + "/run", f.dir.path() + "/run/ztunnel"}) {
    REQUIRE(::chmod(d.c_str(), 0755) == 0);
  }
  REQUIRE(::chmod(f.path.c_str(), 0666) == 0);
  zds::ZdsHello h;
  h.set_version(zds::V1);
  const std::string hello = h.SerializeAsString();
  const std::string path = f.path;
  // The child says a valid hello. Refused: the connection ends with nothing sent (exit 0);
  // served: it gets the snapshot's SnapshotSent (exit 3).
  auto r = ambit::test::run_as_uid(65534, 65534, [&](int) {
    int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 1;
    ::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return 2;
    char buf[2048];
    return ::recv(fd, buf, sizeof(buf), 0) > 0 ? 3 : 0;
  });
  CHECK(r.exit_code == 0);
  CHECK(eventually([&] { return f.server.stats().peer_refused == 1; }));
  CHECK_FALSE(f.server.connected());

  Recorder rec;
  ZdsClient client(f.path, &rec);
  client.start();
  CHECK(f.server.wait_snapshot_acked(kWait));
  CHECK(f.server.stats().peer_refused == 1);
}

TEST_CASE("zds: a ztunnel that never acks is dropped, and the next one is served") {
  ZdsServerOptions o;
  o.ack_timeout = 100ms;
  Fixture f(o);
  f.pods.set({pod("uid-a")});
  RawClient mute(f.path);
  mute.send_hello();
  zds::WorkloadRequest req;
  int nfds = -1;
  REQUIRE(mute.recv(&req, &nfds) == RawClient::Got::kPacket);
  CHECK(req.has_add());
  CHECK(req.add().uid() == "uid-a");
  CHECK(nfds == 1);
  CHECK(mute.recv() == RawClient::Got::kEof);  // no ack: the server hangs up
  CHECK(!f.server.connected());
  CHECK(f.server.stats().dropped == 1);

  Recorder rec;
  ZdsClient client(f.path, &rec);
  client.start();
  CHECK(f.server.wait_snapshot_acked(kWait));
  CHECK(rec.saw_add("uid-a"));
}

TEST_CASE("zds: updates queue behind an unacked snapshot, time out unsent, stop() frees callers") {
  ZdsServerOptions o;
  o.ack_timeout = 60s;  // the peer below never acks; only the test ends its connection
  Fixture f(o);
  f.pods.set({pod("uid-a")});
  RawClient mute(f.path);
  mute.send_hello();
  REQUIRE(mute.recv() == RawClient::Got::kPacket);  // the snapshot's AddWorkload, never acked
  REQUIRE(f.server.connected());

  // Queued behind the snapshot, withdrawn at its deadline, never sent.
  absl::Status st = f.server.add(pod("uid-late"), 50ms);
  CHECK(absl::IsDeadlineExceeded(st));
  CHECK(contains(st.message(), "not sent"));

  SUBCASE("the peer leaves: its disconnect is noticed and the withdrawn update is not replayed") {
    mute.close();
    CHECK(eventually([&] { return !f.server.connected(); }));
    Recorder rec;
    ZdsClient client(f.path, &rec);
    client.start();
    REQUIRE(f.server.wait_snapshot_acked(kWait));
    CHECK(rec.saw_add("uid-a"));
    CHECK(!rec.saw_add("uid-late"));
  }
  SUBCASE("stop() while a caller waits") {
    absl::Status waited;
    std::thread caller([&] { waited = f.server.add(pod("uid-b"), 60s); });
    f.server.stop();
    caller.join();
    CHECK(absl::IsUnavailable(waited));
    CHECK(mute.recv() == RawClient::Got::kEof);
    CHECK(!std::filesystem::exists(f.path));
  }
}

TEST_CASE("zds: concurrent callers are serialized, each matched with its own ack") {
  Fixture f;
  std::set<std::string> fail;
  for (int t = 0; t < 4; ++t) fail.insert("uid-" + std::to_string(t) + "-0");
  Recorder rec(fail);
  ZdsClient client(f.path, &rec);
  client.start();
  REQUIRE(f.server.wait_snapshot_acked(kWait));

  constexpr int kThreads = 4, kPerThread = 5;
  std::vector<std::vector<absl::Status>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        results[t].push_back(
            f.server.add(pod("uid-" + std::to_string(t) + "-" + std::to_string(i)), kWait));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const absl::Status& st = results[t][i];
      std::string uid = "uid-" + std::to_string(t) + "-" + std::to_string(i);
      if (i == 0) {
        CHECK(absl::IsInternal(st));
        CHECK_MESSAGE(contains(st.message(), "proxy for " + uid + " failed"), st.ToString());
      } else {
        CHECK_MESSAGE(st.ok(), uid, " ", st.ToString());
      }
    }
  }
  CHECK(rec.adds().size() == kThreads * kPerThread);
  CHECK(f.server.stats().nacks == kThreads);
}

TEST_CASE("zds: start makes the dir, replaces a stale socket, refuses a live one or a file") {
  TempDir dir;
  std::string path = dir.path() + "/a/b/ztunnel.sock";
  std::filesystem::create_directories(dir.path() + "/a/b");
  {
    // A socket file left behind by an earlier agent.
    UniqueFd stale(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::bind(stale.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  ZdsServer server(path, {}, with_own_uid({}));
  absl::Status st = server.start();
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  CHECK(absl::IsFailedPrecondition(server.start()));
  struct stat sb {};
  REQUIRE(::stat(path.c_str(), &sb) == 0);
  CHECK(S_ISSOCK(sb.st_mode));
  CHECK((sb.st_mode & 0777) == 0600);
  {
    Recorder rec;
    ZdsClient client(path, &rec);
    client.start();
    CHECK(server.wait_snapshot_acked(kWait));
  }
  server.stop();
  CHECK(!std::filesystem::exists(path));
  CHECK(!server.connected());

  // Restartable.
  st = server.start();
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  {
    Recorder rec;
    ZdsClient client(path, &rec);
    client.start();
    CHECK(server.wait_snapshot_acked(kWait));
  }
  server.stop();

  // A live socket belongs to another agent: refused, and the other server keeps working.
  st = server.start();
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  ZdsServer second(path, {});
  st = second.start();
  CHECK_MESSAGE(absl::IsAlreadyExists(st), st.ToString());
  {
    Recorder rec;
    ZdsClient client(path, &rec);
    client.start();
    CHECK(server.wait_snapshot_acked(kWait));
  }
  CHECK(server.stats().bad_hellos == 0);  // the probe left without a word
  server.stop();

  std::string file = dir.path() + "/not-a-socket";
  { UniqueFd f(::open(file.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644)); }
  ZdsServer refuses(file, {});
  CHECK(absl::IsFailedPrecondition(refuses.start()));
  CHECK(std::filesystem::exists(file));
}
