#include "hermes/audit/record.hpp"

#include <charconv>
#include <stdexcept>

namespace hermes::audit {

namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no overlongs, no surrogates).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return n;
}

// JSON string escaping exactly as nlohmann::json::dump() does it (the encoding the
// chain was defined with): short escapes for \b \t \n \f \r " \\, \u00xx for other
// control bytes, everything else (UTF-8 included) verbatim. Invalid UTF-8 throws.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_sequence_length(s, i);
      if (n == 0) throw InvalidUtf8("invalid UTF-8 at byte " + std::to_string(i));
      out.append(s, i, n);
      i += n;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

void append_text_or_null(std::string& out, const std::string& s) {
  if (s.empty()) {
    out += "null";
  } else {
    append_json_string(out, s);
  }
}

void append_int(std::string& out, std::int64_t v) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;
  out.append(digits, end);
}

void append_int_or_null(std::string& out, std::int64_t v) {
  if (v < 0) {
    out += "null";
  } else {
    append_int(out, v);
  }
}

}  // namespace

// Written by hand rather than through a JSON DOM: it runs for every audit row, and the
// DOM's allocations cost more than the hash.
std::string canonical(const AuditRecord& r) {
  std::string out;
  out.reserve(256 + r.detail.size() + r.text.size());
  out += '[';
  append_int(out, r.id);
  out += ',';
  append_int(out, r.ts);
  for (const std::string* field : {&r.instance, &r.request_id, &r.kind, &r.channel, &r.session_id, &r.sender,
                                   &r.conversation, &r.agent, &r.rule, &r.decision, &r.status}) {
    out += ',';
    append_text_or_null(out, *field);
  }
  for (std::int64_t v : {r.latency_ms, r.tokens_in, r.tokens_out}) {
    out += ',';
    append_int_or_null(out, v);
  }
  for (const std::string* field : {&r.detail, &r.text}) {
    out += ',';
    append_text_or_null(out, *field);
  }
  out += ']';
  return out;
}

std::string valid_utf8(std::string s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) break;
    i += n;
  }
  if (i == s.size()) return s;  // the common case: nothing to copy
  std::string out = s.substr(0, i);
  while (i < s.size()) {
    std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

std::string chain_hash(const AuditRecord& r, std::string_view key) {
  std::string message = r.prev_hash;
  message += canonical(r);
  return key.empty() ? sha256_hex(message) : hmac_sha256_hex(key, message);
}

std::string key_fingerprint(std::string_view key) {
  return hmac_sha256_hex(key, "hermes-audit-chain-key-fingerprint").substr(0, 16);
}

}  // namespace hermes::audit
