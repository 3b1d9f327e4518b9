#pragma once
// A small Prometheus-text metrics registry. Families are created at start-up;
// `family.with({...})` returns a stable reference that hot paths keep, so the
// per-event cost is one relaxed atomic add. Label values must never contain
// senders, keys or session ids (DESIGN.md).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace hermes::observability {

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double d);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
  std::atomic<std::uint64_t> count_{0};
};

// Latency buckets in seconds, from 100 µs to 60 s.
const std::vector<double>& latency_buckets();

enum class MetricType { counter, gauge, histogram };

template <class Metric>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  // Returns the series for these label values (in label_names order), creating it once.
  // Looked up without copying the values: hot paths call this per request.
  Metric& with(std::initializer_list<std::string_view> values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return labels_; }
  template <class Fn>
  void for_each(Fn fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& [values, metric] : series_) fn(values, *metric);
  }

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  // Orders label value lists; also compares a stored list with a list of views.
  struct LabelsLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                          [](std::string_view x, std::string_view y) { return x < y; });
    }
  };
  using Series = std::map<std::vector<std::string>, std::unique_ptr<Metric>, LabelsLess>;
  Series series_;
  std::atomic<const typename Series::value_type*> last_{nullptr};  // the last series with() found
  static bool same_labels(const std::vector<std::string>& stored, std::initializer_list<std::string_view> values) {
    return std::equal(stored.begin(), stored.end(), values.begin(), values.end(),
                      [](const std::string& a, std::string_view b) { return a == b; });
  }
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class MetricsRegistry {
 public:
  CounterFamily& counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  GaugeFamily& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  HistogramFamily& histogram(const std::string& name, const std::string& help, std::vector<std::string> labels = {},
                             std::vector<double> bounds = latency_buckets());
  // Appends exposition text computed at scrape time (process stats, queue depths).
  void add_collector(std::function<void(std::string&)> collector);

  // Prometheus text format 0.0.4.
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<CounterFamily>> counters_;
  std::vector<std::unique_ptr<GaugeFamily>> gauges_;
  std::vector<std::unique_ptr<HistogramFamily>> histograms_;
  std::vector<std::function<void(std::string&)>> collectors_;
};

// The completion handler for a coroutine nobody awaits (`co_spawn(ex, work,
// ReportFailure(metrics, "where"))` instead of `detached`), and what a catch-all calls
// where an exception would otherwise end a connection, a delivery or the event loop: the
// exception is counted in hermes_internal_errors_total{where} (any increase is a bug worth
// reporting) and logged, at most once a second, instead of vanishing.
class ReportFailure {
 public:
  ReportFailure(MetricsRegistry& metrics, std::string where);
  void operator()(std::exception_ptr failure) const;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

// Helpers for collectors writing exposition text.
void write_metric_header(std::string& out, const std::string& name, const std::string& help, MetricType type);
void write_sample(std::string& out, const std::string& name, const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, double value);
std::string escape_label_value(const std::string& value);

}  // namespace hermes::observability
