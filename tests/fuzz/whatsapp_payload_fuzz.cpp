// A WhatsApp Business Cloud API webhook: the X-Hub-Signature-256 header on the first
// line, a blank line, then Meta's payload (messages, statuses, errors, any nesting).
#include <cstddef>
#include <cstdint>

#include "hermes/channels/async.hpp"
#include "hermes/channels/whatsapp.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const hermes::Secret app_secret("meta-app-secret", "fuzz");
  auto [head, body] = hermes::fuzz::split_once(hermes::fuzz::as_text(data, size));
  hermes::channels::signature_matches(app_secret, body, hermes::fuzz::next_line(head), "sha256=");
  hermes::channels::whatsapp::read_payload(body);
  return 0;
}
