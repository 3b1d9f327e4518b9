#include "hermes/core/json_dom.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>

namespace hermes {
namespace {

constexpr std::size_t kFirstCapacity = 4096;

// This thread's parser and the padded copy of the input it reads (simdjson reads up to
// SIMDJSON_PADDING bytes past the end, so the caller's buffer is never handed over).
struct ThreadParser {
  simdjson::dom::parser parser;
  simdjson::dom::document document;
  std::unique_ptr<char[]> input;
  std::size_t capacity = 0;

  // Grows by powers of two up to kKeptJsonCapacity, so a conversation that grows by a
  // turn per request does not reallocate every time.
  bool reserve(std::size_t size) {
    if (size <= capacity && capacity > 0) {
      return true;
    }
    std::size_t grown = std::min(std::bit_ceil(std::max(size, kFirstCapacity)), kKeptJsonCapacity);
    if (parser.allocate(grown) != simdjson::SUCCESS || document.allocate(grown) != simdjson::SUCCESS) {
      return false;
    }
    input = std::make_unique_for_overwrite<char[]>(grown + simdjson::SIMDJSON_PADDING);
    capacity = grown;
    return true;
  }

  simdjson::error_code parse(std::string_view text, simdjson::dom::element& root) {
    if (!reserve(text.size())) {
      return simdjson::MEMALLOC;
    }
    std::memcpy(input.get(), text.data(), text.size());
    std::memset(input.get() + text.size(), 0, simdjson::SIMDJSON_PADDING);
    return parser.parse_into_document(document, input.get(), text.size(), false).get(root);
  }
};

thread_local ThreadParser kept_parser;
// A parser of its own for one document too large or too deep for the kept one (simdjson
// copies the input into a padded buffer of its own).
thread_local std::unique_ptr<simdjson::dom::parser> one_off_parser;

simdjson::error_code parse_one_off(std::string_view text, std::size_t max_depth, simdjson::dom::element& root) {
  one_off_parser = std::make_unique<simdjson::dom::parser>();
  if (auto error = one_off_parser->allocate(text.size(), max_depth)) {
    return error;
  }
  return one_off_parser->parse(text.data(), text.size()).get(root);
}

simdjson::error_code parse_once(std::string_view text, simdjson::dom::element& root) {
  simdjson::error_code error = simdjson::CAPACITY;
  if (text.size() <= kKeptJsonCapacity) {
    error = kept_parser.parse(text, root);
  }
  if (error == simdjson::CAPACITY) {
    error = parse_one_off(text, simdjson::DEFAULT_MAX_DEPTH, root);
  }
  if (error == simdjson::DEPTH_ERROR) {
    // nlohmann has no depth limit. A level takes two bytes, so this depth fits any
    // document of this size (9 bytes a level: only documents that need it pay).
    error = parse_one_off(text, text.size() / 2 + 2, root);
  }
  return error;
}

}  // namespace

bool parse_json(std::string_view text, simdjson::dom::element& root) {
  one_off_parser.reset();
  // nlohmann skips a UTF-8 byte order mark at the very start (simdjson 3.0 does not),
  // and its lexer takes a NUL byte for the end of the input (inside a string, where
  // nlohmann refuses it, the cut leaves the string open: refused here too).
  if (text.starts_with("\xEF\xBB\xBF")) {
    text.remove_prefix(3);
  }
  if (auto nul = text.find('\0'); nul != std::string_view::npos) {
    text = text.substr(0, nul);
  }
  simdjson::error_code error = parse_once(text, root);
  if (error == simdjson::NUMBER_ERROR) {
    if (auto widened = widen_big_integers(text)) {
      // The DOM holds copies of strings and numbers, never pointers into the input.
      error = parse_once(*widened, root);
    }
  }
  return error == simdjson::SUCCESS;
}

std::string json_error_position(std::string_view text) {
  try {
    nlohmann::json parsed = nlohmann::json::parse(text);  // throws where it stops
    (void)parsed;
  } catch (const nlohmann::json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 2: …": the part a
    // client can act on, short (it may quote the client's own bytes).
    std::string message = e.what();
    if (auto at = message.find("parse error"); at != std::string::npos) message.erase(0, at);
    if (message.size() > 200) message = message.substr(0, 200) + "…";
    return message;
  } catch (const std::exception& e) {
    return e.what();
  }
  return "parse error";
}

std::optional<std::string> widen_big_integers(std::string_view text) {
  std::optional<std::string> out;
  std::size_t copied = 0;  // text before this offset is in *out already
  std::size_t i = 0;
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < text.size()) {
    char c = text[i];
    if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\') {
          ++i;
        }
      }
      ++i;
      continue;
    }
    if (c != '-' && !is_digit(c)) {
      ++i;
      continue;
    }
    bool negative = c == '-';
    std::size_t digits = negative ? i + 1 : i;
    std::size_t end = digits;
    while (end < text.size() && is_digit(text[end])) {
      ++end;
    }
    bool fraction = end < text.size() && (text[end] == '.' || text[end] == 'e' || text[end] == 'E');
    if (fraction) {
      // The rest of a float, exponent included, is no integer of its own.
      while (end < text.size() && (is_digit(text[end]) || std::strchr(".eE+-", text[end]) != nullptr)) {
        ++end;
      }
    } else {
      // Beyond these (19 and 20 digits) an integer fits neither int64 nor uint64.
      std::string_view limit = negative ? "9223372036854775808" : "18446744073709551615";
      std::string_view number = text.substr(digits, end - digits);
      if (number.size() > limit.size() || (number.size() == limit.size() && number > limit)) {
        if (!out) {
          out.emplace();
          out->reserve(text.size() + 16);
        }
        out->append(text.substr(copied, end - copied));
        out->append(".0");
        copied = end;
      }
    }
    i = std::max(end, i + 1);
  }
  if (out) {
    out->append(text.substr(copied));
  }
  return out;
}

}  // namespace hermes
