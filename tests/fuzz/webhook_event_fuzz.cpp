// A generic webhook delivery: Standard Webhooks headers (webhook-id, webhook-timestamp,
// webhook-signature, one per line) or Hermes' X-Hermes-Signature (a fourth line), a blank
// line, then the event. Signatures are checked as the channel does; the event is read
// whatever the verdict, so the fuzzer reaches it without forging HMACs.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "hermes/channels/async.hpp"
#include "hermes/core/message.hpp"
#include "hermes/core/standard_webhooks.hpp"
#include "src/channels/webhook/event.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace sw = hermes::standard_webhooks;
  static const std::string key = sw::signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  static const hermes::Secret secret("hermes-webhook-secret", "fuzz");
  auto [head, body] = hermes::fuzz::split_once(hermes::fuzz::as_text(data, size));
  std::string_view id = hermes::fuzz::next_line(head);
  std::string_view timestamp = hermes::fuzz::next_line(head);
  std::string_view signatures = hermes::fuzz::next_line(head);
  std::string_view hermes_signature = hermes::fuzz::next_line(head);
  sw::verify(key, id, timestamp, signatures, body, std::chrono::system_clock::now());
  hermes::channels::signature_matches(secret, body, hermes_signature, "sha256=");
  hermes::InboundMessage message;
  hermes::channels::webhook::read_event(std::string(body), message);
  return 0;
}
