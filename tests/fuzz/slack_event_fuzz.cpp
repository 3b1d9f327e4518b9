// A Slack Events API request: the signature headers (first line X-Slack-Request-Timestamp,
// second X-Slack-Signature), a blank line, then the body. The signature check runs first,
// as in the channel; the body is then interpreted whatever the verdict, so the fuzzer
// reaches the payload without forging HMACs. The same body is also read the two other ways
// Slack's bytes arrive: as a slash command's form (events mode) and as a Socket Mode
// envelope, whose payload is an event callback or a slash command.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "hermes/channels/async.hpp"
#include "hermes/channels/slack.hpp"
#include "src/channels/slack/preview.hpp"
#include "src/channels/slack/socket_mode.hpp"
#include "tests/fuzz/fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace slack = hermes::channels::slack;
  static const hermes::Secret secret("8f742231b10e8888abcd99yyyzzz85a5", "fuzz");
  static const slack::SlackSpec spec = [] {
    slack::SlackSpec s;
    s.name = "slack";
    s.allowed_users = {"U0ALLOWED"};
    return s;
  }();
  auto [head, body] = hermes::fuzz::split_once(hermes::fuzz::as_text(data, size));
  std::string_view timestamp = hermes::fuzz::next_line(head);
  std::string_view signature = hermes::fuzz::next_line(head);
  slack::timestamp_is_fresh(timestamp, std::chrono::system_clock::now());
  std::string signed_text = "v0:" + std::string(timestamp) + ":" + std::string(body);
  hermes::channels::signature_matches(secret, signed_text, signature, "v0=");
  std::string why;
  if (auto command = slack::slash_command_from_form(body, why)) {
    auto m = slack::command_message(*command, spec);
    slack::read_delivery_context(m.delivery_context);
  }
  if (auto envelope = slack::parse_envelope(body)) {
    if (envelope->type == "slash_commands") {
      if (auto command = slack::slash_command_from_json(envelope->payload, why)) slack::command_message(*command, spec);
    } else if (envelope->payload.is_object()) {
      slack::interpret_event(envelope->payload, spec, "UBOT");
    }
  }
  auto callback = nlohmann::json::parse(body, nullptr, false);
  if (callback.is_discarded()) return 0;
  auto interpreted = slack::interpret_event(callback, spec, "UBOT");
  slack::admitted(spec, interpreted.message.sender, interpreted.message.conversation);
  return 0;
}
