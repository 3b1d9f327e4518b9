#pragma once
// A webhook agent (`type: webhook`): an HTTP service of your own that answers
// messages. The gateway POSTs JSON, signed so the agent can tell it came from
// the gateway:
//
//   X-Hermes-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
//   {"request_id", "timestamp", "agent", "rule",
//    "message": {"channel", "channel_type", "sender", "conversation", "thread", "session_id", "text"},
//    "messages": [{"role", "content"}…]   (system prompt, history, and the new message last),
//    "max_tokens"?, "temperature"?}
//
// and takes either a JSON answer {"text": "…", "usage"?: {"prompt_tokens", "completion_tokens"}}
// or, with Content-Type text/event-stream, events whose data is
// {"text": "…"} (a delta), {"usage": {…}}, {"done": true} or {"error": "…"}.
// Nothing the client sent (its Authorization, cookies…) is forwarded.
//
//   models:
//     - {name: support-bot, type: webhook, url: "http://10.0.0.5:9000/answer", secret: "${env:AGENT_SECRET}"}

#include <memory>
#include <string>

#include "hermes/backends/deadlines.hpp"
#include "hermes/backends/registry.hpp"
#include "hermes/config/extensions.hpp"
#include "hermes/core/secret.hpp"
#include "hermes/core/standard_webhooks.hpp"
#include "hermes/core/units.hpp"

namespace hermes::config {
class MapReader;
}

namespace hermes::backends::webhook {

struct Spec : config::ModelSpec {
  std::string url;
  Secret secret;
  standard_webhooks::Scheme signature = standard_webhooks::Scheme::hermes_v1;
  HttpDeadlines deadlines;  // timeout, connect_timeout, first_byte_timeout
};

std::unique_ptr<config::ModelSpec> parse_spec(config::MapReader& reader);
std::unique_ptr<ModelBackend> create(const config::ModelSpec& spec, BackendDeps& deps);

}  // namespace hermes::backends::webhook
