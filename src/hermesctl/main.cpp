// hermesctl: the operator's tool (DESIGN.md "Command line").
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "hermes/app/registries.hpp"
#include "hermes/config/loader.hpp"
#include "hermes/core/build_info.hpp"
#include "hermes/ctl/commands.hpp"

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: hermesctl check-config FILE\n"
               "       hermesctl status [--url http://127.0.0.1:8080]   (admin key from $HERMES_ADMIN_KEY)\n"
               "       hermesctl reload [--url http://127.0.0.1:8080]   (SIGHUP to that hermesd, on this host)\n"
               "       hermesctl audit query|verify|export (--db PATH | --config FILE) ...\n"
               "       hermesctl routes test --config FILE --channel NAME|TYPE [--sender S] [--text T] [--model M]\n"
               "       hermesctl --version\n");
}

int check_config(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    std::fprintf(stderr, "usage: hermesctl check-config FILE\n");
    return 2;
  }
  auto loaded = hermes::config::load_file(args[0], &hermes::app::builtin_registries());
  if (!loaded.ok()) {
    std::fputs(hermes::config::format_errors(loaded.errors).c_str(), stdout);
    std::fflush(stdout);  // errors before the count, also when both go to one pipe
    std::fprintf(stderr, "%s: %zu error(s)\n", args[0].c_str(), loaded.errors.size());
    return 1;
  }
  std::fputs(hermes::config::format_errors(loaded.warnings).c_str(), stdout);
  const auto& c = *loaded.config;
  std::printf("%s: OK (%zu listener(s), %zu channel(s), %zu model(s), %zu agent(s), %zu route(s), sha256 %s)\n",
              args[0].c_str(), c.listeners.size(), c.channels.size(), c.models.size(), c.agents.size(),
              c.routes.size(), c.sha256.substr(0, 12).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "check-config") return check_config(args);
  if (command == "status") return hermes::ctl::status(args);
  if (command == "reload") return hermes::ctl::reload(args);
  if (command == "audit") return hermes::ctl::audit_command(args);
  if (command == "routes" && !args.empty() && args[0] == "test") {
    return hermes::ctl::routes_test(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (command == "--version") {
    std::printf("hermesctl %s (%s)\n", std::string(hermes::build::version()).c_str(),
                std::string(hermes::build::commit()).c_str());
    return 0;
  }
  if (command == "--help" || command == "-h" || command == "help") {
    usage(stdout);
    return 0;
  }
  std::fprintf(stderr, "hermesctl: unknown command '%s'\n", command.c_str());
  usage(stderr);
  return 2;
}
