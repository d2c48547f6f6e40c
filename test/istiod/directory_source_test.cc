// The directory config source against a real directory, real inotify and a real io_context:
// what a sink is told when files are created, edited, half-written, broken, duplicated, deleted,
// or are editor droppings. Waits for something to happen are bounded by deadlines; fixed waits
// (a few debounce periods) are used only to show that nothing (more) happens.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "common/base/strings.h"
#include "common/base/unique_fd.h"
#include "istiod/config/directory_source.h"
#include "test/support/harness.h"
#include "test/support/root.h"

using namespace ambit;
using namespace ambit::istiod;
using namespace std::chrono_literals;

namespace {

constexpr auto kDebounce = 20ms;
constexpr auto kDeadline = 10s;

// Records everything the source tells its sink, in order.
struct RecordingSink : ConfigSink {
  std::vector<std::vector<ConfigEvent>> batches;
  std::vector<std::vector<ObjectPtr>> resyncs;
  std::vector<Rejection> rejections;  // the latest set
  int rejection_reports = 0;          // on_rejections is called once per reload

  void on_events(const std::vector<ConfigEvent>& events) override { batches.push_back(events); }
  void on_resync(const std::vector<ObjectPtr>& all) override { resyncs.push_back(all); }
  void on_rejections(const std::vector<Rejection>& r) override {
    rejections = r;
    ++rejection_reports;
  }
};

const char* type_name(EventType t) {
  switch (t) {
    case EventType::kAdd: return "add";
    case EventType::kUpdate: return "update";
    case EventType::kDelete: return "delete";
  }
  return "?";
}

// "add Pod default/a" for each event, sorted, so a batch compares as a set.
std::vector<std::string> describe(const std::vector<ConfigEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(str_cat(type_name(e.type), " ", e.obj->key().to_string()));
  std::sort(out.begin(), out.end());
  return out;
}

std::string rejections_text(const std::vector<Rejection>& rs) {
  std::string out;
  for (const auto& r : rs) str_append(&out, r.to_string(), "\n");
  return out;
}

std::string pod(const std::string& name, const std::string& ip, const std::string& node = "node1",
                const std::string& ns = "default") {
  return str_cat("apiVersion: v1\nkind: Pod\nmetadata:\n  name: ", name, "\n  namespace: ", ns,
                 "\n  labels: {app: ", name, "}\nspec:\n  nodeName: ", node,
                 "\n  serviceAccountName: sa-", name, "\nstatus:\n  podIP: ", ip, "\n");
}

std::string service(const std::string& name, const std::string& port, const std::string& ns = "default") {
  return str_cat("apiVersion: v1\nkind: Service\nmetadata:\n  name: ", name, "\n  namespace: ", ns,
                 "\nspec:\n  selector: {app: ", name, "}\n  ports:\n  - {name: http, port: ", port, "}\n");
}

std::string docs(const std::vector<std::string>& ds) { return join(ds, "---\n"); }

class Fixture {
 public:
  Fixture() : dir_(str_cat(h_.work_dir(), "/config")) { REQUIRE(::mkdir(dir_.c_str(), 0755) == 0); }

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return str_cat(dir_, "/", name); }

  // Writes <name> the way careful tools do: a dotted temp file, then rename into place.
  void write(const std::string& name, const std::string& text) {
    std::string tmp = path(str_cat(".", name, ".tmp-write"));
    write_plain(tmp, text);
    REQUIRE(::rename(tmp.c_str(), path(name).c_str()) == 0);
  }
  // Writes in place (open, write, close): IN_CLOSE_WRITE on <name> itself.
  static void write_plain(const std::string& p, const std::string& text) {
    UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    REQUIRE(fd);
    REQUIRE(::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  }
  void remove(const std::string& name) { REQUIRE(::unlink(path(name).c_str()) == 0); }

  void create() { source_ = std::make_unique<DirectorySource>(io_, dir_, &sink_, kDebounce); }
  void start() {
    if (!source_) create();
    AMBIT_REQUIRE_OK(source_->start());
  }

  // Runs the io_context until `done` holds; fails the test at the deadline.
  void run_until(const std::function<bool()>& done, const char* what) {
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (!done()) {
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "timed out waiting for ", what);
      io_.restart();
      io_.run_for(5ms);
    }
  }
  // Runs the io_context for a fixed time (to show that nothing happens).
  void run_for(std::chrono::milliseconds d) {
    io_.restart();
    io_.run_for(d);
  }
  // Waits for the next reload (every reload reports the rejection set).
  void wait_reload(const char* what) {
    int before = sink_.rejection_reports;
    run_until([&] { return sink_.rejection_reports > before; }, what);
  }
  // Applies a change and returns the events of the reload it caused (empty if none).
  std::vector<std::string> change(const std::function<void()>& fn, const char* what) {
    size_t batches = sink_.batches.size();
    fn();
    wait_reload(what);
    // The debounce coalesces one burst, but rename's two inotify events may straddle a read; keep
    // draining while more reloads arrive within a few debounce periods.
    for (int quiet = 0; quiet < 3;) {
      int before = sink_.rejection_reports;
      run_for(kDebounce * 2);
      quiet = sink_.rejection_reports == before ? quiet + 1 : 0;
    }
    std::vector<ConfigEvent> all;
    for (size_t i = batches; i < sink_.batches.size(); ++i) {
      all.insert(all.end(), sink_.batches[i].begin(), sink_.batches[i].end());
    }
    return describe(all);
  }

  RecordingSink& sink() { return sink_; }
  DirectorySource& source() { return *source_; }

 private:
  test::Harness h_;
  std::string dir_;
  boost::asio::io_context io_;
  RecordingSink sink_;
  std::unique_ptr<DirectorySource> source_;
};

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("initial scan: one resync with every object of every YAML file, editor files ignored") {
  Fixture f;
  f.write("apps.yaml", docs({pod("a", "10.0.0.1"), pod("b", "10.0.0.2")}));
  f.write("svc.yml", service("a", "80"));
  // Editor droppings and non-config files that would be valid YAML if read.
  Fixture::write_plain(f.path(".apps.yaml.swp"), pod("swap", "10.0.0.9"));
  Fixture::write_plain(f.path("apps.yaml~"), pod("backup", "10.0.0.9"));
  Fixture::write_plain(f.path(".hidden.yaml"), pod("hidden", "10.0.0.9"));
  Fixture::write_plain(f.path("apps.yaml.tmp"), pod("tmp", "10.0.0.9"));
  Fixture::write_plain(f.path("README.txt"), pod("readme", "10.0.0.9"));
  f.create();
  CHECK_FALSE(f.source().ready());
  f.start();
  CHECK(f.source().ready());
  REQUIRE(f.sink().resyncs.size() == 1);
  std::vector<std::string> keys;
  for (const auto& o : f.sink().resyncs[0]) keys.push_back(o->key().to_string());
  std::sort(keys.begin(), keys.end());
  CHECK(keys == V{"Pod default/a", "Pod default/b", "Service default/a"});
  CHECK(f.sink().batches.empty());
  CHECK(f.sink().rejections.empty());
  // Objects remember where they came from.
  for (const auto& o : f.sink().resyncs[0]) {
    if (o->key().to_string() == "Pod default/b") CHECK(o->source == "apps.yaml#2");
  }
}

TEST_CASE("relevant_file: YAML/JSON only, dotfiles, backups, swap and temp files never") {
  CHECK(DirectorySource::relevant_file("a.yaml"));
  CHECK(DirectorySource::relevant_file("a.yml"));
  CHECK(DirectorySource::relevant_file("a.json"));
  CHECK_FALSE(DirectorySource::relevant_file(".x.swp"));
  CHECK_FALSE(DirectorySource::relevant_file("x~"));
  CHECK_FALSE(DirectorySource::relevant_file("x.yaml~"));
  CHECK_FALSE(DirectorySource::relevant_file(".hidden.yaml"));
  CHECK_FALSE(DirectorySource::relevant_file("x.yaml.swp"));
  CHECK_FALSE(DirectorySource::relevant_file("x.yaml.tmp"));
  CHECK_FALSE(DirectorySource::relevant_file("notes.txt"));
  CHECK_FALSE(DirectorySource::relevant_file(""));
}

TEST_CASE("live: a new file adds, an edit updates only what changed, a re-save changes nothing") {
  Fixture f;
  f.write("base.yaml", pod("keep", "10.0.0.1"));
  f.start();
  REQUIRE(f.sink().resyncs.size() == 1);

  CHECK(f.change([&] { f.write("apps.yaml", docs({pod("a", "10.0.0.2"), pod("b", "10.0.0.3"), service("a", "80")})); },
                 "new file") == V{"add Pod default/a", "add Pod default/b", "add Service default/a"});

  // Edit one of three objects: one update, nothing for the others.
  auto events = f.change(
      [&] { f.write("apps.yaml", docs({pod("a", "10.0.0.2"), pod("b", "10.0.0.33"), service("a", "80")})); }, "edit");
  CHECK(events == V{"update Pod default/b"});
  // The update carries the new content.
  REQUIRE(!f.sink().batches.empty());
  const ConfigEvent& upd = f.sink().batches.back().front();
  CHECK(upd.obj->as<Pod>().ips == V{"10.0.0.33"});

  // Saving identical content again (a new inode, a new close) is not a change.
  size_t batches = f.sink().batches.size();
  CHECK(f.change([&] { f.write("apps.yaml", docs({pod("a", "10.0.0.2"), pod("b", "10.0.0.33"), service("a", "80")})); },
                 "re-save")
            .empty());
  CHECK(f.sink().batches.size() == batches);
  // In-place rewrite (IN_CLOSE_WRITE rather than IN_MOVED_TO) with one change.
  CHECK(f.change([&] {
          Fixture::write_plain(f.path("apps.yaml"),
                               docs({pod("a", "10.0.0.2"), pod("b", "10.0.0.33"), service("a", "8080")}));
        },
                 "in-place edit") == V{"update Service default/a"});
  CHECK(f.sink().rejections.empty());
  CHECK(f.sink().resyncs.size() == 1);  // live changes are events, never another resync
}

TEST_CASE("a half-written file has no effect until its writer closes it") {
  Fixture f;
  f.start();
  std::string text = docs({pod("first", "10.0.0.1"), pod("second", "10.0.0.2")});
  // Cut inside the second document, so a premature read would see one pod, or a broken one.
  size_t cut = text.find("second") + 3;
  int reports = f.sink().rejection_reports;

  UniqueFd fd(::open(f.path("half.yaml").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  REQUIRE(fd);
  REQUIRE(::write(fd.get(), text.data(), cut) == static_cast<ssize_t>(cut));
  f.run_for(kDebounce * 10);  // well past the debounce: a reload would have happened by now
  CHECK(f.sink().batches.empty());
  CHECK(f.sink().rejection_reports == reports);  // not even a reload

  auto events = f.change(
      [&] {
        REQUIRE(::write(fd.get(), text.data() + cut, text.size() - cut) == static_cast<ssize_t>(text.size() - cut));
        fd.reset();  // close: IN_CLOSE_WRITE
      },
      "close of the half-written file");
  CHECK(events == V{"add Pod default/first", "add Pod default/second"});
  CHECK(f.sink().rejections.empty());
}

TEST_CASE("a YAML syntax error keeps the file's previous objects and names file and line") {
  Fixture f;
  f.write("apps.yaml", docs({pod("a", "10.0.0.1"), pod("b", "10.0.0.2")}));
  f.write("other.yaml", pod("c", "10.0.0.3"));
  f.start();

  // Line 4 opens a flow sequence that never closes.
  const char* broken =
      "apiVersion: v1\n"
      "kind: Pod\n"
      "metadata:\n"
      "  name: [a\n"
      "  namespace: default\n";
  auto events = f.change([&] { f.write("apps.yaml", broken); }, "broken file");
  CHECK(events.empty());  // nothing deleted, nothing changed
  REQUIRE_MESSAGE(f.sink().rejections.size() == 1, rejections_text(f.sink().rejections));
  const Rejection& r = f.sink().rejections[0];
  CHECK(r.source == "apps.yaml");
  CHECK(r.kind.empty());  // a whole-file rejection names no object
  CHECK_MESSAGE(r.reason.find("apps.yaml") != std::string::npos, r.reason);
  CHECK_MESSAGE(r.reason.find("syntax error") != std::string::npos, r.reason);
  CHECK_MESSAGE(r.reason.find("line ") != std::string::npos, r.reason);
  CHECK_MESSAGE(r.reason.find("previous version kept") != std::string::npos, r.reason);

  // Other files still apply while this one is broken.
  CHECK(f.change([&] { f.write("other.yaml", pod("c", "10.0.0.30")); }, "neighbour edit") ==
        V{"update Pod default/c"});
  REQUIRE(f.sink().rejections.size() == 1);  // still reported

  // Fixing the file applies the difference against what was kept, and clears the rejection.
  CHECK(f.change([&] { f.write("apps.yaml", docs({pod("a", "10.0.0.1"), pod("d", "10.0.0.4")})); }, "fix") ==
        V{"add Pod default/d", "delete Pod default/b"});
  CHECK(f.sink().rejections.empty());
}

TEST_CASE("a syntax error names the line it is on") {
  Fixture f;
  f.start();
  // A new file whose second document has a mapping value where none may be ("name: b: c").
  std::string text = pod("a", "10.0.0.1") + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b: c\n";
  int line = 1;
  for (char c : text.substr(0, text.find("name: b: c"))) line += c == '\n';
  CHECK(f.change([&] { f.write("new.yaml", text); }, "broken new file").empty());
  REQUIRE_MESSAGE(f.sink().rejections.size() == 1, rejections_text(f.sink().rejections));
  const Rejection& r = f.sink().rejections[0];
  CHECK(r.source == "new.yaml");
  CHECK_MESSAGE(r.reason.find(str_cat("line ", line, ",")) != std::string::npos, r.reason, " (want line ", line, ")");
  // The valid first document is not applied either: the file is refused as a whole.
  CHECK(f.sink().batches.empty());
  CHECK(r.reason.find("previous version kept") == std::string::npos);  // there was none
}

TEST_CASE("an invalid object keeps its previous valid version while neighbours update") {
  Fixture f;
  f.write("svc.yaml", docs({service("alpha", "80"), service("beta", "80"), service("gamma", "80")}));
  f.start();

  // alpha becomes invalid (port out of range), beta changes, gamma is untouched.
  auto events = f.change(
      [&] { f.write("svc.yaml", docs({service("alpha", "70000"), service("beta", "81"), service("gamma", "80")})); },
      "edit with an invalid object");
  CHECK(events == V{"update Service default/beta"});
  REQUIRE_MESSAGE(f.sink().rejections.size() == 1, rejections_text(f.sink().rejections));
  const Rejection& r = f.sink().rejections[0];
  CHECK(r.source == "svc.yaml#1");
  CHECK(r.kind == "Service");
  CHECK(r.ns == "default");
  CHECK(r.name == "alpha");
  CHECK_MESSAGE(r.reason.find("spec.ports[0].port") != std::string::npos, r.reason);
  CHECK_MESSAGE(r.reason.find("previous version kept") != std::string::npos, r.reason);
  CHECK_MESSAGE(r.to_string().find("Service default/alpha") != std::string::npos, r.to_string());

  // The kept version is still what a later change is compared with: fixing alpha to its old
  // content is not a change at all, and clears the rejection.
  CHECK(f.change([&] { f.write("svc.yaml", docs({service("alpha", "80"), service("beta", "81"), service("gamma", "80")})); },
                 "restore")
            .empty());
  CHECK(f.sink().rejections.empty());

  // An object that was never valid is rejected without a kept version and never added.
  CHECK(f.change([&] {
          f.write("svc.yaml",
                  docs({service("alpha", "80"), service("beta", "81"), service("gamma", "80"), service("delta", "0")}));
        },
                 "new invalid object")
            .empty());
  REQUIRE(f.sink().rejections.size() == 1);
  CHECK(f.sink().rejections[0].name == "delta");
  CHECK(f.sink().rejections[0].reason.find("previous version kept") == std::string::npos);
}

TEST_CASE("a policy edited to carry an unknown field is rejected naming it, its last good version stays") {
  Fixture f;
  auto policy = [](const std::string& source) {
    return str_cat("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-bad, namespace: demo}\n",
                   "spec:\n  action: DENY\n  rules: [{from: [{source: {", source, "}}]}]\n");
  };
  f.write("policy.yaml", policy("namespaces: [bad]"));
  f.start();
  REQUIRE(f.sink().rejections.empty());

  // Without the check this edit would be an update to a rule with an empty source, which denies
  // every caller instead of the one trust domain written.
  CHECK(f.change([&] { f.write("policy.yaml", policy("trustDomains: [evil.example]")); }, "unknown field").empty());
  REQUIRE_MESSAGE(f.sink().rejections.size() == 1, rejections_text(f.sink().rejections));
  const Rejection& r = f.sink().rejections[0];
  CHECK(r.kind == "AuthorizationPolicy");
  CHECK(r.name == "deny-bad");
  CHECK_MESSAGE(r.reason.find("spec.rules[0].from[0].source.trustDomains: unknown field") != std::string::npos, r.reason);
  CHECK_MESSAGE(r.reason.find("previous version kept") != std::string::npos, r.reason);

  // Fixing the typo back is no change at all: the kept version was in force throughout.
  CHECK(f.change([&] { f.write("policy.yaml", policy("namespaces: [bad]")); }, "restore").empty());
  CHECK(f.sink().rejections.empty());
}

TEST_CASE("the same object in two files is rejected where it appears second, naming both places") {
  Fixture f;
  f.write("a.yaml", pod("dup", "10.0.0.1"));
  f.start();

  auto events = f.change([&] { f.write("b.yaml", docs({pod("other", "10.0.0.5"), pod("dup", "10.0.0.2")})); },
                         "duplicate");
  CHECK(events == V{"add Pod default/other"});  // a.yaml's dup stays in force unchanged
  REQUIRE_MESSAGE(f.sink().rejections.size() == 1, rejections_text(f.sink().rejections));
  const Rejection& r = f.sink().rejections[0];
  CHECK(r.source == "b.yaml#2");
  CHECK(r.kind == "Pod");
  CHECK(r.ns == "default");
  CHECK(r.name == "dup");
  CHECK_MESSAGE(r.reason.find("duplicate") != std::string::npos, r.reason);
  CHECK_MESSAGE(r.reason.find("a.yaml#1") != std::string::npos, r.reason);

  // Within one file as well.
  f.change([&] { f.write("c.yaml", docs({pod("twice", "10.0.0.7"), pod("twice", "10.0.0.8")})); }, "dup in one file");
  bool found = false;
  for (const auto& rj : f.sink().rejections) {
    if (rj.name == "twice") {
      found = true;
      CHECK(rj.source == "c.yaml#2");
      CHECK_MESSAGE(rj.reason.find("c.yaml#1") != std::string::npos, rj.reason);
    }
  }
  CHECK_MESSAGE(found, rejections_text(f.sink().rejections));

  // Removing the first definition lets the second take over (an update: the content differs).
  CHECK(f.change([&] { f.remove("a.yaml"); }, "remove a.yaml") == V{"update Pod default/dup"});
  for (const auto& rj : f.sink().rejections) CHECK(rj.name != "dup");
}

TEST_CASE("deleting a file deletes its objects (events carry the last version)") {
  Fixture f;
  f.write("keep.yaml", pod("keep", "10.0.0.1"));
  f.write("gone.yaml", docs({pod("x", "10.0.0.2"), service("x", "80")}));
  f.start();

  CHECK(f.change([&] { f.remove("gone.yaml"); }, "delete") == V{"delete Pod default/x", "delete Service default/x"});
  for (const auto& e : f.sink().batches.back()) {
    if (e.obj->kind == Kind::kPod) CHECK(e.obj->as<Pod>().ips == V{"10.0.0.2"});
  }
  // Moving a file out of the directory is a deletion too (IN_MOVED_FROM).
  REQUIRE(::rename(f.path("keep.yaml").c_str(), str_cat(f.dir(), "/../keep.yaml.moved").c_str()) == 0);
  f.wait_reload("move out");
  CHECK(describe(f.sink().batches.back()) == V{"delete Pod default/keep"});
}

TEST_CASE("editor temp files are ignored while live") {
  Fixture f;
  f.write("apps.yaml", pod("a", "10.0.0.1"));
  f.start();
  int reports = f.sink().rejection_reports;

  // Each of these would add a pod if it were read.
  Fixture::write_plain(f.path(".apps.yaml.swp"), pod("swap", "10.0.0.9"));
  Fixture::write_plain(f.path("apps.yaml~"), pod("backup", "10.0.0.9"));
  Fixture::write_plain(f.path(".hidden.yaml"), pod("hidden", "10.0.0.9"));
  Fixture::write_plain(f.path("4913"), pod("vim-probe", "10.0.0.9"));  // vim's write test file
  f.run_for(kDebounce * 10);
  CHECK(f.sink().batches.empty());
  CHECK(f.sink().rejection_reports == reports);

  // A real change right after is applied alone.
  CHECK(f.change([&] { f.write("apps.yaml", pod("a", "10.0.0.11")); }, "real edit") == V{"update Pod default/a"});
  // And the junk removed again is not a change either.
  f.remove(".apps.yaml.swp");
  f.remove("apps.yaml~");
  f.remove(".hidden.yaml");
  f.run_for(kDebounce * 10);
  CHECK(f.sink().batches.size() == 1);
}
