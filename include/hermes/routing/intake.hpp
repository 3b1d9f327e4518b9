#pragma once
// Durable intake for asynchronous channels (Slack, WhatsApp, email, webhook):
// a message is persisted and its event id claimed in ONE transaction before
// the channel acknowledges it. A retry of the same event finds the claim
// (duplicate); a crash after the ack leaves it pending, and it is replayed at
// start. Claims are remembered for `remember` (24 h) after completion.
//
// The same file holds the outbox (the delivery ledger): handing an answer to
// the outbox completes its intake claim in the same transaction, so a crash
// leaves either a pending message (answered again after replay) or a queued
// answer (delivered after restart), never both and never neither.
//
// All SQLite work runs on the store's own writer thread; callers co_await it.
// Writes that arrive while it is busy are committed together (group commit), each
// in its own savepoint: a caller resumes once its write is committed, and a write
// that fails on its own (a constraint) does not undo the others. A failure of the
// transaction itself (disk full, I/O error) fails every write of the batch.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "hermes/core/intake.hpp"
#include "hermes/core/message.hpp"
#include "hermes/core/outbox.hpp"

namespace hermes::routing {

using Claim = IntakeClaim;

class IntakeStore final : public Intake, public Outbox {
 public:
  IntakeStore(const std::filesystem::path& path, std::chrono::milliseconds remember);
  ~IntakeStore() override;

  // Persists `message` and claims (channel, event_id); resumes once committed.
  boost::asio::awaitable<Claim> claim(InboundMessage message) override;
  // Marks the event answered (fire and forget; write-behind is fine: a replay
  // after a crash in between is the at-least-once edge the channel accepts).
  void complete(const std::string& channel, const std::string& event_id) override;
  void remember_for(const std::string& channel, std::chrono::milliseconds retention) override;
  void set_delivery_context(const std::string& channel, const std::string& event_id,
                            const std::string& delivery_context) override;
  boost::asio::awaitable<std::optional<std::int64_t>> last_received(std::string channel,
                                                                    std::string conversation) override;
  // Claimed but not completed: what a crash left behind. Start-up only.
  std::vector<InboundMessage> pending();

  // Outbox
  boost::asio::awaitable<std::optional<std::vector<OutboxEntry>>> enqueue(std::vector<OutboxEntry> parts) override;
  boost::asio::awaitable<void> attempt_started(std::int64_t id) override;
  boost::asio::awaitable<void> delivered(std::int64_t id, std::string peer_id) override;
  boost::asio::awaitable<void> attempt_failed(std::int64_t id, std::string detail) override;
  boost::asio::awaitable<void> gave_up(std::int64_t id, std::string detail) override;
  boost::asio::awaitable<void> hold(std::int64_t id, std::int64_t since, std::int64_t until) override;
  boost::asio::awaitable<std::optional<OutboxEntry>> failed_after_delivery(std::string channel, std::string peer_id,
                                                                           std::string detail, bool requeue) override;
  std::vector<OutboxEntry> undelivered() override;
  // Waits for queued writes (tests, shutdown).
  void flush();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

std::string to_json(const InboundMessage& m);
InboundMessage message_from_json(const std::string& text);

}  // namespace hermes::routing
