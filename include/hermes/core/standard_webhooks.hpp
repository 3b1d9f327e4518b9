#pragma once
// Standard Webhooks signatures (standardwebhooks.com, v1): `webhook-id`,
// `webhook-timestamp` (Unix seconds) and `webhook-signature` ("v1,<base64 HMAC-SHA256
// over id.timestamp.body>", several space-separated during a key rotation). The
// timestamp bounds replays: outside five minutes of now a request is refused, well inside
// the 24 hours for which event ids are remembered.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hermes::standard_webhooks {

inline constexpr std::chrono::seconds kTolerance{300};

// The HMAC key a secret stands for: the bytes of `whsec_<base64>`, else the text itself.
std::string signing_key(std::string_view secret);

// "v1,<base64>" for `body` sent as message `id` at `timestamp`.
std::string sign(std::string_view key, std::string_view id, std::int64_t timestamp, std::string_view body);

enum class Verdict { ok, missing_header, stale_timestamp, bad_signature };

// Checks the three header values against `body`; compares in constant time.
Verdict verify(std::string_view key, std::string_view id, std::string_view timestamp, std::string_view signatures,
               std::string_view body, std::chrono::system_clock::time_point now);

// How a webhook channel or agent signs (`signature:` in its config): Hermes' own
// `X-Hermes-Signature: sha256=<hex HMAC(body)>` (hermes-v1, the default; it covers the
// body only, so a captured request replays once its event id is forgotten), or Standard
// Webhooks (standard).
enum class Scheme { hermes_v1, standard };

// The headers that sign `body` for sending: `id` names the message (the same on every
// retry of it), `now` is the time of this attempt.
std::vector<std::pair<std::string, std::string>> signature_headers(Scheme scheme, std::string_view secret,
                                                                   std::string_view id, std::string_view body,
                                                                   std::chrono::system_clock::time_point now);

}  // namespace hermes::standard_webhooks
