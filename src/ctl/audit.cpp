// hermesctl audit query | verify | export
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "hermes/audit/query.hpp"
#include "hermes/audit/verify.hpp"
#include "hermes/app/registries.hpp"
#include "hermes/config/loader.hpp"
#include "hermes/core/units.hpp"
#include "hermes/ctl/commands.hpp"

namespace hermes::ctl {
namespace {

struct AuditArgs {
  std::string db_path;
  std::string config_path;
  std::string chain_key_file;
  std::string format;
  bool follow = false;
  audit::QueryFilter filter;
};

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "7d" / "90m" (ago), "2026-11-01", "2026-11-01T12:30:00Z".
std::int64_t parse_time(const std::string& text) {
  if (auto d = parse_duration(text)) return now_ms() - d->count();
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) {
    tm = {};
    end = strptime(text.c_str(), "%Y-%m-%d", &tm);
  }
  if (!end || (*end != '\0' && std::string(end) != "Z")) {
    throw UsageError("cannot read time '" + text + "' (use 7d, 24h, 2026-11-01 or 2026-11-01T12:00:00Z)");
  }
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

AuditArgs parse_audit_args(const std::vector<std::string>& args) {
  AuditArgs a;
  auto value = [&](std::size_t& i) -> const std::string& {
    if (i + 1 >= args.size()) throw UsageError(args[i] + " needs a value");
    return args[++i];
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--db") a.db_path = value(i);
    else if (arg == "--config") a.config_path = value(i);
    else if (arg == "--chain-key-file") a.chain_key_file = value(i);
    else if (arg == "--format") a.format = value(i);
    else if (arg == "--since") a.filter.since_ms = parse_time(value(i));
    else if (arg == "--until") a.filter.until_ms = parse_time(value(i));
    else if (arg == "--channel") a.filter.channel = value(i);
    else if (arg == "--kind") a.filter.kind = value(i);
    else if (arg == "--session") a.filter.session = value(i);
    else if (arg == "--sender") a.filter.sender = value(i);
    else if (arg == "--agent") a.filter.agent = value(i);
    else if (arg == "--instance") a.filter.instance = value(i);
    else if (arg == "--limit") {
      const std::string& v = value(i);
      if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) {
        throw UsageError("--limit takes a whole number, not '" + v + "'");
      }
      a.filter.limit = std::stoll(v);
    }
    else if (arg == "--follow") a.follow = true;
    else if (arg == "--after-id") a.filter.after_id = std::stoll(value(i));
    else throw UsageError("unknown option " + arg);
  }
  if (a.db_path.empty() == a.config_path.empty()) throw UsageError("give exactly one of --db PATH or --config FILE");
  return a;
}

// The audit database of the hermesd serving `cfg` from this host, asked through an
// admin listener's /status. The configured path depends on hermesd's environment
// ($STATE_DIRECTORY, set by systemd or ./scripts/run), which this shell may not share.
std::optional<std::filesystem::path> running_database(const config::Config& cfg) {
  for (const auto& l : cfg.listeners) {
    if (!l.admin || l.tls) continue;
    std::string host = l.address.is_unspecified() ? (l.address.is_v4() ? "127.0.0.1" : "::1") : l.address.to_string();
    std::string url = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                      std::to_string(l.port);
    int rc = 0;
    std::string error;
    auto status = query_status(url, rc, error);
    if (!status) continue;
    std::error_code ec;
    auto served = status->value("/config/file"_json_pointer, std::string());
    auto db = status->value("/audit/path"_json_pointer, std::string());
    if (served.empty() || db.empty() || !std::filesystem::equivalent(served, cfg.file, ec)) continue;
    if (!std::filesystem::exists(db, ec)) continue;
    std::fprintf(stderr, "hermesctl: using %s, the audit database of the hermesd (pid %d) serving %s\n", db.c_str(),
                 status->value("pid", 0), cfg.file.c_str());
    return db;
  }
  return std::nullopt;
}

// Resolves the database path and chain key from --db/--config/--chain-key-file.
std::pair<std::filesystem::path, std::string> locate(const AuditArgs& a) {
  std::string key;
  std::filesystem::path db = a.db_path;
  if (!a.config_path.empty()) {
    auto loaded = config::load_file(a.config_path, &app::builtin_registries());
    if (!loaded.ok()) {
      throw std::runtime_error("invalid configuration:\n" + config::format_errors(loaded.errors));
    }
    db = loaded.config->audit.path;
    key = loaded.config->audit.chain_key.reveal();
    if (!std::filesystem::exists(db)) {
      auto running = running_database(*loaded.config);
      if (!running) {
        throw std::runtime_error("no audit database at " + db.string() +
                                 " (gateway.data_dir, else $STATE_DIRECTORY, else /var/lib/hermes), and no hermesd "
                                 "serving this configuration answers on its admin listener; give --db PATH");
      }
      db = *running;
    }
  }
  if (!a.chain_key_file.empty()) {
    // Read exactly as hermesd reads ${file:...}: trailing newlines are not part of the key.
    auto resolved = config::resolve_secret("${file:" + a.chain_key_file + "}",
                                           config::SecretEnvironment::from_process(std::filesystem::current_path()));
    if (!resolved.secret) throw std::runtime_error(resolved.error);
    key = resolved.secret->reveal();
  }
  if (!std::filesystem::exists(db)) throw std::runtime_error("no audit database at " + db.string());
  return {db, key};
}

std::unique_ptr<store::Database> open_read_only(const std::filesystem::path& path) {
  store::OpenOptions o;
  o.read_only = true;
  return std::make_unique<store::Database>(path, o);
}

std::string csv_field(const nlohmann::ordered_json& v) {
  std::string s = v.is_null() ? "" : v.is_string() ? v.get<std::string>() : v.dump();
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void print_table(const std::vector<audit::AuditRecord>& rows) {
  static const std::vector<std::string> kColumns = {"id",    "time",     "kind",   "channel",   "sender",
                                                    "agent", "rule",     "decision", "status", "latency_ms"};
  std::vector<std::vector<std::string>> cells;
  std::vector<std::size_t> widths;
  for (const auto& c : kColumns) widths.push_back(c.size());
  for (const auto& r : rows) {
    auto j = audit::to_json(r);
    std::vector<std::string> line;
    for (std::size_t i = 0; i < kColumns.size(); ++i) {
      const auto& v = j[kColumns[i]];
      line.push_back(v.is_null() ? "-" : v.is_string() ? v.get<std::string>() : v.dump());
      widths[i] = std::max(widths[i], line.back().size());
    }
    cells.push_back(std::move(line));
  }
  auto print_line = [&](const std::vector<std::string>& line) {
    std::string out;
    for (std::size_t i = 0; i < line.size(); ++i) {
      out += line[i];
      if (i + 1 < line.size()) out += std::string(widths[i] - line[i].size() + 2, ' ');
    }
    std::puts(out.c_str());
  };
  print_line(kColumns);
  for (const auto& line : cells) print_line(line);
  std::fprintf(stderr, "%zu row(s)\n", rows.size());
}

int query(const AuditArgs& a) {
  std::string format = a.format.empty() ? "table" : a.format;
  if (format != "table" && format != "json" && format != "csv") throw UsageError("--format is table, json or csv");
  auto [path, key] = locate(a);
  auto db = open_read_only(path);
  auto filter = a.filter;
  if (filter.limit == 0 && format == "table") filter.limit = 100;
  auto rows = audit::query_events(*db, filter);
  if (format == "table") {
    print_table(rows);
  } else if (format == "json") {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& r : rows) out.push_back(audit::to_json(r));
    std::puts(out.dump(2).c_str());
  } else {
    bool header = true;
    for (const auto& r : rows) {
      auto j = audit::to_json(r);
      std::string line;
      if (header) {
        for (auto it = j.begin(); it != j.end(); ++it) line += (line.empty() ? "" : ",") + it.key();
        std::puts(line.c_str());
        line.clear();
        header = false;
      }
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        line += (first ? "" : ",") + csv_field(it.value());
        first = false;
      }
      std::puts(line.c_str());
    }
  }
  return 0;
}

int verify(const AuditArgs& a) {
  auto [path, key] = locate(a);
  auto db = open_read_only(path);
  auto result = audit::verify_chain(*db, key);
  if (!result.ok) {
    if (result.bad_row_id > 0) {
      std::printf("FAIL: row %lld: %s\n", static_cast<long long>(result.bad_row_id), result.reason.c_str());
    } else {
      std::printf("FAIL: %s\n", result.reason.c_str());
    }
    return 1;
  }
  std::printf("OK: %lld row(s) verified (%s chain)\n", static_cast<long long>(result.rows_checked),
              result.chain.c_str());
  for (const auto& h : result.heads) {
    std::printf("  instance %s: %lld row(s), head id %lld hash %s%s\n", h.instance.c_str(),
                static_cast<long long>(h.rows), static_cast<long long>(h.head_id), h.head_hash.c_str(),
                h.anchored_at ? (" (from retention checkpoint at id " + std::to_string(h.anchored_at) + ")").c_str()
                              : "");
  }
  return 0;
}

int export_jsonl(const AuditArgs& a) {
  if (a.format != "jsonl") throw UsageError("export needs --format jsonl");
  auto [path, key] = locate(a);
  auto db = open_read_only(path);
  auto filter = a.filter;
  for (;;) {
    auto rows = audit::query_events(*db, filter);
    for (const auto& r : rows) {
      std::fputs(audit::to_json(r).dump().c_str(), stdout);
      std::fputc('\n', stdout);
      filter.after_id = r.id;
    }
    std::fflush(stdout);
    if (!a.follow) return 0;
    if (std::ferror(stdout)) return 1;  // the reader went away
    filter.limit = 0;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

}  // namespace

int audit_command(const std::vector<std::string>& args) {
  static const char* kUsage =
      "usage: hermesctl audit query  (--db PATH | --config FILE) [--since 7d] [--until T] [--channel C] [--kind K]\n"
      "                              [--session S] [--sender S] [--agent A] [--format table|json|csv] [--limit N]\n"
      "       hermesctl audit verify (--db PATH | --config FILE) [--chain-key-file PATH]\n"
      "       hermesctl audit export (--db PATH | --config FILE) --format jsonl [--since 7d] [--after-id N] [--follow]\n";
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    auto parsed = parse_audit_args(rest);
    if (args[0] == "query") return query(parsed);
    if (args[0] == "verify") return verify(parsed);
    if (args[0] == "export") return export_jsonl(parsed);
    throw UsageError("unknown audit command '" + args[0] + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "hermesctl audit: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hermesctl audit: %s\n", e.what());
    return 1;
  }
}

}  // namespace hermes::ctl
