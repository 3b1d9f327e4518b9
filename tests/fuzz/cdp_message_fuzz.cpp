// What the CDP relay reads without a full parse: a browser's or an agent's frame (its
// head, its sessionId, its nesting depth) and the URLs agents ask to open. Line one is a
// URL for the policy; the rest is the frame.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/cdp/policy.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::string> allow_urls = {"https://*.corp.example/*", "http://127.0.0.1:*/*"};
  static const hermes::cdp::MethodPolicy policy({"Network.*", "Page.setDownloadBehavior"});
  std::string_view input = hermes::fuzz::as_text(data, size);
  std::string_view url = hermes::fuzz::next_line(input);
  hermes::cdp::url_refusal(url, allow_urls);
  hermes::cdp::url_for_audit(url);
  auto head = hermes::cdp::peek_message(input);
  if (!head.method.empty()) policy.denied(head.method);
  hermes::cdp::peek_session_id(input);
  if (hermes::cdp::json_depth_within(input, 64)) {
    // What the relay does next with a frame it could not peek: a full parse.
    auto frame = nlohmann::json::parse(input, nullptr, false);
    (void)frame;
  }
  return 0;
}
