#include "ztunnel/proxy/workers.h"

#include <boost/asio/executor_work_guard.hpp>
#include <thread>

#include "common/hbone/pool.h"

namespace ambit::ztunnel {

Workers::Workers(size_t n) {
  for (size_t i = 0; i < std::max<size_t>(n, 1); ++i) workers_.push_back(std::make_unique<Worker>());
}

Workers::~Workers() { stop(); }

void Workers::start() {
  for (auto& w : workers_) {
    threads_.emplace_back([io = &w->io] {
      auto guard = boost::asio::make_work_guard(*io);
      io->run();
    });
  }
}

void Workers::stop() {
  for (auto& w : workers_) w->io.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

Worker& Workers::next() { return *workers_[next_.fetch_add(1) % workers_.size()]; }

}  // namespace ambit::ztunnel
