#pragma once
// hermesctl subcommands that are more than a few lines; each returns an exit code.

#include <string>
#include <vector>

namespace hermes::ctl {

int status(const std::vector<std::string>& args);
// hermesctl reload [--url]: SIGHUP to the hermesd whose /status answers there.
int reload(const std::vector<std::string>& args);
int audit_command(const std::vector<std::string>& args);
int routes_test(const std::vector<std::string>& args);  // args after "routes" or after "routes test"

}  // namespace hermes::ctl
