#include "hermes/config/reader.hpp"

#include <limits>

namespace hermes::config {
namespace {

const char* kind_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a scalar";
    default: return "nothing";
  }
}

bool require_scalar(const YAML::Node& node, const std::string& path, ParseContext& ctx, const char* expected) {
  if (node.IsScalar()) {
    return true;
  }
  ctx.error(node, path, std::string("expected ") + expected + ", got " + kind_name(node));
  return false;
}

template <class Int>
std::optional<Int> convert_integer(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  if (!require_scalar(node, path, ctx, "an integer")) {
    return std::nullopt;
  }
  const std::string& text = node.Scalar();
  long long value = 0;
  std::size_t used = 0;
  try {
    value = std::stoll(text, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) {
    ctx.error(node, path, "expected an integer, got '" + text + "'");
    return std::nullopt;
  }
  // (value > 0 first: a negative value cast to unsigned would compare as huge.)
  if (value < static_cast<long long>(std::numeric_limits<Int>::min()) ||
      (value > 0 &&
       static_cast<unsigned long long>(value) > static_cast<unsigned long long>(std::numeric_limits<Int>::max()))) {
    ctx.error(node, path, "integer " + text + " is out of range");
    return std::nullopt;
  }
  return static_cast<Int>(value);
}

}  // namespace

void ParseContext::error(const YAML::Mark& mark, std::string path, std::string message) {
  ConfigError e;
  e.file = file_;
  if (!mark.is_null()) {
    e.line = mark.line + 1;
    e.column = mark.column + 1;
  }
  e.path = std::move(path);
  e.message = std::move(message);
  errors_.push_back(std::move(e));
}

void ParseContext::error(const YAML::Node& at, std::string path, std::string message) {
  error(at.IsDefined() ? at.Mark() : YAML::Mark::null_mark(), std::move(path), std::move(message));
}

void ParseContext::warning(const YAML::Node& at, std::string path, std::string message) {
  auto where = location(at);
  warnings_.push_back(ConfigError{file_, where.line, where.column, std::move(path), std::move(message)});
}

void ParseContext::error_at(const SourceLocation& at, std::string path, std::string message) {
  errors_.push_back(ConfigError{file_, at.line, at.column, std::move(path), std::move(message)});
}

SourceLocation ParseContext::location(const YAML::Node& node) const {
  if (!node.IsDefined() || node.Mark().is_null()) {
    return {file_, 0, 0};
  }
  return {file_, node.Mark().line + 1, node.Mark().column + 1};
}

std::string join_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) {
    return std::string(key);
  }
  return std::string(parent) + "." + std::string(key);
}

std::string index_path(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

template <>
std::optional<std::string> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  if (!require_scalar(node, path, ctx, "a string")) return std::nullopt;
  return node.Scalar();
}

template <>
std::optional<bool> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  if (!require_scalar(node, path, ctx, "true or false")) return std::nullopt;
  const std::string& s = node.Scalar();
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  ctx.error(node, path, "expected true or false, got '" + s + "'");
  return std::nullopt;
}

template <>
std::optional<std::int64_t> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  return convert_integer<std::int64_t>(node, path, ctx);
}

template <>
std::optional<std::uint32_t> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  return convert_integer<std::uint32_t>(node, path, ctx);
}

template <>
std::optional<std::uint16_t> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  return convert_integer<std::uint16_t>(node, path, ctx);
}

template <>
std::optional<Duration> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  if (!require_scalar(node, path, ctx, "a duration")) return std::nullopt;
  auto d = parse_duration(node.Scalar());
  if (!d) {
    ctx.error(node, path, "invalid duration '" + node.Scalar() + "' (use e.g. 250ms, 30s, 5m, 24h, 400d; at most 36500d)");
  }
  return d;
}

template <>
std::optional<Rate> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  if (!require_scalar(node, path, ctx, "a rate")) return std::nullopt;
  auto r = parse_rate(node.Scalar());
  if (!r) {
    ctx.error(node, path, "invalid rate '" + node.Scalar() + "' (use e.g. 20/min, 5/s, 1000/h)");
  }
  return r;
}

template <>
std::optional<ByteSize> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  if (!require_scalar(node, path, ctx, "a size")) return std::nullopt;
  auto s = parse_byte_size(node.Scalar());
  if (!s) {
    ctx.error(node, path, "invalid size '" + node.Scalar() + "' (use e.g. 512KiB, 1MiB, 2GiB)");
  }
  return s;
}

template <>
std::optional<Cidr> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  if (!require_scalar(node, path, ctx, "a CIDR")) return std::nullopt;
  auto c = Cidr::parse(node.Scalar());
  if (!c) {
    ctx.error(node, path, "invalid CIDR '" + node.Scalar() + "' (use e.g. 10.0.0.0/8 or fd00::/8)");
  }
  return c;
}

template <>
std::optional<IpAddress> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  if (!require_scalar(node, path, ctx, "an IP address")) return std::nullopt;
  auto a = IpAddress::parse(node.Scalar());
  if (!a) {
    ctx.error(node, path, "invalid IP address '" + node.Scalar() + "'");
  }
  return a;
}

template <>
std::optional<Secret> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  if (!require_scalar(node, path, ctx, "a secret reference")) return std::nullopt;
  auto result = resolve_secret(node.Scalar(), ctx.secrets());
  if (!result.secret) {
    ctx.error(node, path, result.error);
  } else if (result.secret->source() == "inline" && !result.secret->empty()) {
    ctx.warning(node, path,
                "warning: an inline secret is readable by anyone who can read this file or its backups; use "
                "${env:NAME}, ${file:PATH} or ${credential:NAME}");
  }
  return result.secret;
}

template <>
std::optional<standard_webhooks::Scheme> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  return convert_enum<standard_webhooks::Scheme>(
      node, path, ctx,
      {{"hermes-v1", standard_webhooks::Scheme::hermes_v1}, {"standard", standard_webhooks::Scheme::standard}});
}

template <>
std::optional<std::vector<std::string>> convert(const YAML::Node& node, const std::string& path,
                                                ParseContext& ctx) {
  std::size_t before = ctx.errors().size();
  auto items = parse_list<std::string>(node, path, ctx, [&](const YAML::Node& n, const std::string& p) {
    return convert<std::string>(n, p, ctx);
  });
  if (ctx.errors().size() != before) return std::nullopt;
  return items;
}

template <>
std::optional<std::vector<Cidr>> convert(const YAML::Node& node, const std::string& path, ParseContext& ctx) {
  std::size_t before = ctx.errors().size();
  auto items = parse_list<Cidr>(node, path, ctx, [&](const YAML::Node& n, const std::string& p) {
    return convert<Cidr>(n, p, ctx);
  });
  if (ctx.errors().size() != before) return std::nullopt;
  return items;
}

MapReader::MapReader(const YAML::Node& node, std::string path, ParseContext& ctx)
    : node_(node), path_(std::move(path)), ctx_(ctx) {
  if (!node_.IsDefined() || node_.IsNull()) {
    valid_ = false;
    return;
  }
  if (!node_.IsMap()) {
    ctx_.error(node_, path_, std::string("expected a map, got ") + kind_name(node_));
    valid_ = false;
    return;
  }
  // yaml-cpp keeps repeated keys; the YAML spec forbids them, and silently
  // taking one of two values is how outages start.
  std::set<std::string, std::less<>> seen;
  for (const auto& kv : node_) {
    const std::string& key = kv.first.Scalar();
    if (!seen.insert(key).second) {
      ctx_.error(kv.first, path_of(key), "duplicate key '" + key + "'");
    }
  }
}

bool MapReader::has(std::string_view key) const {
  if (!valid_) return false;
  const YAML::Node& n = node_;
  return n[std::string(key)].IsDefined();
}

YAML::Node MapReader::child(std::string_view key) {
  used_.insert(std::string(key));
  if (!valid_) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node& n = node_;
  return n[std::string(key)];
}

void MapReader::missing(std::string_view key) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    return;  // "expected a map" was reported once; its keys are not also missing
  }
  if (!node_.IsDefined() || node_.Mark().is_null()) {
    ctx_.error(YAML::Mark::null_mark(), path_of(key), "missing required key");
  } else {
    ctx_.error(node_, path_of(key), "missing required key '" + std::string(key) + "'");
  }
}

void MapReader::finish() {
  if (!valid_) return;
  for (const auto& kv : node_) {
    const std::string& key = kv.first.Scalar();
    if (used_.find(key) == used_.end()) {
      std::string known;
      for (const auto& k : used_) {
        known += known.empty() ? k : ", " + k;
      }
      ctx_.error(kv.first, path_of(key), "unknown key '" + key + "' (expected one of: " + known + ")");
    }
  }
}

}  // namespace hermes::config
