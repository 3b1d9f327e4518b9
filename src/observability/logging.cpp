#include "hermes/observability/logging.hpp"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <ctime>
#include <string>

#include "hermes/core/json_writer.hpp"

namespace hermes::observability {
namespace {

// Core's encoder, so log lines escape as every other JSON Hermes writes (invalid UTF-8
// in a message becomes U+FFFD instead of breaking the line's JSON).
void append_json_string(spdlog::memory_buf_t& out, std::string_view s) {
  std::string encoded;
  hermes::append_json_string(encoded, s);
  out.append(encoded.data(), encoded.data() + encoded.size());
}

// {"ts":"2026-11-24T21:14:01.123Z","level":"info","logger":"net","msg":"..."}
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    using namespace std::chrono;
    auto since_epoch = msg.time.time_since_epoch();
    auto secs = duration_cast<seconds>(since_epoch);
    auto millis = duration_cast<milliseconds>(since_epoch - secs).count();
    std::time_t t = secs.count();
    std::tm tm{};
    gmtime_r(&t, &tm);
    char ts[96];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
    dest.append(std::string_view("{\"ts\":\""));
    dest.append(std::string_view(ts));
    dest.append(std::string_view("\",\"level\":"));
    auto level = spdlog::level::to_string_view(msg.level);
    append_json_string(dest, std::string_view(level.data(), level.size()));
    dest.append(std::string_view(",\"logger\":"));
    append_json_string(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    dest.append(std::string_view(",\"pid\":"));
    auto pid = std::to_string(::getpid());
    dest.append(std::string_view(pid));
    dest.append(std::string_view(",\"msg\":"));
    append_json_string(dest, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(std::string_view("}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void configure_logging(LogStyle style, spdlog::level::level_enum level) {
  // stderr: journald captures it under systemd, and stdout stays free for tools.
  auto logger = spdlog::default_logger();
  if (!logger || logger->name() != "hermes") {
    logger = spdlog::stderr_logger_mt("hermes");
    spdlog::set_default_logger(logger);
  }
  if (style == LogStyle::json) {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%-5l%$ %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
}

}  // namespace hermes::observability
