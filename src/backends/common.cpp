#include "src/backends/common.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "hermes/config/reader.hpp"

namespace hermes::backends {

void parse_deadlines(config::MapReader& r, HttpDeadlines& into) {
  auto positive = [&](std::string_view key, Duration& value) {
    if (auto d = r.optional<Duration>(key)) {
      if (d->count() <= 0) {
        r.context().error(r.child(key), r.path_of(key), std::string(key) + " must be positive");
      } else {
        value = *d;
      }
    }
  };
  positive("timeout", into.timeout);
  positive("connect_timeout", into.connect_timeout);
  positive("first_byte_timeout", into.first_byte_timeout);
}

void apply_deadlines(net::ClientRequest& r, const HttpDeadlines& d, std::chrono::steady_clock::time_point deadline) {
  r.connect_timeout = d.connect_timeout;
  r.first_byte_timeout = d.first_byte_timeout;
  auto now = std::chrono::steady_clock::now();
  r.deadline = deadline - now <= d.timeout ? deadline : now + d.timeout;
}

Completion from_client_error(const net::ClientResult& result) {
  Completion c;
  switch (result.error) {
    case net::ClientErrorKind::connect: c.error = BackendErrorKind::connect; break;
    case net::ClientErrorKind::timeout: c.error = BackendErrorKind::timeout; break;
    case net::ClientErrorKind::cancelled: c.error = BackendErrorKind::cancelled; break;
    case net::ClientErrorKind::protocol:
    case net::ClientErrorKind::none: c.error = BackendErrorKind::protocol; break;
  }
  c.error_message = result.message;  // the client names scheme://host:port/path only
  return c;
}

void add_trace_headers(net::ClientRequest& r, const CompletionRequest& request) {
  if (!request.request_id.empty()) r.headers.emplace_back("X-Request-Id", request.request_id);
  if (!request.traceparent.empty()) r.headers.emplace_back("traceparent", request.traceparent);
}

std::string redact_secret(std::string text, std::string_view secret) {
  constexpr std::string_view kRedacted = "[redacted]";
  if (secret.empty()) return text;
  for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos + kRedacted.size())) {
    text.replace(pos, secret.size(), kRedacted);
  }
  return text;
}

std::string truncate_utf8(std::string text, std::size_t limit) {
  if (text.size() <= limit) return text;
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return text + "...";
}

void CallHealth::record(const Completion& c) {
  std::lock_guard lock(mutex_);
  if (c.ok) {
    health_ = BackendHealth{true, ""};
  } else if (c.error != BackendErrorKind::cancelled) {
    health_.detail = "last call failed: " + c.error_message;
  }
}

BackendHealth CallHealth::get() const {
  std::lock_guard lock(mutex_);
  return health_;
}

}  // namespace hermes::backends
