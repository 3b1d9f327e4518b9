#include "hermes/audit/query.hpp"

#include <ctime>

namespace hermes::audit {

std::string record_columns(store::Database& db) {
  auto columns = db.prepare("SELECT 1 FROM pragma_table_info('audit_events') WHERE name = 'answer'");
  if (columns.step()) return kRecordColumns;
  std::string without(kRecordColumns);
  return without.substr(0, without.rfind("answer")) + "NULL";
}

std::vector<AuditRecord> query_events(store::Database& db, const QueryFilter& f) {
  std::string where = "id > ?1";
  std::vector<std::pair<int, std::string>> texts;
  int next = 2;
  auto add_text = [&](const char* column, const std::string& value) {
    if (value.empty()) return;
    where += std::string(" AND ") + column + " = ?" + std::to_string(next);
    texts.emplace_back(next++, value);
  };
  add_text("channel", f.channel);
  add_text("kind", f.kind);
  add_text("session_id", f.session);
  add_text("sender", f.sender);
  add_text("agent", f.agent);
  add_text("instance", f.instance);
  int since_index = 0, until_index = 0;
  if (f.since_ms) {
    since_index = next++;
    where += " AND ts >= ?" + std::to_string(since_index);
  }
  if (f.until_ms) {
    until_index = next++;
    where += " AND ts < ?" + std::to_string(until_index);
  }
  std::string sql = "SELECT " + record_columns(db) + " FROM audit_events WHERE " + where;
  if (f.limit > 0) {
    sql = "SELECT * FROM (" + sql + " ORDER BY id DESC LIMIT " + std::to_string(f.limit) + ") ORDER BY id";
  } else {
    sql += " ORDER BY id";
  }
  auto s = db.prepare(sql);
  s.bind(1, f.after_id);
  for (const auto& [index, value] : texts) s.bind(index, value);
  if (since_index) s.bind(since_index, *f.since_ms);
  if (until_index) s.bind(until_index, *f.until_ms);
  std::vector<AuditRecord> out;
  while (s.step()) out.push_back(read_record(s));
  return out;
}

AuditRecord read_record(const store::Statement& s) {
  AuditRecord r;
  r.id = s.column_int(0);
  r.ts = s.column_int(1);
  r.instance = s.column_text(2);
  r.request_id = s.column_text(3);
  r.kind = s.column_text(4);
  r.channel = s.column_text(5);
  r.session_id = s.column_text(6);
  r.sender = s.column_text(7);
  r.conversation = s.column_text(8);
  r.agent = s.column_text(9);
  r.rule = s.column_text(10);
  r.decision = s.column_text(11);
  r.status = s.column_text(12);
  r.latency_ms = s.column_is_null(13) ? -1 : s.column_int(13);
  r.tokens_in = s.column_is_null(14) ? -1 : s.column_int(14);
  r.tokens_out = s.column_is_null(15) ? -1 : s.column_int(15);
  r.detail = s.column_text(16);
  r.text = s.column_text(17);
  r.prev_hash = s.column_text(18);
  r.hash = s.column_text(19);
  r.answer = s.column_text(20);
  return r;
}

std::string iso_time(std::int64_t ts_ms) {
  std::time_t secs = ts_ms / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ts_ms % 1000));
  return buf;
}

nlohmann::ordered_json to_json(const AuditRecord& r) {
  using Json = nlohmann::ordered_json;
  auto text = [](const std::string& s) { return s.empty() ? Json() : Json(s); };
  auto num = [](std::int64_t v) { return v < 0 ? Json() : Json(v); };
  Json detail = r.detail.empty() ? Json() : Json::parse(r.detail, nullptr, false);
  if (detail.is_discarded()) detail = r.detail;
  return Json{{"id", r.id},
          {"time", iso_time(r.ts)},
          {"ts", r.ts},
          {"instance", r.instance},
          {"request_id", text(r.request_id)},
          {"kind", r.kind},
          {"channel", text(r.channel)},
          {"session_id", text(r.session_id)},
          {"sender", text(r.sender)},
          {"conversation", text(r.conversation)},
          {"agent", text(r.agent)},
          {"rule", text(r.rule)},
          {"decision", text(r.decision)},
          {"status", text(r.status)},
          {"latency_ms", num(r.latency_ms)},
          {"tokens_in", num(r.tokens_in)},
          {"tokens_out", num(r.tokens_out)},
          {"detail", detail},
          {"text", text(r.text)},
          {"answer", text(r.answer)},
          {"prev_hash", r.prev_hash},
          {"hash", r.hash}};
}

}  // namespace hermes::audit
