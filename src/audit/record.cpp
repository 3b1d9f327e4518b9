#include "hermes/audit/record.hpp"

#include <nlohmann/json.hpp>

namespace hermes::audit {
namespace {


nlohmann::json text_or_null(const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); }
nlohmann::json int_or_null(std::int64_t v) { return v < 0 ? nlohmann::json() : nlohmann::json(v); }

}  // namespace

std::string canonical(const AuditRecord& r) {
  nlohmann::json row = nlohmann::json::array({r.id, r.ts, text_or_null(r.instance), text_or_null(r.request_id),
                                              text_or_null(r.kind), text_or_null(r.channel),
                                              text_or_null(r.session_id), text_or_null(r.sender),
                                              text_or_null(r.conversation), text_or_null(r.agent),
                                              text_or_null(r.rule), text_or_null(r.decision),
                                              text_or_null(r.status), int_or_null(r.latency_ms),
                                              int_or_null(r.tokens_in), int_or_null(r.tokens_out),
                                              text_or_null(r.detail), text_or_null(r.text)});
  // Strict: the writer stores only valid UTF-8 (valid_utf8), so invalid bytes in
  // a stored row mean it was edited; dump() throws and verify reports the row.
  return row.dump();
}

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

}  // namespace

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
