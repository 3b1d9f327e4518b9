#pragma once
// Filtered reads of audit_events for hermesctl (query, export) and tests.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "hermes/audit/record.hpp"
#include "hermes/store/database.hpp"

namespace hermes::audit {

struct QueryFilter {
  std::optional<std::int64_t> since_ms;  // inclusive, UTC ms
  std::optional<std::int64_t> until_ms;  // exclusive
  std::string channel, kind, session, sender, agent, instance;
  std::int64_t after_id = 0;  // only rows with a larger id (export --follow)
  std::int64_t limit = 0;     // 0: no limit; otherwise the newest `limit` rows
};

// The columns every reader selects, in the order read_record() expects.
inline constexpr const char* kRecordColumns =
    "id, ts, instance, request_id, kind, channel, session_id, sender, conversation, agent, rule, decision, "
    "status, latency_ms, tokens_in, tokens_out, detail, text, prev_hash, hash, answer";
// kRecordColumns for `db`: a database older than schema version 4 (a reader newer than
// the daemon that wrote it) has no answer column, and reads NULL in its place.
std::string record_columns(store::Database& db);
// Reads the current row of a statement that selected kRecordColumns.
AuditRecord read_record(const store::Statement& s);

// Rows in id order (oldest first).
std::vector<AuditRecord> query_events(store::Database& db, const QueryFilter& filter);

// The row as a JSON object with an ISO-8601 "time" and detail parsed as JSON.
nlohmann::ordered_json to_json(const AuditRecord& r);
std::string iso_time(std::int64_t ts_ms);

}  // namespace hermes::audit
