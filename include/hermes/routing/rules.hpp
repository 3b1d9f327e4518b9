#pragma once
// Route rules: the YAML `routes:` list compiled once per config snapshot, then
// matched read-only (and concurrently) for every message. First match wins.
//
// A match block is satisfied when every non-empty list in it is (AND across
// fields, OR within a list). A route without `match:` is a catch-all.
//   channels        equal to the channel's name or type
//   senders, conversations, recipients
//                   globs: `*` any run, `?` one character (UTF-8 code point),
//                   case-sensitive; there is no escape, both are always wildcards
//   text_any        some keyword occurs in the text (substring, ASCII case folded)
//   text_all        every keyword occurs
//   text_regex      RE2 partial match
//   models          the API `model` the client asked for is one of these

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/config/config.hpp"
#include "hermes/core/message.hpp"

namespace hermes::routing {

// The facts rules are matched against.
struct RouteQuery {
  std::string channel_name;
  std::string channel_type;
  std::string sender;
  std::string conversation;
  std::string recipient;
  std::string text;
  std::string model;  // as the client sent it; "" when none
};

RouteQuery make_route_query(const InboundMessage& message);

// How much explanation match() writes into RouteDecision::why. The pipeline
// wants one line for the audit row; `hermesctl routes test` wants every rule.
enum class Explain { decision, every_rule };

struct RouteDecision {
  bool found = false;
  std::string rule;   // the matched route's name
  std::size_t index = 0;
  std::string agent;  // empty when the route rejects
  std::optional<std::string> reject_message;
  // "matched routes[1] billing-questions: text contains 'invoice'"; with
  // Explain::every_rule, preceded by one line per earlier rule saying why it
  // did not match. Lines are separated by '\n'.
  std::string why;

  bool rejected() const { return found && reject_message.has_value(); }
};

class RuleSet {
 public:
  // Throws std::invalid_argument naming the route when a text_regex does not
  // compile (the loader reports that first, so this only guards other callers).
  explicit RuleSet(const std::vector<config::RouteConfig>& routes);
  RuleSet(RuleSet&&) noexcept;
  RuleSet& operator=(RuleSet&&) noexcept;
  ~RuleSet();

  RouteDecision match(const RouteQuery& query, Explain explain = Explain::decision) const;

  // True when some route's match.models names `model`.
  bool claims_model(std::string_view model) const;
  std::size_t size() const;

 private:
  struct Rule;
  std::vector<Rule> rules_;
  std::vector<std::string> claimed_models_;  // sorted, for claims_model()
};

// What an API request's `model` asks for. A model naming an agent goes to that
// agent (the key's scope is checked later, by the scope stage); no model or
// "auto" goes through the rules; any other name goes through the rules only
// when some route claims it in match.models (and that route's match then
// requires it), else it is OpenAI's 404 model_not_found. An agent name wins
// over a route claiming the same name.
enum class ModelKind { agent_direct, use_rules, not_found };

struct ModelResolution {
  ModelKind kind = ModelKind::use_rules;
  std::string agent;    // agent_direct: the agent
  std::string message;  // not_found: OpenAI's error message for the client
};

ModelResolution resolve_model(std::string_view model, const std::vector<config::AgentConfig>& agents,
                              const RuleSet& rules);
ModelResolution resolve_model(std::string_view model, const config::Config& config, const RuleSet& rules);

// RE2's error for `pattern` compiled as rules compile it; empty when valid.
std::string compile_error(const std::string& pattern);

// The matchers, exposed for tests and for callers that need one alone.
bool glob_match(std::string_view pattern, std::string_view text);
bool contains_ignore_case(std::string_view haystack, std::string_view needle);

}  // namespace hermes::routing
