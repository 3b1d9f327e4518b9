// hermesctl routes test: which route and agent would answer a message, and why.
// It loads the file through the same registries as hermesd and matches with the
// same RuleSet, so its answer is the daemon's answer.
#include <algorithm>
#include <cstdio>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hermes/app/registries.hpp"
#include "hermes/config/loader.hpp"
#include "hermes/ctl/commands.hpp"
#include "hermes/routing/rules.hpp"

namespace hermes::ctl {
namespace {

constexpr const char* kUsage =
    "usage: hermesctl routes test --config FILE --channel NAME|TYPE [--sender S] [--text T] [--model M]\n"
    "                             [--conversation C] [--recipient R]\n"
    "exit: 0 a route answers, 1 no route / rejected / model not found, 2 usage or invalid config\n";

struct RoutesTestArgs {
  std::string config_path;
  std::string channel;
  std::optional<std::string> model;
  routing::RouteQuery query;
};

RoutesTestArgs parse_routes_args(std::vector<std::string> args) {
  if (!args.empty() && args[0] == "test") {
    args.erase(args.begin());  // called with or without the subcommand word
  }
  RoutesTestArgs a;
  std::string model;
  const std::pair<const char*, std::string*> flags[] = {
      {"--config", &a.config_path},         {"--channel", &a.channel}, {"--sender", &a.query.sender},
      {"--text", &a.query.text},            {"--model", &model},       {"--conversation", &a.query.conversation},
      {"--recipient", &a.query.recipient},
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    auto flag = std::find_if(std::begin(flags), std::end(flags), [&](const auto& f) { return args[i] == f.first; });
    if (flag == std::end(flags)) {
      throw UsageError("unknown argument '" + args[i] + "'");
    }
    if (i + 1 >= args.size()) {
      throw UsageError(args[i] + " needs a value");
    }
    *flag->second = args[++i];
    if (flag->second == &model) {
      a.model = model;
    }
  }
  if (a.config_path.empty() || a.channel.empty()) {
    throw UsageError("--config and --channel are required");
  }
  return a;
}

// Fills the query's channel from a configured channel's name, else from a type
// some configured channel has. Returns a note for the reader, or throws.
std::string resolve_channel(const config::Config& cfg, const std::string& wanted, routing::RouteQuery& query) {
  std::vector<const config::ChannelSpec*> of_type;
  std::string configured;
  for (const auto& c : cfg.channels) {
    if (c->name == wanted) {
      query.channel_name = c->name;
      query.channel_type = c->type;
      return "channel: " + c->name + " (type " + c->type + ")";
    }
    if (c->type == wanted) {
      of_type.push_back(c.get());
    }
    configured += (configured.empty() ? "" : ", ") + c->name + " (" + c->type + ")";
  }
  if (of_type.size() == 1) {
    query.channel_name = of_type[0]->name;
    query.channel_type = of_type[0]->type;
    return "channel: " + query.channel_name + " (type " + query.channel_type + ", the only channel of that type)";
  }
  if (of_type.empty()) {
    throw UsageError("no channel named or of type '" + wanted + "' (configured: " +
                     (configured.empty() ? "none" : configured) + ")");
  }
  query.channel_type = wanted;
  std::string names;
  for (const auto* c : of_type) {
    names += (names.empty() ? "" : ", ") + c->name;
  }
  return "channel: any of type " + wanted + " (" + names +
         "); routes naming one of those channels will not match, pass --channel NAME to test them";
}

// Prints how --model is treated; returns an exit code when it settles the answer.
std::optional<int> explain_model(const std::string& model, const config::Config& cfg, const routing::RuleSet& rules) {
  auto resolution = routing::resolve_model(model, cfg, rules);
  switch (resolution.kind) {
    case routing::ModelKind::agent_direct:
      std::printf("model '%s' names agent %s: it goes there directly, routes are not consulted\n"
                  "  (an API key's `agents:` scope still applies)\n"
                  "=> agent %s\n",
                  model.c_str(), resolution.agent.c_str(), resolution.agent.c_str());
      return 0;
    case routing::ModelKind::not_found:
      std::printf("model '%s' names no agent and no route claims it\n=> 404 model_not_found: %s\n", model.c_str(),
                  resolution.message.c_str());
      return 1;
    case routing::ModelKind::use_rules:
      if (model.empty() || model == "auto") {
        std::printf("model '%s': routed by the rules\n", model.c_str());
      } else {
        std::printf("model '%s' is claimed by a route: routed by the rules (a route claiming it must match)\n",
                    model.c_str());
      }
      return std::nullopt;
  }
  return std::nullopt;
}

int report(const routing::RouteDecision& decision) {
  std::printf("%s\n", decision.why.c_str());
  if (!decision.found) {
    std::printf("=> no route: the message would be refused (no_route)\n");
    return 1;
  }
  if (decision.rejected()) {
    std::printf("=> rejected by route %s: \"%s\"\n", decision.rule.c_str(), decision.reject_message->c_str());
    return 1;
  }
  std::printf("=> agent %s (route %s)\n", decision.agent.c_str(), decision.rule.c_str());
  return 0;
}

int run(RoutesTestArgs args) {
  auto loaded = config::load_file(args.config_path, &app::builtin_registries());
  if (!loaded.ok()) {
    std::fputs(config::format_errors(loaded.errors).c_str(), stderr);
    std::fprintf(stderr, "hermesctl: %s is not valid (%zu error(s))\n", args.config_path.c_str(),
                 loaded.errors.size());
    return 2;
  }
  const config::Config& cfg = *loaded.config;
  routing::RuleSet rules(cfg.routes);
  std::printf("%s\n", resolve_channel(cfg, args.channel, args.query).c_str());
  if (args.model) {
    args.query.model = *args.model;
    if (auto settled = explain_model(*args.model, cfg, rules)) {
      return *settled;
    }
  }
  return report(rules.match(args.query, routing::Explain::every_rule));
}

}  // namespace

int routes_test(const std::vector<std::string>& args) {
  try {
    return run(parse_routes_args(args));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "hermesctl routes test: %s\n%s", e.what(), kUsage);
    return 2;
  }
}

}  // namespace hermes::ctl
