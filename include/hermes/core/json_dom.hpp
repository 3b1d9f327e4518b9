#pragma once
// Full-validation JSON parsing with simdjson's DOM, for the parses every request pays
// for (the API request body, the openai backend's answers and stream chunks): several
// times cheaper than nlohmann, which stays for everything else.
//
// This header includes <simdjson.h> (1.2 MB): include it from .cpp files only.
// SIMDJSON_THREADS_ENABLED changes dom::parser's layout, so every file must agree:
// -pthread already turns it on, as in the library's own build, and the define below
// holds without -pthread too. (CMakeLists.txt links simdjson without its usage
// requirements, so that its -D does not change every file's command line.)
//
// parse_json accepts exactly what nlohmann::json::parse accepts: RFC 8259 JSON in
// valid UTF-8, plus a leading UTF-8 byte order mark; any nesting depth; integers past
// 64 bits (as doubles); and, like nlohmann's lexer, it stops at a NUL byte.

#ifndef SIMDJSON_THREADS_ENABLED
#define SIMDJSON_THREADS_ENABLED 1
#endif
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hermes {

// Parses `text` into `root`; false when it is not one well-formed JSON value. `root`
// borrows this thread's parser: it stays valid until the next parse_json() on the same
// thread, so read it before any co_await. Documents up to kKeptJsonCapacity reuse the
// thread's buffers (no allocation once warm); larger or deeper ones get buffers of
// their own, freed by the next call.
bool parse_json(std::string_view text, simdjson::dom::element& root);

// Where and why `text` is not JSON, in nlohmann's words ("parse error at line 1, column 2:
// …"), at most about 200 bytes. For error messages only: it parses the text again.
std::string json_error_position(std::string_view text);

inline constexpr std::size_t kKeptJsonCapacity = 256 * 1024;

// An integer as nlohmann's is_number_integer() and get<std::int64_t>() read it: past
// INT64_MAX a uint64 wraps; nullopt for anything else, 1.0 included.
inline std::optional<std::int64_t> json_integer(simdjson::dom::element value) {
  std::int64_t n = 0;
  std::uint64_t u = 0;
  if (value.get(n) == simdjson::SUCCESS) {
    return n;
  }
  if (value.is_uint64() && value.get(u) == simdjson::SUCCESS) {
    return static_cast<std::int64_t>(u);
  }
  return std::nullopt;
}

// `text` with ".0" after each integer that fits neither int64 nor uint64, strings left
// alone (simdjson refuses such integers, nlohmann reads them as doubles); nullopt when
// there is none.
std::optional<std::string> widen_big_integers(std::string_view text);

}  // namespace hermes
