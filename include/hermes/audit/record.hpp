#pragma once
// One audit row as stored, its canonical encoding, and the hash chain:
//   hash = HMAC-SHA256(chain key, prev_hash || canonical(row))   (keyed chain)
//   hash = SHA-256(prev_hash || canonical(row))                   (no chain_key)
// Hashes are lower-case hex; the first row of an instance's chain has
// prev_hash = 64 zeros (kGenesisHash).

#include "hermes/core/digest.hpp"
#include "hermes/core/json_writer.hpp"
#include <cstdint>
#include <string>
#include <string_view>

namespace hermes::audit {

inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct AuditRecord {
  std::int64_t id = 0;
  std::int64_t ts = 0;  // UTC milliseconds since the epoch
  std::string instance;
  std::string request_id;
  std::string kind;
  std::string channel;
  std::string session_id;
  std::string sender;
  std::string conversation;
  std::string agent;
  std::string rule;
  std::string decision;
  std::string status;
  std::int64_t latency_ms = -1;  // -1 is stored as NULL
  std::int64_t tokens_in = -1;
  std::int64_t tokens_out = -1;
  std::string detail;  // JSON text
  std::string text;    // per store_text: the text, "sha256:<hex>", or empty
  std::string prev_hash;
  std::string hash;
  std::string answer;  // per store_text, like text (schema version 4)
};

// Thrown by canonical() for a text column that is not valid UTF-8: the writer never
// stores one, so a stored row holding one was changed afterwards.
using hermes::InvalidUtf8;

// A JSON array of every column but the two hashes, in column order; NULL for
// empty strings and negative numbers, exactly as the row reads back. `answer` (added
// in schema version 4) is appended only when it is not empty, so every row written
// before it encodes, and verifies, as it did. Compact, and escaped as
// nlohmann::json::dump() escapes (the chain's definition). Throws InvalidUtf8.
std::string canonical(const AuditRecord& r);

// The chain link for `r` (r.prev_hash must be set). An empty key means plain SHA-256.
std::string chain_hash(const AuditRecord& r, std::string_view key);

// Identifies a chain key without revealing it (stored in audit_meta).
std::string key_fingerprint(std::string_view key);

using hermes::sha256_hex;
// `s` unchanged when it is valid UTF-8; otherwise each invalid sequence becomes U+FFFD.
std::string valid_utf8(std::string s);
using hermes::hmac_sha256_hex;

}  // namespace hermes::audit
