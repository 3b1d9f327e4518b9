#include "hermes/core/standard_webhooks.hpp"

#include <charconv>

#include "hermes/core/digest.hpp"
#include "hermes/core/secret.hpp"

namespace hermes::standard_webhooks {

std::string signing_key(std::string_view secret) {
  constexpr std::string_view kPrefix = "whsec_";
  if (secret.substr(0, kPrefix.size()) == kPrefix) {
    if (auto key = base64_decode(secret.substr(kPrefix.size()))) return *key;
  }
  return std::string(secret);
}

namespace {
std::string signed_content(std::string_view id, std::string_view timestamp, std::string_view body) {
  std::string content;
  content.reserve(id.size() + timestamp.size() + body.size() + 2);
  content.append(id).append(".").append(timestamp).append(".").append(body);
  return content;
}
}  // namespace

std::string sign(std::string_view key, std::string_view id, std::int64_t timestamp, std::string_view body) {
  return "v1," + hmac_sha256_base64(key, signed_content(id, std::to_string(timestamp), body));
}

Verdict verify(std::string_view key, std::string_view id, std::string_view timestamp, std::string_view signatures,
               std::string_view body, std::chrono::system_clock::time_point now) {
  if (id.empty() || timestamp.empty() || signatures.empty()) return Verdict::missing_header;
  std::int64_t seconds = 0;
  auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), seconds);
  if (ec != std::errc() || end != timestamp.data() + timestamp.size()) return Verdict::stale_timestamp;
  // Compared in seconds: a time_point of a hostile value (17000000000 s) overflows the
  // clock's nanoseconds (found by tests/fuzz/webhook_event_fuzz.cpp).
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (seconds < now_s - kTolerance.count() || seconds > now_s + kTolerance.count()) return Verdict::stale_timestamp;
  std::string expected = hmac_sha256_base64(key, signed_content(id, timestamp, body));
  bool match = false;
  while (!signatures.empty()) {
    auto space = signatures.find(' ');
    auto one = signatures.substr(0, space);
    signatures = space == std::string_view::npos ? std::string_view() : signatures.substr(space + 1);
    if (one.substr(0, 3) != "v1,") continue;  // other versions are for other verifiers
    match = constant_time_equals(expected, one.substr(3)) || match;  // no early exit: every entry is compared
  }
  return match ? Verdict::ok : Verdict::bad_signature;
}

std::vector<std::pair<std::string, std::string>> signature_headers(Scheme scheme, std::string_view secret,
                                                                   std::string_view id, std::string_view body,
                                                                   std::chrono::system_clock::time_point now) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (scheme == Scheme::hermes_v1) {
    headers.emplace_back("X-Hermes-Signature", "sha256=" + hmac_sha256_hex(secret, body));
    return headers;
  }
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  headers.emplace_back("webhook-id", std::string(id));
  headers.emplace_back("webhook-timestamp", std::to_string(seconds));
  headers.emplace_back("webhook-signature", sign(signing_key(secret), id, seconds, body));
  return headers;
}

}  // namespace hermes::standard_webhooks
