#include "hermes/observability/metrics.hpp"

#include "hermes/core/throttle.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace hermes::observability {
namespace {

void atomic_add(std::atomic<double>& target, double delta) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

void write_labels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
                  const std::string& extra_name = {}, const std::string& extra_value = {}) {
  if (names.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += names[i] + "=\"" + escape_label_value(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name + "=\"" + extra_value + "\"";
  }
  out += '}';
}

template <class Family>
Family& add_family(std::mutex& mutex, std::vector<std::unique_ptr<Family>>& list, std::unique_ptr<Family> family) {
  std::lock_guard lock(mutex);
  for (auto& f : list) {
    if (f->name() == family->name()) {
      return *f;  // registering twice (a rebuilt component) reuses the series
    }
  }
  list.push_back(std::move(family));
  return *list.back();
}

}  // namespace

void Gauge::add(double d) { atomic_add(value_, d); }

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  std::size_t i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  atomic_add(sum_, v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  s.count = running;
  return s;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                               0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10,
                                               30,     60};
  return kBuckets;
}

template <class Metric>
Metric& Family<Metric>::with(std::initializer_list<std::string_view> values) {
  if (values.size() != labels_.size()) {
    throw std::logic_error("metric " + name_ + ": wrong number of label values");
  }
  // Most calls on a hot path repeat the previous labels: compare with the last series
  // found before taking the lock and walking the map. Series are never removed, so the
  // pointer stays valid.
  if (const auto* last = last_.load(std::memory_order_acquire); last && same_labels(last->first, values)) {
    return *last->second;
  }
  std::lock_guard lock(mutex_);
  auto it = series_.find(values);
  if (it == series_.end()) {
    std::unique_ptr<Metric> m;
    if constexpr (std::is_same_v<Metric, Histogram>) {
      m = std::make_unique<Histogram>(bounds_);
    } else {
      m = std::make_unique<Metric>();
    }
    it = series_.emplace(std::vector<std::string>(values.begin(), values.end()), std::move(m)).first;
  }
  last_.store(&*it, std::memory_order_release);
  return *it->second;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

CounterFamily& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                        std::vector<std::string> labels) {
  return add_family(mutex_, counters_, std::make_unique<CounterFamily>(name, help, std::move(labels)));
}

GaugeFamily& MetricsRegistry::gauge(const std::string& name, const std::string& help, std::vector<std::string> labels) {
  return add_family(mutex_, gauges_, std::make_unique<GaugeFamily>(name, help, std::move(labels)));
}

HistogramFamily& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                            std::vector<std::string> labels, std::vector<double> bounds) {
  return add_family(mutex_, histograms_,
                    std::make_unique<HistogramFamily>(name, help, std::move(labels), std::move(bounds)));
}

struct ReportFailure::Shared {
  Counter* counter;
  std::string where;
  EventThrottle log_lines{1, 1};  // one line a second at most, with the count it held back
};

ReportFailure::ReportFailure(MetricsRegistry& metrics, std::string where)
    : shared_(std::make_shared<Shared>()) {
  shared_->counter = &metrics
                          .counter("hermes_internal_errors_total",
                                   "Exceptions caught where they would have ended a connection, a delivery or the "
                                   "event loop (a bug: please report it), by where.",
                                   {"where"})
                          .with({where});
  shared_->where = std::move(where);
}

void ReportFailure::operator()(std::exception_ptr failure) const {
  if (!failure) return;
  shared_->counter->inc();
  std::uint64_t skipped = 0;
  if (!shared_->log_lines.allow(skipped)) return;
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  spdlog::error("{}: failed: {}{}", shared_->where, what,
                skipped ? fmt::format(" ({} more not logged)", skipped) : std::string());
}

void MetricsRegistry::add_collector(std::function<void(std::string&)> collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::render() const {
  std::string out;
  out.reserve(8192);
  std::lock_guard lock(mutex_);
  for (const auto& f : counters_) {
    write_metric_header(out, f->name(), f->help(), MetricType::counter);
    f->for_each([&](const std::vector<std::string>& values, const Counter& c) {
      write_sample(out, f->name(), f->label_names(), values, static_cast<double>(c.value()));
    });
  }
  for (const auto& f : gauges_) {
    write_metric_header(out, f->name(), f->help(), MetricType::gauge);
    f->for_each([&](const std::vector<std::string>& values, const Gauge& g) {
      write_sample(out, f->name(), f->label_names(), values, g.value());
    });
  }
  for (const auto& f : histograms_) {
    write_metric_header(out, f->name(), f->help(), MetricType::histogram);
    f->for_each([&](const std::vector<std::string>& values, const Histogram& h) {
      auto snap = h.snapshot();
      for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
        std::string le = i < h.bounds().size() ? format_number(h.bounds()[i]) : "+Inf";
        out += f->name() + "_bucket";
        write_labels(out, f->label_names(), values, "le", le);
        out += ' ' + std::to_string(snap.cumulative[i]) + '\n';
      }
      write_sample(out, f->name() + "_sum", f->label_names(), values, snap.sum);
      write_sample(out, f->name() + "_count", f->label_names(), values, static_cast<double>(snap.count));
    });
  }
  for (const auto& c : collectors_) c(out);
  return out;
}

void write_metric_header(std::string& out, const std::string& name, const std::string& help, MetricType type) {
  out += "# HELP " + name + ' ' + help + '\n';
  out += "# TYPE " + name + ' ' + type_name(type) + '\n';
}

void write_sample(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, double value) {
  out += name;
  write_labels(out, label_names, label_values);
  out += ' ' + format_number(value) + '\n';
}

std::string escape_label_value(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace hermes::observability
