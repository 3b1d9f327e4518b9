#include "hermes/observability/process.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "hermes/core/build_info.hpp"

namespace hermes::observability {
namespace {

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double v = 0;
      in >> v;
      return v;
    }
  }
  return 0;
}

}  // namespace

ProcessStats read_process_stats() {
  ProcessStats s;
  const long page = sysconf(_SC_PAGESIZE);
  const long ticks = sysconf(_SC_CLK_TCK);
  {
    std::ifstream statm("/proc/self/statm");
    std::uint64_t size = 0, resident = 0;
    statm >> size >> resident;
    s.virtual_bytes = size * static_cast<std::uint64_t>(page);
    s.resident_bytes = resident * static_cast<std::uint64_t>(page);
  }
  {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++s.open_fds;
    }
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) s.max_fds = rl.rlim_cur;
  }
  {
    // Fields after the parenthesised command name: utime is 14th, stime 15th, starttime 22nd.
    std::ifstream stat("/proc/self/stat");
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    if (close != std::string::npos && ticks > 0) {
      std::istringstream rest(line.substr(close + 2));
      std::string field;
      std::uint64_t utime = 0, stime = 0, start = 0;
      for (int i = 3; rest >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
        if (i == 22) {
          start = std::stoull(field);
          break;
        }
      }
      s.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);
      s.start_time_seconds = boot_time_seconds() + static_cast<double>(start) / static_cast<double>(ticks);
    }
  }
  return s;
}

void register_process_metrics(MetricsRegistry& registry) {
  registry.add_collector([](std::string& out) {
    auto s = read_process_stats();
    auto gauge = [&](const char* name, const char* help, double v, MetricType type = MetricType::gauge) {
      write_metric_header(out, name, help, type);
      write_sample(out, name, {}, {}, v);
    };
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", static_cast<double>(s.resident_bytes));
    gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", static_cast<double>(s.virtual_bytes));
    gauge("process_open_fds", "Number of open file descriptors.", static_cast<double>(s.open_fds));
    gauge("process_max_fds", "Maximum number of open file descriptors.", static_cast<double>(s.max_fds));
    gauge("process_cpu_seconds_total", "User and system CPU time spent in seconds.", s.cpu_seconds,
          MetricType::counter);
    gauge("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.",
          s.start_time_seconds);
    write_metric_header(out, "hermes_build_info", "Build of the running hermesd; always 1.", MetricType::gauge);
    write_sample(out, "hermes_build_info", {"version", "commit"},
                 {std::string(build::version()), std::string(build::commit())}, 1);
  });
}

}  // namespace hermes::observability
