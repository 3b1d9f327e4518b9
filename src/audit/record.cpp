#include "hermes/audit/record.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <nlohmann/json.hpp>

namespace hermes::audit {
namespace {

std::string to_hex(const unsigned char* data, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 0xf];
  }
  return out;
}

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
  // Invalid UTF-8 must not make hashing throw; replace it deterministically.
  return row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return to_hex(digest, sizeof digest);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), digest, &len);
  return to_hex(digest, len);
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
