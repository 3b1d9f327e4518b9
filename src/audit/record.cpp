#include "hermes/audit/record.hpp"

#include "hermes/core/json_writer.hpp"

namespace hermes::audit {

namespace {

void text_or_null(JsonWriter& w, const std::string& s) {
  if (s.empty()) {
    w.null();
  } else {
    w.value(s);
  }
}

void number_or_null(JsonWriter& w, std::int64_t v) {
  if (v < 0) {
    w.null();
  } else {
    w.value(v);
  }
}

}  // namespace

// Written by hand rather than through a JSON DOM: it runs for every audit row, and the
// DOM's allocations cost more than the hash.
std::string canonical(const AuditRecord& r) {
  std::string out;
  out.reserve(256 + r.detail.size() + r.text.size() + r.answer.size());
  JsonWriter w(out, Utf8Errors::reject);
  w.begin_array().value(r.id).value(r.ts);
  for (const std::string* field : {&r.instance, &r.request_id, &r.kind, &r.channel, &r.session_id, &r.sender,
                                   &r.conversation, &r.agent, &r.rule, &r.decision, &r.status}) {
    text_or_null(w, *field);
  }
  for (std::int64_t v : {r.latency_ms, r.tokens_in, r.tokens_out}) number_or_null(w, v);
  text_or_null(w, r.detail);
  text_or_null(w, r.text);
  if (!r.answer.empty()) w.value(r.answer);
  w.end_array();
  return out;
}

std::string valid_utf8(std::string s) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {  // ASCII without a call per byte: most of every row
      ++i;
      continue;
    }
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
