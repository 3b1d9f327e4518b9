#pragma once
// hermesctl subcommands that are more than a few lines; each returns an exit code.

#include <nlohmann/json.hpp>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hermes::ctl {

// A command line that cannot be run: the message is printed with the command's usage.
class UsageError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

int status(const std::vector<std::string>& args);
// hermesctl reload [--url]: SIGHUP to the hermesd whose /status answers there.
int reload(const std::vector<std::string>& args);
int audit_command(const std::vector<std::string>& args);
// GET URL/status (HERMES_ADMIN_KEY as the bearer key when set): the JSON, or nullopt
// with `error` set (no "hermesctl:" prefix) and `rc` 1, or 2 for a malformed URL.
std::optional<nlohmann::json> query_status(const std::string& url, int& rc, std::string& error);
int routes_test(const std::vector<std::string>& args);  // args after "routes" or after "routes test"

}  // namespace hermes::ctl
