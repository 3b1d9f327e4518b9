#pragma once
// A generic signed webhook channel (`type: webhook`), and the pattern every
// asynchronous channel follows: verify the signature before parsing, claim the
// event through durable intake, acknowledge at once, answer in the background.
//
//   POST /webhook/<channel>/events   {"event_id","sender","conversation","thread"?,"group"?,"text"}
//   X-Hermes-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>
// Answers are POSTed as JSON to `deliver_url`.

#include "hermes/channels/channel.hpp"
#include "hermes/core/standard_webhooks.hpp"
#include "hermes/core/secret.hpp"

namespace hermes::channels::webhook {

struct WebhookSpec final : config::ChannelSpec {
  Secret secret;
  standard_webhooks::Scheme signature = standard_webhooks::Scheme::hermes_v1;  // both directions
  std::string deliver_url;
  Duration deliver_timeout{10'000};
};

void register_type(config::Registries& registries, ChannelFactories& factories);

}  // namespace hermes::channels::webhook
