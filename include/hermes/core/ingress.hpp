#pragma once
// What channels submit messages to (the pipeline implements it).

#include <boost/asio/awaitable.hpp>

#include <string>

#include "hermes/core/message.hpp"
#include "hermes/core/reply.hpp"

namespace hermes {

struct Outcome {
  Reason reason = Reason::none;  // none: answered
  std::string agent;
  std::string rule;
  std::string session_id;
};

class Ingress {
 public:
  virtual ~Ingress() = default;
  // Synchronous channels: the whole pipeline, answering into `reply` (which always
  // sees exactly one finish() or fail()).
  virtual boost::asio::awaitable<Outcome> submit(InboundMessage message, ReplyStream& reply) = 0;
  // Whether new work can be accepted right now (in-flight cap, audit headroom).
  virtual bool has_headroom() const = 0;
};

}  // namespace hermes
