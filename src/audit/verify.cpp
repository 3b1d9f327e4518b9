#include "hermes/audit/verify.hpp"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "hermes/audit/query.hpp"
#include "hermes/audit/record.hpp"

namespace hermes::audit {
namespace {

struct Checkpoint {
  std::int64_t through_id = 0;
  std::string hash;
};

bool check_key(store::Database& db, const std::string& key, VerifyResult& out) {
  std::string mode = "sha256", fingerprint;
  auto meta = db.prepare("SELECT key, value FROM audit_meta WHERE key IN ('chain', 'key_fingerprint')");
  while (meta.step()) {
    (meta.column_text(0) == "chain" ? mode : fingerprint) = meta.column_text(1);
  }
  out.chain = mode;
  if (mode == "hmac-sha256" && key.empty()) {
    out.reason = "this database uses a keyed chain (hmac-sha256): give the chain key with --config or --chain-key-file";
    return false;
  }
  if (mode == "hmac-sha256" && key_fingerprint(key) != fingerprint) {
    out.reason = "the chain key given is not the one this database was written with";
    return false;
  }
  if (mode == "sha256" && !key.empty()) {
    out.reason = "this database uses a plain SHA-256 chain, but a chain key was given";
    return false;
  }
  return true;
}

// The latest checkpoint per instance, and the checkpoints attested by chained audit.retention rows.
std::map<std::string, Checkpoint> load_checkpoints(store::Database& db) {
  std::map<std::string, Checkpoint> latest;
  auto s = db.prepare("SELECT instance, through_id, hash FROM audit_checkpoints ORDER BY instance, through_id");
  while (s.step()) latest[s.column_text(0)] = {s.column_int(1), s.column_text(2)};
  return latest;
}

void collect_attestations(const AuditRecord& r, std::set<std::string>& attested) {
  if (r.kind != "audit.retention") return;
  auto detail = nlohmann::json::parse(r.detail, nullptr, false);
  if (!detail.is_object() || !detail.contains("checkpoints")) return;
  for (const auto& c : detail["checkpoints"]) {
    attested.insert(c.value("instance", "") + "#" + std::to_string(c.value("through_id", 0LL)) + "#" +
                    c.value("hash", ""));
  }
}

}  // namespace

VerifyResult verify_chain(store::Database& db, const std::string& key) {
  VerifyResult out;
  if (!check_key(db, key, out)) return out;
  auto checkpoints = load_checkpoints(db);
  std::set<std::string> attested;
  std::map<std::string, ChainHead> heads;
  // In id order, the order rows were written: each instance's chain is followed through
  // its own last hash, so no (instance, id) index is needed (every index costs the writer).
  auto rows = db.prepare("SELECT " + record_columns(db) + " FROM audit_events ORDER BY id");
  std::map<std::string, std::string> expected_prev_of;  // instance -> the prev_hash its next row must carry
  while (rows.step()) {
    AuditRecord r = read_record(rows);
    auto [chain, first_of_instance] = expected_prev_of.try_emplace(r.instance, kGenesisHash);
    std::string& expected_prev = chain->second;
    if (first_of_instance) {
      auto cp = checkpoints.find(r.instance);
      if (cp != checkpoints.end() && cp->second.through_id < r.id) {
        expected_prev = cp->second.hash;
        heads[r.instance].anchored_at = cp->second.through_id;
      }
    }
    if (r.prev_hash != expected_prev) {
      out.bad_row_id = r.id;
      out.reason = "prev_hash does not link to the row before it in instance '" + r.instance +
                   "' (a row was deleted or inserted before this one)";
      return out;
    }
    std::string recomputed;
    try {
      recomputed = chain_hash(r, key);
    } catch (const InvalidUtf8&) {
      out.bad_row_id = r.id;
      out.reason = "the row holds invalid UTF-8, which the writer never stores: it was changed after it was written";
      return out;
    }
    if (recomputed != r.hash) {
      out.bad_row_id = r.id;
      out.reason = "hash mismatch: the row was changed after it was written";
      return out;
    }
    collect_attestations(r, attested);
    expected_prev = r.hash;
    auto& h = heads[r.instance];
    h.instance = r.instance;
    ++h.rows;
    h.head_id = r.id;
    h.head_hash = r.hash;
    ++out.rows_checked;
  }
  for (auto& [instance, head] : heads) {
    if (head.anchored_at == 0) continue;
    const auto& cp = checkpoints[instance];
    if (!attested.count(instance + "#" + std::to_string(cp.through_id) + "#" + cp.hash)) {
      out.reason = "retention checkpoint for instance '" + instance + "' through id " +
                   std::to_string(cp.through_id) + " is not attested by any audit.retention row";
      out.bad_row_id = cp.through_id + 1;
      return out;
    }
  }
  for (auto& [instance, head] : heads) out.heads.push_back(head);
  out.ok = true;
  return out;
}

}  // namespace hermes::audit
