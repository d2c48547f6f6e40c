// ztunnel's data-path threads: one io_context per worker, each owning its HBONE client pool, so a
// connection lives on one thread from accept to close and nothing on the data path takes a lock
// to reach it. Pod listeners hand accepted sockets to workers round-robin.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <thread>
#include <vector>

namespace ambit::hbone {
class Pool;
}  // namespace ambit::hbone

namespace ambit::ztunnel {

struct Worker {
  boost::asio::io_context io{1};
  std::unique_ptr<hbone::Pool> pool;  // HBONE client pool, owned by this worker (no cross-thread locks)
};

class Workers {
 public:
  explicit Workers(size_t n);
  ~Workers();
  void start();
  void stop();
  Worker& next();  // round-robin
  Worker& at(size_t i) { return *workers_[i]; }
  size_t size() const { return workers_.size(); }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace ambit::ztunnel
