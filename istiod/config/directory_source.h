// Local mode's configuration source: a directory of multi-document YAML files, watched with
// inotify and applied live.
//
// Guarantees:
//  - A file is read only after its writer closed it (IN_CLOSE_WRITE) or renamed it into place
//    (IN_MOVED_TO), so a half-written file never takes effect. Editor temp files (dotfiles,
//    *~, *.swp, *.tmp) are ignored.
//  - A file with a YAML syntax error is refused as a whole; its previous objects stay in force.
//  - An invalid object is rejected on its own; if the file held a valid version of the same
//    object before, that version stays in force.
//  - The same object defined twice (in one file or two) is rejected where it appears second
//    (files in name order), with both places named.
// Only changed objects (by content fingerprint) are reported to the sink.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/base/unique_fd.h"
#include "istiod/config/source.h"

namespace ambit::istiod {

class DirectorySource : public ConfigSource {
 public:
  DirectorySource(boost::asio::io_context& io, std::string dir, ConfigSink* sink,
                  std::chrono::milliseconds debounce = std::chrono::milliseconds(50));
  ~DirectorySource() override;

  std::string name() const override { return "directory " + dir_; }
  absl::Status start() override;
  bool ready() const override { return ready_; }
  void stop();

  // Re-reads the named files now (tests; the watcher calls it after debouncing).
  void reload(const std::set<std::string>& files);
  static bool relevant_file(const std::string& name);

 private:
  struct FileState {
    std::map<ObjectKey, ObjectPtr> objects;
    std::vector<Rejection> rejections;
  };
  // Re-reads one file; adds the keys it defined before and after to `affected`.
  void apply_file(const std::string& name, std::set<ObjectKey>* affected);
  // Recomputes the winning object of each key (first file by name) and the events against view_.
  void update_keys(const std::set<ObjectKey>& keys, std::vector<ConfigEvent>* events);
  std::vector<Rejection> rejections() const;
  void read_events();
  void schedule();

  boost::asio::io_context& io_;
  std::string dir_;
  ConfigSink* sink_;
  std::chrono::milliseconds debounce_;
  UniqueFd inotify_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> stream_;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  std::set<std::string> pending_;
  char buf_[16 * 1024];
  std::map<std::string, FileState> files_;
  std::map<ObjectKey, ObjectPtr> view_;  // what the sink has been given
  // Incremental bookkeeping, so one changed file costs work proportional to that file, not to
  // the whole directory: which files define each key, and duplicate rejections per key.
  std::map<ObjectKey, std::set<std::string>> owners_;
  std::map<ObjectKey, std::vector<Rejection>> duplicates_;
  std::set<std::string> rejecting_files_;
  bool ready_ = false;
};

}  // namespace ambit::istiod
