#pragma once
// Private to src/backends: what the HTTP-based backends (openai, anthropic,
// webhook) share, so each one holds only its own wire format.

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "hermes/backends/deadlines.hpp"
#include "hermes/core/backend.hpp"
#include "hermes/core/json_fields.hpp"
#include "hermes/core/units.hpp"
#include "hermes/net/client.hpp"

namespace hermes::config {
class MapReader;
}

namespace hermes::backends {

// Reads `timeout`, `connect_timeout`, `first_byte_timeout` (each must be positive).
void parse_deadlines(config::MapReader& r, HttpDeadlines& into);
// Puts the deadlines on an upstream request: the call ends at `timeout` or the request's own deadline.
void apply_deadlines(net::ClientRequest& r, const HttpDeadlines& d, std::chrono::steady_clock::time_point deadline);

// A transport failure (no usable response) as a Completion error.
Completion from_client_error(const net::ClientResult& result);
// Retry-After from an upstream, capped at a minute: longer waits belong to the fallback chain.
inline std::chrono::milliseconds retry_after_of(std::string_view value) {
  return net::parse_retry_after(value, std::chrono::seconds(60));
}
// Passes the request's X-Request-Id and the client's traceparent on to the upstream.
void add_trace_headers(net::ClientRequest& r, const CompletionRequest& request);
// `text` with every occurrence of `secret` replaced by "[redacted]" (upstream errors may quote the key).
std::string redact_secret(std::string text, std::string_view secret);

// At most `limit` bytes, cut at a UTF-8 boundary, "..." marking the cut.
std::string truncate_utf8(std::string text, std::size_t limit);

// Health from the last calls: what /status shows next to the breaker's verdict.
class CallHealth {
 public:
  void record(const Completion& c);
  BackendHealth get() const;

 private:
  mutable std::mutex mutex_;
  BackendHealth health_;
};

}  // namespace hermes::backends
