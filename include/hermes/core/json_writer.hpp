#pragma once
// Compact JSON written straight into a string, for the hot paths (API replies, SSE
// chunks, upstream request bodies, audit rows), where building a nlohmann::json DOM
// costs more than the work itself. Strings are escaped exactly as
// nlohmann::json::dump() escapes them, so output hashed before stays comparable.
// Parsing: nlohmann, and simdjson where every request pays (hermes/core/json_dom.hpp).

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hermes {

// Length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no overlongs, no surrogates).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

struct InvalidUtf8 : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Utf8Errors {
  replace,  // each invalid byte becomes U+FFFD (what a client should see)
  reject,   // throw InvalidUtf8 (what a hash chain needs)
};

// Appends `s` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view s, Utf8Errors errors = Utf8Errors::replace);

// Writes one JSON value; commas are placed for you. Misuse (a value where a key
// belongs) is not checked: keep each writer's code next to the shape it writes.
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out, Utf8Errors errors = Utf8Errors::replace) : out_(out), errors_(errors) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view name);
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(std::int64_t number);
  JsonWriter& value(int number) { return value(static_cast<std::int64_t>(number)); }
  JsonWriter& value(double number);
  JsonWriter& boolean(bool b);
  JsonWriter& null();
  JsonWriter& raw(std::string_view json);  // an already-encoded value

 private:
  void separate();

  std::string& out_;
  Utf8Errors errors_;
  bool need_comma_ = false;
};

}  // namespace hermes
