#pragma once
// Durable intake for asynchronous channels (Slack, WhatsApp, email, webhook):
// a message is persisted and its event id claimed in ONE transaction before
// the channel acknowledges it. A retry of the same event finds the claim
// (duplicate); a crash after the ack leaves it pending, and it is replayed at
// start. Claims are remembered for `remember` (24 h) after completion.
//
// All SQLite work runs on the store's own writer thread; callers co_await it.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "hermes/core/intake.hpp"
#include "hermes/core/message.hpp"

namespace hermes::routing {

using Claim = IntakeClaim;

class IntakeStore final : public Intake {
 public:
  IntakeStore(const std::filesystem::path& path, std::chrono::milliseconds remember);
  ~IntakeStore() override;

  // Persists `message` and claims (channel, event_id); resumes once committed.
  boost::asio::awaitable<Claim> claim(InboundMessage message) override;
  // Marks the event answered (fire and forget; write-behind is fine: a replay
  // after a crash in between is the at-least-once edge the channel accepts).
  void complete(const std::string& channel, const std::string& event_id) override;
  // Claimed but not completed: what a crash left behind. Start-up only.
  std::vector<InboundMessage> pending();
  // Waits for queued writes (tests, shutdown).
  void flush();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

std::string to_json(const InboundMessage& m);
InboundMessage message_from_json(const std::string& text);

}  // namespace hermes::routing
