#pragma once
// The one way any module records a decision for the audit log. The audit module
// implements it with the SQLite writer; tests and tools may use MemoryAuditSink.
// record() never blocks an io thread and never throws.

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hermes {

struct AuditEvent {
  std::string kind;  // "listener.refused", "config.reload", "message.exchange", ...
  std::string request_id;
  std::string channel;
  std::string session_id;
  std::string sender;
  std::string conversation;
  std::string agent;
  std::string rule;
  std::string decision;  // "accepted", "refused", "applied", ...
  std::string status;    // outcome code: "ok", "peer_not_allowed", "invalid_config", ...
  std::int64_t latency_ms = -1;  // -1: not applicable
  std::int64_t tokens_in = -1;
  std::int64_t tokens_out = -1;
  nlohmann::json detail = nlohmann::json::object();
  // Or the detail as an encoded JSON object, for hot paths that write it with JsonWriter
  // instead of building a DOM; when set, `detail` is ignored.
  std::string detail_json;
  std::string text;    // message text; the audit writer applies store_text (full|hash|none)
  std::string answer;  // the agent's answer, on a message's final row; store_text applies too

  // The detail whichever way it was given (for tests and tools).
  nlohmann::json detail_object() const { return detail_json.empty() ? detail : nlohmann::json::parse(detail_json); }
};

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  virtual void record(AuditEvent event) = 0;
};

// Keeps events in memory; for tests and for tools with no database.
class MemoryAuditSink final : public AuditSink {
 public:
  void record(AuditEvent event) override {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  std::vector<AuditEvent> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<AuditEvent> events_;
};

}  // namespace hermes
