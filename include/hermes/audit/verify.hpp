#pragma once
// Walks every instance's hash chain and reports the first row that breaks it.

#include <cstdint>
#include <string>
#include <vector>

#include "hermes/store/database.hpp"

namespace hermes::audit {

struct ChainHead {
  std::string instance;
  std::int64_t rows = 0;
  std::int64_t head_id = 0;
  std::string head_hash;
  std::int64_t anchored_at = 0;  // retention checkpoint the chain starts from (0: genesis)
};

struct VerifyResult {
  bool ok = false;
  std::int64_t bad_row_id = 0;  // the first row that fails, when !ok
  std::string reason;           // why, or a configuration problem (no key, wrong key)
  std::string chain;            // "hmac-sha256" | "sha256"
  std::int64_t rows_checked = 0;
  std::vector<ChainHead> heads;
};

// `key` is audit.chain_key (empty for a plain SHA-256 chain).
VerifyResult verify_chain(store::Database& db, const std::string& key);

}  // namespace hermes::audit
