#include "istiod/config/directory_source.h"

#include <dirent.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <functional>

#include "common/base/log.h"
#include "common/base/status.h"
#include "common/base/strings.h"
#include "common/crypto/certificate.h"

namespace ambit::istiod {
namespace {

spdlog::logger& lg() { return log::scope("config"); }

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

std::optional<Kind> kind_from_name(const std::string& k) {
  for (Kind kind : kAllKinds) {
    if (k == kind_name(kind)) return kind;
  }
  return std::nullopt;
}

}  // namespace

DirectorySource::DirectorySource(boost::asio::io_context& io, std::string dir, ConfigSink* sink,
                                 std::chrono::milliseconds debounce)
    : io_(io), dir_(std::move(dir)), sink_(sink), debounce_(debounce), timer_(io) {}

DirectorySource::~DirectorySource() { stop(); }

void DirectorySource::stop() {
  timer_.cancel();
  if (stream_) {
    boost::system::error_code ec;
    stream_->cancel(ec);
    stream_->close(ec);  // closes the inotify fd
    stream_.reset();
    inotify_.release();
  }
}

bool DirectorySource::relevant_file(const std::string& name) {
  if (name.empty() || name[0] == '.' || ends_with(name, "~") || ends_with(name, ".swp") ||
      ends_with(name, ".tmp")) {
    return false;
  }
  return ends_with(name, ".yaml") || ends_with(name, ".yml") || ends_with(name, ".json");
}

absl::Status DirectorySource::start() {
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(str_cat("config directory ", dir_, " does not exist"));
  }
  inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify_) return errno_error(errno, "inotify_init1");
  if (::inotify_add_watch(inotify_.get(), dir_.c_str(),
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE) < 0) {
    return errno_error(errno, "inotify_add_watch ", dir_);
  }
  stream_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, inotify_.get());

  // Initial scan, delivered as one resync.
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir_.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (relevant_file(e->d_name)) names.push_back(e->d_name);
    }
    ::closedir(d);
  }
  std::set<ObjectKey> keys;
  for (const auto& n : names) apply_file(n, &keys);
  std::vector<ConfigEvent> ignored;
  update_keys(keys, &ignored);  // fills view_
  std::vector<Rejection> rejections = this->rejections();
  std::vector<ObjectPtr> all;
  for (const auto& [_, o] : view_) all.push_back(o);
  lg().info("loaded {} objects from {} files in {} ({} rejected)", all.size(), names.size(), dir_,
            rejections.size());
  for (const auto& r : rejections) lg().warn("rejected: {}", r.to_string());
  sink_->on_resync(all);
  sink_->on_rejections(rejections);
  ready_ = true;
  read_events();
  return absl::OkStatus();
}

void DirectorySource::read_events() {
  if (!stream_) return;
  stream_->async_read_some(boost::asio::buffer(buf_), [this](boost::system::error_code ec, size_t n) {
    if (ec) {
      if (ec != boost::asio::error::operation_aborted) lg().error("inotify read on {}: {}", dir_, ec.message());
      return;
    }
    for (size_t off = 0; off < n;) {
      auto* ev = reinterpret_cast<const inotify_event*>(buf_ + off);
      if (ev->len > 0) {
        std::string name(ev->name);
        if (relevant_file(name)) pending_.insert(name);
      }
      if (ev->mask & IN_Q_OVERFLOW) {
        // Lost events: re-read everything we know plus whatever is there now.
        for (const auto& [f, _] : files_) pending_.insert(f);
        if (DIR* d = ::opendir(dir_.c_str())) {
          while (dirent* e = ::readdir(d)) {
            if (relevant_file(e->d_name)) pending_.insert(e->d_name);
          }
          ::closedir(d);
        }
      }
      off += sizeof(inotify_event) + ev->len;
    }
    if (!pending_.empty()) schedule();
    read_events();
  });
}

void DirectorySource::schedule() {
  if (timer_armed_) return;  // coalesce a burst of writes into one reload
  timer_armed_ = true;
  timer_.expires_after(debounce_);
  timer_.async_wait([this](boost::system::error_code ec) {
    timer_armed_ = false;
    if (ec) return;
    std::set<std::string> files;
    files.swap(pending_);
    reload(files);
  });
}

void DirectorySource::apply_file(const std::string& name, std::set<ObjectKey>* affected) {
  std::string path = str_cat(dir_, "/", name);
  // Forget what the file defined; re-register what it defines now (at the end).
  if (auto old = files_.find(name); old != files_.end()) {
    for (const auto& [key, _] : old->second.objects) {
      affected->insert(key);
      auto o = owners_.find(key);
      if (o != owners_.end()) {
        o->second.erase(name);
        if (o->second.empty()) owners_.erase(o);
      }
    }
  }
  auto reregister = [&] {
    auto it = files_.find(name);
    if (it == files_.end()) {
      rejecting_files_.erase(name);
      return;
    }
    for (const auto& [key, _] : it->second.objects) {
      affected->insert(key);
      owners_[key].insert(name);
    }
    if (it->second.rejections.empty()) rejecting_files_.erase(name);
    else rejecting_files_.insert(name);
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    files_.erase(name);
    reregister();
    return;
  }
  struct Done {
    std::function<void()> fn;
    ~Done() { fn(); }
  } done{reregister};
  auto text = crypto::read_file(path);
  FileState& fs = files_[name];
  if (!text.ok()) {
    fs.rejections = {Rejection{name, "", "", "", std::string(text.status().message())}};
    return;
  }
  auto parsed = parse_yaml(*text, name);
  if (!parsed.ok()) {
    // The whole file is refused; what it held before stays in force.
    fs.rejections = {Rejection{name, "", "", "", str_cat(parsed.status().message(),
                                                         fs.objects.empty() ? "" : " (previous version kept)")}};
    return;
  }
  for (const auto& n : parsed->notices) lg().info("{}", n);
  FileState next;
  for (auto& obj : parsed->objects) {
    ObjectKey key = obj->key();
    auto [it, inserted] = next.objects.emplace(key, obj);
    if (!inserted) {
      next.rejections.push_back(Rejection{obj->source, kind_name(key.kind), key.ns, key.name,
                                          str_cat("duplicate: already defined at ", it->second->source)});
    }
  }
  for (auto& rej : parsed->rejections) {
    auto kind = kind_from_name(rej.kind);
    if (kind && !rej.name.empty()) {
      ObjectKey key{*kind, rej.ns.empty() && kind_is_namespaced(*kind) ? "default" : rej.ns, rej.name};
      auto prev = fs.objects.find(key);
      if (prev != fs.objects.end() && !next.objects.count(key)) {
        next.objects.emplace(key, prev->second);
        rej.reason += " (previous version kept)";
      }
    }
    next.rejections.push_back(std::move(rej));
  }
  fs = std::move(next);
}

void DirectorySource::update_keys(const std::set<ObjectKey>& keys, std::vector<ConfigEvent>* events) {
  for (const ObjectKey& key : keys) {
    duplicates_.erase(key);
    ObjectPtr winner;
    auto o = owners_.find(key);
    if (o != owners_.end()) {
      for (const auto& file : o->second) {  // std::set: file name order
        const ObjectPtr& obj = files_.at(file).objects.at(key);
        if (!winner) {
          winner = obj;
        } else {
          duplicates_[key].push_back(Rejection{obj->source, kind_name(key.kind), key.ns, key.name,
                                               str_cat("duplicate: already defined at ", winner->source)});
        }
      }
    }
    auto v = view_.find(key);
    if (winner) {
      if (v == view_.end()) {
        events->push_back({EventType::kAdd, winner});
        view_.emplace(key, winner);
      } else if (v->second->fingerprint != winner->fingerprint) {
        events->push_back({EventType::kUpdate, winner});
        v->second = winner;
      } else {
        v->second = winner;  // same content, maybe another file now
      }
    } else if (v != view_.end()) {
      events->push_back({EventType::kDelete, v->second});
      view_.erase(v);
    }
  }
}

std::vector<Rejection> DirectorySource::rejections() const {
  std::vector<Rejection> out;
  for (const auto& f : rejecting_files_) {
    auto it = files_.find(f);
    if (it != files_.end()) out.insert(out.end(), it->second.rejections.begin(), it->second.rejections.end());
  }
  for (const auto& [_, d] : duplicates_) out.insert(out.end(), d.begin(), d.end());
  return out;
}

void DirectorySource::reload(const std::set<std::string>& files) {
  std::set<ObjectKey> affected;
  for (const auto& f : files) apply_file(f, &affected);
  std::vector<ConfigEvent> events;
  update_keys(affected, &events);
  std::vector<Rejection> rejections = this->rejections();
  for (const auto& r : rejections) lg().warn("rejected: {}", r.to_string());
  if (!events.empty()) {
    lg().info("{}: {} changes from {}", dir_, events.size(), join(std::vector<std::string>(files.begin(), files.end()), ", "));
    sink_->on_events(events);
  }
  sink_->on_rejections(rejections);
}

}  // namespace ambit::istiod
