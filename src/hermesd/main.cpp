// hermesd: the Hermes gateway daemon.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "hermes/app/gateway.hpp"
#include "hermes/app/registries.hpp"
#include "hermes/config/loader.hpp"
#include "hermes/core/build_info.hpp"

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: hermesd --config FILE\n"
               "       hermesd --version\n\n"
               "Runs the Hermes AI gateway. Refuses to start on an invalid configuration;\n"
               "check a file first with `hermesctl check-config FILE`.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--config" || arg == "-c") && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "--version") {
      std::printf("hermesd %s (%s)\n", std::string(hermes::build::version()).c_str(),
                  std::string(hermes::build::commit()).c_str());
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "hermesd: unknown argument '%s'\n", arg.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (config_path.empty()) {
    usage(stderr);
    return 2;
  }
  auto loaded = hermes::config::load_file(config_path, &hermes::app::builtin_registries());
  if (!loaded.ok()) {
    std::fprintf(stderr, "hermesd: refusing to start: %zu configuration error(s)\n", loaded.errors.size());
    std::fputs(hermes::config::format_errors(loaded.errors).c_str(), stderr);
    return 1;
  }
  std::fputs(hermes::config::format_errors(loaded.warnings).c_str(), stderr);  // starts all the same
  try {
    hermes::app::Gateway gateway(loaded.config);
    return gateway.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hermesd: fatal: %s\n", e.what());
    return 1;
  }
}
