#pragma once

#include <cstdint>

#include "hermes/observability/metrics.hpp"

namespace hermes::observability {

struct ProcessStats {
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;
  double cpu_seconds = 0;
  double start_time_seconds = 0;  // Unix time
};

ProcessStats read_process_stats();

// Registers process_* gauges and hermes_build_info, computed at scrape time.
void register_process_metrics(MetricsRegistry& registry);

}  // namespace hermes::observability
