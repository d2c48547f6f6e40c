#include "common/base/strings.h"
#include "common/metrics/registry.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>


namespace ambit::metrics {
namespace {

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "ambit metrics: %s\n", msg.c_str());
  std::abort();
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return str_cat(static_cast<int64_t>(v));
  // Shortest form that reads back exactly (0.1, not 0.10000000000000001).
  char buf[64];
  for (int prec = 6; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

void append_labels(std::string* out, const std::vector<std::string>& names, const LabelValues& values,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out->push_back('{');
  bool first = true;
  for (size_t i = 0; i < names.size(); ++i) {
    if (!first) out->push_back(',');
    first = false;
    str_append(out, names[i], "=\"", escape_label_value(values[i]), "\"");
  }
  if (!extra_name.empty()) {
    if (!first) out->push_back(',');
    str_append(out, extra_name, "=\"", extra_value, "\"");
  }
  out->push_back('}');
}

const char* type_name(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

std::string escape_help(std::string_view h) {
  std::string out;
  for (char c : h) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

void append_header(std::string* out, const FamilyBase& f) {
  str_append(out, "# HELP ", f.name(), " ", escape_help(f.help()), "\n# TYPE ", f.name(), " ",
                  type_name(f.type()), "\n");
}

class CallbackFamily : public FamilyBase {
 public:
  CallbackFamily(std::string name, std::string help, Type type, std::vector<std::string> labels,
                 std::function<Registry::Rows()> fn)
      : FamilyBase(std::move(name), std::move(help), std::move(labels), type), fn_(std::move(fn)) {}
  void expose(std::string* out) const override {
    Registry::Rows rows = fn_();
    append_header(out, *this);
    for (const auto& [values, v] : rows) {
      if (values.size() != labels_.size()) continue;  // a collector bug must not break scraping
      out->append(name_);
      append_labels(out, labels_, values);
      str_append(out, " ", format_value(v), "\n");
    }
  }

 private:
  std::function<Registry::Rows()> fn_;
};

}  // namespace

bool valid_metric_name(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(std::string_view s) {
  if (s.empty() || s.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds->size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_->size() && v > (*bounds_)[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

template <typename T>
T& Family<T>::with(const LabelValues& values) {
  if (values.size() != labels_.size()) {
    die(str_cat(name_, ": ", values.size(), " label values for ", labels_.size(), " labels"));
  }
  std::lock_guard lock(mu_);
  auto it = children_.find(values);
  if (it != children_.end()) return *it->second;
  std::unique_ptr<T> child;
  if constexpr (std::is_same_v<T, Histogram>) {
    child = std::make_unique<Histogram>(&bounds);
  } else {
    child = std::make_unique<T>();
  }
  return *children_.emplace(values, std::move(child)).first->second;
}

template <typename T>
void Family<T>::remove(const LabelValues& values) {
  std::lock_guard lock(mu_);
  children_.erase(values);
}

template <>
void Family<Counter>::expose(std::string* out) const {
  append_header(out, *this);
  std::lock_guard lock(mu_);
  for (const auto& [values, c] : children_) {
    out->append(name_);
    append_labels(out, labels_, values);
    str_append(out, " ", c->value(), "\n");
  }
}

template <>
void Family<Gauge>::expose(std::string* out) const {
  append_header(out, *this);
  std::lock_guard lock(mu_);
  for (const auto& [values, g] : children_) {
    out->append(name_);
    append_labels(out, labels_, values);
    str_append(out, " ", format_value(g->value()), "\n");
  }
}

template <>
void Family<Histogram>::expose(std::string* out) const {
  append_header(out, *this);
  std::lock_guard lock(mu_);
  for (const auto& [values, h] : children_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds.size(); ++i) {
      cumulative += h->bucket(i);
      str_append(out, name_, "_bucket");
      append_labels(out, labels_, values, "le", i < bounds.size() ? format_value(bounds[i]) : "+Inf");
      str_append(out, " ", cumulative, "\n");
    }
    str_append(out, name_, "_sum");
    append_labels(out, labels_, values);
    str_append(out, " ", format_value(h->sum()), "\n");
    str_append(out, name_, "_count");
    append_labels(out, labels_, values);
    str_append(out, " ", h->count(), "\n");
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

std::vector<double> default_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  std::vector<double> out;
  for (int i = 0; i < count; ++i, start *= factor) out.push_back(start);
  return out;
}

FamilyBase* Registry::find_or_check(const std::string& name, Type type,
                                    const std::vector<std::string>& labels) {
  if (!valid_metric_name(name)) die(str_cat("invalid metric name '", name, "'"));
  for (const auto& l : labels) {
    if (!valid_label_name(l)) die(str_cat(name, ": invalid label name '", l, "'"));
  }
  auto it = families_.find(name);
  if (it == families_.end()) return nullptr;
  if (it->second->type() != type || it->second->label_names() != labels) {
    die(str_cat("metric '", name, "' declared twice with different type or labels"));
  }
  return it->second.get();
}

Family<Counter>& Registry::counter(std::string name, std::string help, std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  if (auto* f = find_or_check(name, Type::kCounter, labels)) return *static_cast<Family<Counter>*>(f);
  auto f = std::make_unique<Family<Counter>>(name, std::move(help), std::move(labels), Type::kCounter);
  auto& ref = *f;
  families_.emplace(std::move(name), std::move(f));
  return ref;
}

Family<Gauge>& Registry::gauge(std::string name, std::string help, std::vector<std::string> labels) {
  std::lock_guard lock(mu_);
  if (auto* f = find_or_check(name, Type::kGauge, labels)) return *static_cast<Family<Gauge>*>(f);
  auto f = std::make_unique<Family<Gauge>>(name, std::move(help), std::move(labels), Type::kGauge);
  auto& ref = *f;
  families_.emplace(std::move(name), std::move(f));
  return ref;
}

Family<Histogram>& Registry::histogram(std::string name, std::string help,
                                       std::vector<std::string> labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  if (auto* f = find_or_check(name, Type::kHistogram, labels)) return *static_cast<Family<Histogram>*>(f);
  for (size_t i = 1; i < bounds.size(); ++i) {
    if (!(bounds[i] > bounds[i - 1])) die(str_cat(name, ": histogram bounds not increasing"));
  }
  auto f = std::make_unique<Family<Histogram>>(name, std::move(help), std::move(labels), Type::kHistogram);
  f->bounds = std::move(bounds);
  auto& ref = *f;
  families_.emplace(std::move(name), std::move(f));
  return ref;
}

void Registry::gauge_fn(std::string name, std::string help, std::function<double()> fn) {
  collector(std::move(name), std::move(help), Type::kGauge, {},
            [fn = std::move(fn)] { return Rows{{LabelValues{}, fn()}}; });
}

void Registry::collector(std::string name, std::string help, Type type,
                         std::vector<std::string> labels, std::function<Rows()> fn) {
  std::lock_guard lock(mu_);
  if (find_or_check(name, type, labels)) die(str_cat("collector '", name, "' declared twice"));
  families_.emplace(name, std::make_unique<CallbackFamily>(name, std::move(help), type,
                                                           std::move(labels), std::move(fn)));
}

std::string Registry::expose() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& [_, f] : families_) f->expose(&out);
  return out;
}

}  // namespace ambit::metrics
