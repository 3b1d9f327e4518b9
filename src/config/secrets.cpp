#include "hermes/config/secrets.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace hermes::config {
namespace {

std::optional<std::string> read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string text = buf.str();
  // Files written by `echo` or editors end with a newline that is not part of the secret.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
    text.pop_back();
  }
  return text;
}

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return name != "." && name != "..";
}

}  // namespace

SecretEnvironment SecretEnvironment::from_process(std::filesystem::path base_dir) {
  SecretEnvironment env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  env.base_dir = std::move(base_dir);
  return env;
}

SecretResult resolve_secret(std::string_view value, const SecretEnvironment& env) {
  if (!value.starts_with("${")) {
    return {Secret(std::string(value), "inline"), {}};
  }
  if (!value.ends_with("}")) {
    return {std::nullopt, "malformed secret reference: expected ${env:NAME}, ${file:PATH} or ${credential:NAME}"};
  }
  std::string_view inner = value.substr(2, value.size() - 3);
  auto colon = inner.find(':');
  if (colon == std::string_view::npos) {
    return {std::nullopt, "malformed secret reference: expected ${env:NAME}, ${file:PATH} or ${credential:NAME}"};
  }
  std::string scheme(inner.substr(0, colon));
  std::string arg(inner.substr(colon + 1));
  if (arg.empty()) {
    return {std::nullopt, "secret reference ${" + scheme + ":} names nothing"};
  }
  if (scheme == "env") {
    auto v = env.getenv ? env.getenv(arg) : std::nullopt;
    if (!v || v->empty()) {
      return {std::nullopt, "environment variable " + arg + " is not set or empty"};
    }
    return {Secret(*v, "env:" + arg), {}};
  }
  if (scheme == "file") {
    std::filesystem::path p(arg);
    if (p.is_relative()) {
      p = env.base_dir / p;
    }
    auto v = read_whole_file(p);
    if (!v) {
      return {std::nullopt, "cannot read secret file " + p.string()};
    }
    if (v->empty()) {
      return {std::nullopt, "secret file " + p.string() + " is empty"};
    }
    return {Secret(*v, "file:" + p.string()), {}};
  }
  if (scheme == "credential") {
    if (!valid_name(arg)) {
      return {std::nullopt, "credential name '" + arg + "' is not a plain file name"};
    }
    auto dir = env.getenv ? env.getenv("CREDENTIALS_DIRECTORY") : std::nullopt;
    if (!dir || dir->empty()) {
      return {std::nullopt, "credential " + arg +
                                " needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=), which is not set"};
    }
    auto v = read_whole_file(std::filesystem::path(*dir) / arg);
    if (!v || v->empty()) {
      return {std::nullopt, "credential " + arg + " is missing or empty in $CREDENTIALS_DIRECTORY"};
    }
    return {Secret(*v, "credential:" + arg), {}};
  }
  return {std::nullopt, "unknown secret reference scheme '" + scheme + "' (use env, file or credential)"};
}

}  // namespace hermes::config
