#pragma once
// The one pipeline every message passes through (DESIGN.md "The path of one
// message"): admission, identity, limits, route, scope, session, dispatch,
// deliver. Each decision becomes an audit row and a metric; a rejection
// carries a Reason the channel turns into the right answer.
//
// A Pipeline is built per config snapshot; state that must survive reloads
// (limiter buckets, sessions, the in-flight count) is shared in from outside.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "hermes/config/config.hpp"
#include "hermes/core/audit_sink.hpp"
#include "hermes/core/backend.hpp"
#include "hermes/core/ingress.hpp"

namespace hermes::observability {
class MetricsRegistry;
}

namespace hermes::routing {

class LimiterStore;
class SessionStore;

struct PipelineShared {  // outlives config snapshots
  std::shared_ptr<LimiterStore> limiter_store;
  std::shared_ptr<SessionStore> sessions;
  std::atomic<std::uint32_t> in_flight{0};
};

struct PipelineOptions {
  std::shared_ptr<const config::Config> config;
  std::map<std::string, std::shared_ptr<ModelBackend>> backends;  // by models[].name
  std::shared_ptr<PipelineShared> shared;
  AuditSink* audit = nullptr;
  std::function<bool()> audit_headroom;  // false: refuse before acknowledging anything
  observability::MetricsRegistry* metrics = nullptr;
};

class Pipeline final : public Ingress {
 public:
  explicit Pipeline(PipelineOptions options);
  ~Pipeline() override;

  boost::asio::awaitable<Outcome> submit(InboundMessage message, ReplyStream& reply) override;
  bool has_headroom() const override;

  struct Impl;

 private:
  boost::asio::awaitable<Outcome> run(InboundMessage message, ReplyStream& reply);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hermes::routing
