#include "hermes/routing/rules.hpp"

#include <fmt/format.h>
#include <re2/re2.h>

#include <algorithm>
#include <stdexcept>

namespace hermes::routing {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower_copy(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

// The index just past the UTF-8 code point starting at `i`, so `?` and `*`
// consume whole characters, never half of one.
std::size_t next_code_point(std::string_view text, std::size_t i) {
  ++i;
  while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) {
    ++i;
  }
  return i;
}

re2::RE2::Options regex_options() {
  re2::RE2::Options options;
  options.set_log_errors(false);  // errors are reported with file:line:col, not on stderr
  return options;
}

// Values in explanations come from senders; they end up in audit rows and on
// terminals, so control characters are escaped and long values shortened.
std::string quote(std::string_view value) {
  constexpr std::size_t kMax = 80;
  std::size_t cut = std::min(value.size(), kMax);
  // Shorten on a character boundary: never end inside a UTF-8 sequence.
  while (cut < value.size() && cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  std::string out = "'";
  for (std::size_t i = 0; i < cut; ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == 0x7F) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (cut < value.size()) {
    out += "...";
  }
  return out + "'";
}

std::string quote_list(const std::vector<std::string>& values) {
  std::string out = "[";
  for (const auto& v : values) {
    out += (out.size() > 1 ? ", " : "") + quote(v);
  }
  return out + "]";
}

// The query with its text lower-cased at most once, however many rules ask.
class Facts {
 public:
  explicit Facts(const RouteQuery& query) : query_(query) {}
  const RouteQuery& query() const { return query_; }
  const std::string& lower_text() {
    if (!lower_text_) {
      lower_text_ = lower_copy(query_.text);
    }
    return *lower_text_;
  }

 private:
  const RouteQuery& query_;
  std::optional<std::string> lower_text_;
};

// Appends "; part" (or "part") to an explanation being built, if one is wanted.
void note(std::string* detail, const std::string& part) {
  if (detail) {
    *detail += (detail->empty() ? "" : "; ") + part;
  }
}

void fail(std::string* detail, const std::string& reason) {
  if (detail) {
    *detail = reason;
  }
}

}  // namespace

struct RuleSet::Rule {
  std::string name;
  std::size_t index = 0;
  std::optional<config::RouteMatch> match;
  std::vector<std::string> text_any_lower;
  std::vector<std::string> text_all_lower;
  std::unique_ptr<re2::RE2> regex;
  std::string agent;
  std::optional<std::string> reject_message;

  std::string label() const { return "routes[" + std::to_string(index) + "] " + name; }
  bool catch_all() const;
  // True when the rule matches. `detail`, when given, receives why: the
  // satisfied conditions on a match, the first failed one otherwise.
  bool check(Facts& facts, std::string* detail) const;

 private:
  bool check_channel(const RouteQuery& q, std::string* detail) const;
  bool check_globs(const std::vector<std::string>& globs, std::string_view what, const std::string& value,
                   std::string* detail) const;
  bool check_text(Facts& facts, std::string* detail) const;
  bool check_model(const RouteQuery& q, std::string* detail) const;
};

bool RuleSet::Rule::catch_all() const {
  if (!match) {
    return true;
  }
  const auto& m = *match;
  return m.channels.empty() && m.senders.empty() && m.conversations.empty() && m.recipients.empty() &&
         m.text_any.empty() && m.text_all.empty() && m.text_regex.empty() && m.models.empty();
}

bool RuleSet::Rule::check(Facts& facts, std::string* detail) const {
  if (catch_all()) {
    note(detail, "catch-all (no match conditions)");
    return true;
  }
  const RouteQuery& q = facts.query();
  return check_channel(q, detail) && check_globs(match->senders, "sender", q.sender, detail) &&
         check_globs(match->conversations, "conversation", q.conversation, detail) &&
         check_globs(match->recipients, "recipient", q.recipient, detail) && check_text(facts, detail) &&
         check_model(q, detail);
}

bool RuleSet::Rule::check_channel(const RouteQuery& q, std::string* detail) const {
  if (match->channels.empty()) {
    return true;
  }
  std::string channel = "channel " + quote(q.channel_name) + " (type " + quote(q.channel_type) + ")";
  for (const auto& c : match->channels) {
    if (c == q.channel_name || c == q.channel_type) {
      note(detail, channel + " matches " + quote(c));
      return true;
    }
  }
  fail(detail, channel + " is not in " + quote_list(match->channels));
  return false;
}

bool RuleSet::Rule::check_globs(const std::vector<std::string>& globs, std::string_view what,
                                const std::string& value, std::string* detail) const {
  if (globs.empty()) {
    return true;
  }
  for (const auto& g : globs) {
    if (glob_match(g, value)) {
      note(detail, std::string(what) + " " + quote(value) + " matches " + quote(g));
      return true;
    }
    // A message to several recipients (email: billing@ and support@) names them with ", ":
    // a route for any one of them matches.
    if (what == "recipient" && value.find(", ") != std::string::npos) {
      std::string_view rest = value;
      while (!rest.empty()) {
        auto comma = rest.find(", ");
        std::string one(rest.substr(0, comma));
        if (glob_match(g, one)) {
          note(detail, std::string(what) + " " + quote(one) + " matches " + quote(g));
          return true;
        }
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
      }
    }
  }
  fail(detail, std::string(what) + " " + quote(value) + " matches none of " + quote_list(globs));
  return false;
}

bool RuleSet::Rule::check_text(Facts& facts, std::string* detail) const {
  if (!text_any_lower.empty()) {
    const std::string& text = facts.lower_text();
    auto hit = std::find_if(text_any_lower.begin(), text_any_lower.end(),
                            [&](const std::string& k) { return text.find(k) != std::string::npos; });
    if (hit == text_any_lower.end()) {
      fail(detail, "text contains none of " + quote_list(match->text_any));
      return false;
    }
    note(detail, "text contains " + quote(match->text_any[static_cast<std::size_t>(hit - text_any_lower.begin())]));
  }
  if (!text_all_lower.empty()) {
    const std::string& text = facts.lower_text();
    for (std::size_t i = 0; i < text_all_lower.size(); ++i) {
      if (text.find(text_all_lower[i]) == std::string::npos) {
        fail(detail, "text lacks " + quote(match->text_all[i]) + " (text_all " + quote_list(match->text_all) + ")");
        return false;
      }
    }
    note(detail, "text contains all of " + quote_list(match->text_all));
  }
  if (regex) {
    if (!re2::RE2::PartialMatch(facts.query().text, *regex)) {
      fail(detail, "text does not match /" + match->text_regex + "/");
      return false;
    }
    note(detail, "text matches /" + match->text_regex + "/");
  }
  return true;
}

bool RuleSet::Rule::check_model(const RouteQuery& q, std::string* detail) const {
  if (match->models.empty()) {
    return true;
  }
  if (std::find(match->models.begin(), match->models.end(), q.model) != match->models.end()) {
    note(detail, "model " + quote(q.model) + " is claimed by this route");
    return true;
  }
  if (q.model.empty()) {
    fail(detail, "no model requested; route claims " + quote_list(match->models));
  } else {
    fail(detail, "model " + quote(q.model) + " is not in " + quote_list(match->models));
  }
  return false;
}

RouteQuery make_route_query(const InboundMessage& message) {
  return RouteQuery{message.channel, message.channel_type, message.sender, message.conversation,
                    message.recipient, message.text,         message.model};
}

RuleSet::RuleSet(const std::vector<config::RouteConfig>& routes) {
  rules_.reserve(routes.size());
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto& route = routes[i];
    Rule rule;
    rule.name = route.name;
    rule.index = i;
    rule.match = route.match;
    rule.agent = route.agent;
    rule.reject_message = route.reject_message;
    if (route.match) {
      std::transform(route.match->text_any.begin(), route.match->text_any.end(),
                     std::back_inserter(rule.text_any_lower), lower_copy);
      std::transform(route.match->text_all.begin(), route.match->text_all.end(),
                     std::back_inserter(rule.text_all_lower), lower_copy);
      if (!route.match->text_regex.empty()) {
        rule.regex = std::make_unique<re2::RE2>(route.match->text_regex, regex_options());
        if (!rule.regex->ok()) {
          throw std::invalid_argument(rule.label() + ": invalid text_regex: " + rule.regex->error());
        }
      }
      claimed_models_.insert(claimed_models_.end(), route.match->models.begin(), route.match->models.end());
    }
    rules_.push_back(std::move(rule));
  }
  std::sort(claimed_models_.begin(), claimed_models_.end());
}

RuleSet::RuleSet(RuleSet&&) noexcept = default;
RuleSet& RuleSet::operator=(RuleSet&&) noexcept = default;
RuleSet::~RuleSet() = default;

RouteDecision RuleSet::match(const RouteQuery& query, Explain explain) const {
  Facts facts(query);
  RouteDecision decision;
  const bool every_rule = explain == Explain::every_rule;
  for (const Rule& rule : rules_) {
    std::string detail;
    if (!rule.check(facts, every_rule ? &detail : nullptr)) {
      if (every_rule) {
        decision.why += rule.label() + ": not matched: " + detail + "\n";
      }
      continue;
    }
    if (!every_rule) {
      rule.check(facts, &detail);  // once, for the winner only: the hot path builds no strings for losers
    }
    decision.found = true;
    decision.rule = rule.name;
    decision.index = rule.index;
    decision.agent = rule.agent;
    decision.reject_message = rule.reject_message;
    decision.why += "matched " + rule.label() + ": " + detail;
    return decision;
  }
  decision.why += rules_.empty() ? "no routes configured" : "no route matched";
  return decision;
}

bool RuleSet::claims_model(std::string_view model) const {
  return std::binary_search(claimed_models_.begin(), claimed_models_.end(), model, std::less<>());
}

std::size_t RuleSet::size() const { return rules_.size(); }

ModelResolution resolve_model(std::string_view model, const std::vector<config::AgentConfig>& agents,
                              const RuleSet& rules) {
  if (model.empty() || model == "auto") {
    return {ModelKind::use_rules, {}, {}};
  }
  auto agent = std::find_if(agents.begin(), agents.end(), [&](const auto& a) { return a.name == model; });
  if (agent != agents.end()) {
    return {ModelKind::agent_direct, agent->name, {}};
  }
  if (rules.claims_model(model)) {
    return {ModelKind::use_rules, {}, {}};
  }
  // OpenAI's wording, so clients that special-case it keep working.
  return {ModelKind::not_found, {},
          "The model `" + std::string(model) + "` does not exist or you do not have access to it."};
}

ModelResolution resolve_model(std::string_view model, const config::Config& config, const RuleSet& rules) {
  return resolve_model(model, config.agents, rules);
}

std::string compile_error(const std::string& pattern) {
  re2::RE2 regex(pattern, regex_options());
  return regex.ok() ? std::string() : regex.error();
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative wildcard matching: on a mismatch, let the last `*` swallow one
  // more character and retry. Linear in practice, O(n*m) at worst, no recursion.
  constexpr auto npos = std::string_view::npos;
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = npos;
  std::size_t star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (p < pattern.size() && pattern[p] == '?') {
      ++p;
      t = next_code_point(text, t);
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != npos) {
      p = star + 1;
      star_text = next_code_point(text, star_text);
      t = star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

bool contains_ignore_case(std::string_view haystack, std::string_view needle) {
  auto equal = [](char a, char b) { return ascii_lower(a) == ascii_lower(b); };
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(), equal) != haystack.end();
}

}  // namespace hermes::routing
