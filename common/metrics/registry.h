// Metrics: counters, gauges and histograms with labels, exposed in the Prometheus text format
// (version 0.0.4). Metrics are declared once, in code, with Istio's names where Istio has one.
//
//   metrics::Registry reg;
//   auto& opened = reg.counter("istio_tcp_connections_opened_total",
//                              "Connections opened", {"reporter", "source_workload"});
//   Counter& c = opened.with({"destination", "client"});  // cache this on the hot path
//   c.inc();
//   reg.gauge_fn("process_resident_memory_bytes", "RSS", [] { return rss(); });
//   std::string text = reg.expose();
//
// Updates are lock-free atomics; a mutex guards only the creation of a new label combination.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace ambit::metrics {

using LabelValues = std::vector<std::string>;

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void add(double d) { v_.fetch_add(d, std::memory_order_relaxed); }
  void inc() { add(1); }
  void dec() { add(-1); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void observe(double v);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  // Non-cumulative count in bucket i (bounds()->size() is the +Inf bucket).
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return *bounds_; }

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

enum class Type { kCounter, kGauge, kHistogram };

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names, Type type)
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(label_names)), type_(type) {}
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return labels_; }
  Type type() const { return type_; }
  virtual void expose(std::string* out) const = 0;

 protected:
  std::string name_;
  std::string help_;
  std::vector<std::string> labels_;
  Type type_;
};

template <typename T>
class Family : public FamilyBase {
 public:
  using FamilyBase::FamilyBase;
  std::vector<double> bounds;  // histograms only

  // The child for these label values (created on first use). The number of values must equal
  // the number of label names; a mismatch is a programming error and aborts in every build.
  T& with(const LabelValues& values);
  T& with(std::initializer_list<std::string_view> values) {
    return with(LabelValues(values.begin(), values.end()));
  }
  void remove(const LabelValues& values);
  void expose(std::string* out) const override;

 private:
  mutable std::mutex mu_;
  std::map<LabelValues, std::unique_ptr<T>> children_;
};

// Default histogram bounds (seconds), as Prometheus client libraries use.
std::vector<double> default_buckets();
// Exponential bounds: start, start*factor, ... (count bounds).
std::vector<double> exponential_buckets(double start, double factor, int count);

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Re-declaring a family with the same name, type and labels returns the existing one;
  // any difference aborts (two definitions of one metric would expose garbage).
  Family<Counter>& counter(std::string name, std::string help, std::vector<std::string> labels = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> labels = {});
  Family<Histogram>& histogram(std::string name, std::string help,
                               std::vector<std::string> labels = {},
                               std::vector<double> bounds = default_buckets());
  // A gauge read at scrape time (BPF counters, RSS, map usage).
  void gauge_fn(std::string name, std::string help, std::function<double()> fn);
  // A labelled collector run at scrape time: fn returns (label values, value) rows.
  using Rows = std::vector<std::pair<LabelValues, double>>;
  void collector(std::string name, std::string help, Type type, std::vector<std::string> labels,
                 std::function<Rows()> fn);

  std::string expose() const;

 private:
  FamilyBase* find_or_check(const std::string& name, Type type, const std::vector<std::string>& labels);
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>> families_;
};

// Validates a metric or label name ([a-zA-Z_:][a-zA-Z0-9_:]* / [a-zA-Z_][a-zA-Z0-9_]*).
bool valid_metric_name(std::string_view s);
bool valid_label_name(std::string_view s);
// Escapes a label value for the text format (backslash, double quote, newline).
std::string escape_label_value(std::string_view v);

}  // namespace ambit::metrics
