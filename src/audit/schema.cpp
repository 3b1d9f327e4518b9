#include "hermes/audit/schema.hpp"

namespace hermes::audit {

const std::vector<std::string>& migrations() {
  static const std::vector<std::string> kMigrations = {
      // 1: the event table, its indexes, chain metadata, retention checkpoints, views.
      R"sql(
CREATE TABLE audit_events (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  ts           INTEGER NOT NULL,          -- UTC milliseconds since the epoch
  instance     TEXT NOT NULL,
  request_id   TEXT,
  kind         TEXT NOT NULL,
  channel      TEXT,
  session_id   TEXT,
  sender       TEXT,
  conversation TEXT,
  agent        TEXT,
  rule         TEXT,
  decision     TEXT,
  status       TEXT,
  latency_ms   INTEGER,
  tokens_in    INTEGER,
  tokens_out   INTEGER,
  detail       TEXT,                      -- JSON
  text         TEXT,                      -- per audit.store_text
  prev_hash    TEXT NOT NULL,
  hash         TEXT NOT NULL
);
CREATE INDEX audit_events_ts ON audit_events(ts);
CREATE INDEX audit_events_channel_ts ON audit_events(channel, ts);
CREATE INDEX audit_events_session ON audit_events(session_id) WHERE session_id IS NOT NULL;
CREATE INDEX audit_events_agent_ts ON audit_events(agent, ts);
CREATE INDEX audit_events_kind_ts ON audit_events(kind, ts);
CREATE INDEX audit_events_instance_id ON audit_events(instance, id);

CREATE TABLE audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE audit_checkpoints (
  instance     TEXT NOT NULL,
  through_id   INTEGER NOT NULL,            -- the last deleted row of that instance
  hash         TEXT NOT NULL,               -- its hash: the prev_hash of the next row
  ts           INTEGER NOT NULL,
  deleted_rows INTEGER NOT NULL,
  PRIMARY KEY (instance, through_id)
);

CREATE VIEW audit_log AS
  SELECT id, strftime('%Y-%m-%dT%H:%M:%fZ', ts / 1000.0, 'unixepoch') AS time, instance, request_id, kind,
         channel, session_id, sender, conversation, agent, rule, decision, status, latency_ms, tokens_in,
         tokens_out, detail, text
  FROM audit_events;
CREATE VIEW route_decisions AS
  SELECT id, time, request_id, channel, sender, conversation, session_id, agent, rule, decision, status
  FROM audit_log WHERE kind = 'route.decision';
CREATE VIEW rejections AS
  SELECT id, time, request_id, kind, channel, sender, agent, rule, status, detail
  FROM audit_log WHERE decision IN ('refused', 'rejected') OR kind IN ('ratelimit.reject', 'auth.reject');
CREATE VIEW backend_calls AS
  SELECT id, time, request_id, agent, status, latency_ms, tokens_in, tokens_out, detail
  FROM audit_log WHERE kind = 'backend.call';
)sql",
      // 2: "what happened to request X" and "everything from sender Y" without a table scan.
      R"sql(
CREATE INDEX audit_events_request ON audit_events(request_id) WHERE request_id IS NOT NULL;
CREATE INDEX audit_events_sender_ts ON audit_events(sender, ts) WHERE sender IS NOT NULL;
)sql",
      // 3: verify walks rows in id order; the (instance, id) index only cost the writer
      // (about 4% of API throughput per index, docs/performance.md).
      R"sql(
DROP INDEX IF EXISTS audit_events_instance_id;
)sql",
      // 4: one row per message. A message that reached an agent leaves one
      // `message.exchange` row (what was asked in `text`, the answer in the new `answer`
      // column) instead of message.inbound, route.decision, backend.call and
      // message.outbound: a quarter of the rows, index updates and disk per message.
      // backend.call rows remain for attempts that failed. The views read both shapes.
      R"sql(
ALTER TABLE audit_events ADD COLUMN answer TEXT;
DROP VIEW route_decisions;
DROP VIEW rejections;
DROP VIEW backend_calls;
DROP VIEW audit_log;
CREATE VIEW audit_log AS
  SELECT id, strftime('%Y-%m-%dT%H:%M:%fZ', ts / 1000.0, 'unixepoch') AS time, instance, request_id, kind,
         channel, session_id, sender, conversation, agent, rule, decision, status, latency_ms, tokens_in,
         tokens_out, detail, text, answer
  FROM audit_events;
CREATE VIEW route_decisions AS
  SELECT id, time, request_id, channel, sender, conversation, session_id, agent, rule,
         CASE WHEN kind = 'route.decision' THEN decision ELSE 'routed' END AS decision,
         CASE WHEN kind = 'route.decision' THEN status ELSE 'ok' END AS status
  FROM audit_log
  WHERE kind = 'route.decision'
     OR (kind IN ('message.exchange', 'session.reset', 'auth.reject', 'ratelimit.reject') AND rule IS NOT NULL);
CREATE VIEW rejections AS
  SELECT id, time, request_id, kind, channel, sender, agent, rule, status, detail
  FROM audit_log WHERE decision IN ('refused', 'rejected') OR kind IN ('ratelimit.reject', 'auth.reject');
CREATE VIEW backend_calls AS
  SELECT id, time, request_id, agent, status, latency_ms, tokens_in, tokens_out, detail
  FROM audit_log WHERE kind = 'backend.call'
  UNION ALL
  SELECT id, time, request_id, agent, 'ok', json_extract(detail, '$.backend_ms'), tokens_in, tokens_out, detail
  FROM audit_log WHERE kind = 'message.exchange' AND decision = 'answered';
)sql",
  };
  return kMigrations;
}

}  // namespace hermes::audit
