#pragma once
// What asynchronous channels use to persist a message before acknowledging it.
// It is also DESIGN.md's DedupStore: claiming the event id and persisting the
// message must be one transaction, so they are one interface
// (routing::IntakeStore implements it).

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "hermes/core/message.hpp"

namespace hermes {

enum class IntakeClaim { accepted, duplicate, failed };

class Intake {
 public:
  virtual ~Intake() = default;
  virtual boost::asio::awaitable<IntakeClaim> claim(InboundMessage message) = 0;
  virtual void complete(const std::string& channel, const std::string& event_id) = 0;
  // A pending claim's message gets a new delivery_context (Slack records the message it
  // streams an answer into, so that a replay after a crash finishes that message).
  // Write-behind, like complete(). The default keeps nothing.
  virtual void set_delivery_context(const std::string& channel, const std::string& event_id,
                                    const std::string& delivery_context) {
    (void)channel;
    (void)event_id;
    (void)delivery_context;
  }
  // Answered events of `channel` are remembered (and their retries recognised) for
  // `retention` instead of the store's default: a peer that re-delivers for days needs it.
  virtual void remember_for(const std::string& channel, std::chrono::milliseconds retention) {
    (void)channel;
    (void)retention;
  }
  // When `conversation` last wrote to `channel` (UTC ms of the newest claim still
  // remembered), or nullopt when none is: WhatsApp's 24-hour window, kept durably.
  virtual boost::asio::awaitable<std::optional<std::int64_t>> last_received(std::string channel,
                                                                            std::string conversation) = 0;
};

}  // namespace hermes
