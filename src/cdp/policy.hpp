#pragma once
// Private to src/cdp: the relay's decisions as plain functions, so they are unit-tested
// without a browser: which methods are refused, which URLs may be opened, and a cheap
// look at a browser message's first member so large frames pass through unparsed.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace hermes::cdp {

// Ids from here up are the relay's own commands; a client's id must stay below.
inline constexpr std::int64_t kRelayIdBase = std::int64_t{1} << 30;

// `*` matches any run of characters (none included) but those in `star_stops`;
// everything else matches itself.
bool glob_match(std::string_view glob, std::string_view text, std::string_view star_stops = {});

// Why `url` may not be opened (a navigation, a new target); empty when it may.
// about:blank always may; file:, chrome:, devtools:, javascript:, data: (and other
// schemes but http, https) never; http(s) URLs only when they parse, have no backslash,
// and an allow_urls glob matches (a `*` before the path stays within the authority).
std::string url_refusal(std::string_view url, const std::vector<std::string>& allow_urls);

// The URL as audited: without its query and fragment (they may carry secrets).
std::string url_for_audit(std::string_view url);

class MethodPolicy {
 public:
  // `extra`: the browser's deny_methods ("Domain.method" or "Domain.*").
  explicit MethodPolicy(const std::vector<std::string>& extra);
  // The built-in list (docs/cdp.md) or a deny_methods entry refuses it.
  bool denied(std::string_view method) const;

 private:
  std::set<std::string, std::less<>> methods_;
  std::set<std::string, std::less<>> domains_;  // "Fetch" for "Fetch.*"
};

// What a browser message starts with: Chromium writes "id" first in responses and
// "method" first in events. Anything else is `unknown` (and gets parsed in full).
struct MessageHead {
  enum class Kind { response, event, unknown } kind = Kind::unknown;
  std::int64_t id = -1;
  std::string_view method;
};
MessageHead peek_message(std::string_view message);

// The "sessionId" a browser message ends with, or empty: found without parsing.
std::string_view peek_session_id(std::string_view message);

// False when `text` nests objects and arrays deeper than `max_depth`: checked before a
// parse, as copying or writing a deep document recurses once per level.
bool json_depth_within(std::string_view text, int max_depth);

}  // namespace hermes::cdp
