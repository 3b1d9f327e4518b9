#pragma once
// Process-wide logging on spdlog: human text or one JSON object per line with
// stable field names (ts, level, logger, msg, and "request_id" when a message
// carries one). Secrets are never passed to a logger; see core/secret.hpp.

#include <spdlog/common.h>

namespace hermes::observability {

enum class LogStyle { text, json };

void configure_logging(LogStyle style, spdlog::level::level_enum level);

}  // namespace hermes::observability
