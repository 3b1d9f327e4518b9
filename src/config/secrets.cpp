#include "hermes/config/secrets.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace hermes::config {
namespace {

constexpr std::uintmax_t kMaxSecretFile = 64 * 1024;

// A secret file's contents; the reason it cannot be one otherwise. Only regular files of
// at most 64 KiB: a FIFO or a device would block or never end, on the thread that loads.
std::optional<std::string> read_whole_file(const std::filesystem::path& path, std::string& why) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    why = "does not exist or cannot be reached";
    return std::nullopt;
  }
  if (!std::filesystem::is_regular_file(status)) {
    why = "is not a regular file";
    return std::nullopt;
  }
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxSecretFile) {
    why = ec ? "cannot be read" : "is larger than 64 KiB";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot be opened";
    return std::nullopt;
  }
  std::string text(static_cast<std::size_t>(kMaxSecretFile) + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxSecretFile) {
    why = "is larger than 64 KiB";  // grew since it was measured
    return std::nullopt;
  }
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
    std::string why;
    auto v = read_whole_file(p, why);
    if (!v) {
      return {std::nullopt, "cannot read secret file " + p.string() + ": it " + why};
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
    std::string why;
    auto v = read_whole_file(std::filesystem::path(*dir) / arg, why);
    if (!v || v->empty()) {
      return {std::nullopt, "credential " + arg + " is missing or empty in $CREDENTIALS_DIRECTORY"};
    }
    return {Secret(*v, "credential:" + arg), {}};
  }
  return {std::nullopt, "unknown secret reference scheme '" + scheme + "' (use env, file or credential)"};
}

}  // namespace hermes::config
