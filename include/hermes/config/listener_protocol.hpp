#pragma once

namespace hermes::config {

// What a listener's connections speak: HTTP (the API, webhooks, web chat, the relay) or
// LMTP (mail handed over by the organisation's MTA).
enum class ListenerProtocol { http, lmtp };

}  // namespace hermes::config
