#include "hermes/app/gateway.hpp"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>

#include "hermes/app/admin.hpp"
#include "hermes/app/extensions.hpp"
#include "hermes/app/registries.hpp"
#include "hermes/app/sd_notify.hpp"
#include "hermes/cdp/relay.hpp"
#include "hermes/net/client.hpp"
#include "hermes/routing/intake.hpp"
#include "hermes/channels/async.hpp"
#include "hermes/routing/limiter.hpp"
#include "hermes/routing/pipeline.hpp"
#include "hermes/routing/sessions.hpp"
#include "hermes/audit/log.hpp"
#include "hermes/core/thread_role.hpp"
#include "hermes/config/loader.hpp"
#include "hermes/core/build_info.hpp"
#include "hermes/net/server.hpp"
#include "hermes/observability/logging.hpp"
#include "hermes/observability/metrics.hpp"
#include "hermes/observability/process.hpp"

namespace hermes::app {

namespace asio = boost::asio;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// Idle upstream connections kept for reuse: below the concurrency of upstream calls, the
// surplus is closed after each response and the next call pays a new connect (and TLS).
net::HttpClientOptions upstream_client_options(const config::GatewayConfig& g,
                                               observability::MetricsRegistry& metrics) {
  net::HttpClientOptions o;
  o.max_idle_per_host = g.upstream_idle_connections;
  o.metrics = &metrics;
  return o;
}

channels::DeliveryPolicy delivery_policy(const config::OutboxConfig& c) {
  return {static_cast<int>(c.max_attempts), c.first_backoff, c.max_backoff, c.give_up_after};
}


spdlog::level::level_enum to_spdlog(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::trace: return spdlog::level::trace;
    case config::LogLevel::debug: return spdlog::level::debug;
    case config::LogLevel::info: return spdlog::level::info;
    case config::LogLevel::warn: return spdlog::level::warn;
    case config::LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

void apply_logging(const config::LogConfig& log) {
  observability::configure_logging(
      log.format == config::LogFormat::json ? observability::LogStyle::json : observability::LogStyle::text,
      to_spdlog(log.level));
}

std::string admission_policy(const config::ListenerConfig& l) {
  if (!l.allow.empty()) return "the allow list";
  if (l.bind == config::BindMode::lan) return "private networks only";
  if (l.address.is_loopback()) return "loopback only";  // only this host can reach it
  return "any peer";
}

std::string utc_timestamp(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

audit::AuditLogOptions audit_options(const config::Config& cfg) {
  audit::AuditLogOptions o;
  o.path = cfg.audit.path;
  o.instance = cfg.gateway.instance;
  o.store_text = cfg.audit.store_text == config::StoreText::full   ? audit::TextPolicy::full
                 : cfg.audit.store_text == config::StoreText::none ? audit::TextPolicy::none
                                                                   : audit::TextPolicy::hash;
  o.chain_key = cfg.audit.chain_key;
  o.synchronous = cfg.audit.synchronous == config::SyncMode::off    ? store::Synchronous::off
                  : cfg.audit.synchronous == config::SyncMode::full ? store::Synchronous::full
                                                                    : store::Synchronous::normal;
  o.max_size_bytes = cfg.audit.max_size.bytes;
  o.queue_capacity = cfg.audit.queue_capacity;
  o.batch_size = cfg.audit.batch_size;
  o.flush_interval = cfg.audit.flush_interval;
  o.retention = cfg.audit.retention;
  o.head_log_interval = cfg.audit.head_log_interval;
  o.checkpoint_interval = cfg.audit.checkpoint_interval;
  o.stop_retry_for = cfg.gateway.drain_timeout;
  return o;
}

}  // namespace

// Everything built from one config: replaced whole on reload. Requests in
// flight hold their channel and pipeline (shared_ptr), so nothing they use is
// freed under them.
struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::map<std::string, std::shared_ptr<ModelBackend>> backends;
  std::shared_ptr<routing::Pipeline> pipeline;
  std::vector<std::shared_ptr<channels::Channel>> channels;
  std::shared_ptr<cdp::Relay> relay;  // browsers: rebuilt with the snapshot; sessions keep theirs
  std::vector<net::ListenerSettings> listeners;
};

struct Gateway::Impl final : AdminModel {
  asio::io_context io;
  observability::MetricsRegistry metrics;
  std::unique_ptr<audit::AuditLog> audit;
  net::HttpServer server;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  mutable std::mutex config_mutex;
  std::shared_ptr<const config::Config> config;
  std::chrono::system_clock::time_point loaded_at = std::chrono::system_clock::now();
  std::shared_ptr<const Secret> admin_key_;
  std::atomic<bool> bound{false};
  std::atomic<bool> draining{false};
  observability::CounterFamily& reloads;
  net::HttpClient http{io, upstream_client_options(config->gateway, metrics)};
  std::shared_ptr<routing::PipelineShared> shared = make_pipeline_shared();
  std::shared_ptr<cdp::RelayState> relay_state = std::make_shared<cdp::RelayState>();
  std::shared_ptr<Snapshot> snapshot;  // the live one; guarded by config_mutex
  std::unique_ptr<routing::IntakeStore> intake = std::make_unique<routing::IntakeStore>(
      config->gateway.data_dir / "intake.db", std::chrono::hours(24));
  channels::OutboxDrain outbox{io.get_executor(), *intake,
                               [this](const std::string& name) { return channel_named(name); }, *audit, metrics,
                               delivery_policy(config->outbox)};

  // The channel configured under `name` in the live snapshot (reloads replace channels).
  std::shared_ptr<channels::Channel> channel_named(const std::string& name) const {
    std::lock_guard lock(config_mutex);
    if (!snapshot) return nullptr;
    for (std::size_t i = 0; i < snapshot->config->channels.size(); ++i) {
      if (snapshot->config->channels[i]->name == name) return snapshot->channels[i];
    }
    return nullptr;
  }

  std::shared_ptr<routing::PipelineShared> make_pipeline_shared() {
    auto s = std::make_shared<routing::PipelineShared>();
    s->limiter_store = std::make_shared<routing::InMemoryLimiterStore>();
    routing::SessionBounds bounds{config->sessions.max_in_memory, config->sessions.max_per_key,
                                  static_cast<std::size_t>(config->sessions.max_bytes.bytes)};
    auto sessions = std::make_shared<routing::SqliteSessionStore>(config->gateway.data_dir / "sessions.db", bounds,
                                                                  config->sessions.idle_reset);
    s->sessions = sessions;
    std::weak_ptr<routing::SqliteSessionStore> weak = sessions;
    metrics.add_collector([weak](std::string& out) {
      auto store = weak.lock();
      if (!store) return;
      observability::write_metric_header(out, "hermes_sessions", "Conversation sessions held in memory.",
                                         observability::MetricType::gauge);
      observability::write_sample(out, "hermes_sessions", {}, {}, static_cast<double>(store->in_memory()));
    });
    return s;
  }

  explicit Impl(std::shared_ptr<const config::Config> cfg)
      : io(static_cast<int>(cfg->gateway.threads)),
        audit(std::make_unique<audit::AuditLog>(audit_options(*cfg), metrics)),
        server(io, metrics, *audit, cfg->gateway.threads == 1 ? net::IoThreads::one : net::IoThreads::several),
        config(std::move(cfg)),
        admin_key_(std::make_shared<const Secret>(config->admin.key)),
        reloads(metrics.counter("hermes_config_reloads_total", "Configuration reloads, by result.", {"result"})) {
    observability::register_process_metrics(metrics);
  }

  std::shared_ptr<const config::Config> current() const {
    std::lock_guard lock(config_mutex);
    return config;
  }

  // AdminModel
  std::vector<std::string> not_ready_reasons() const override {
    std::vector<std::string> reasons;
    if (draining.load()) reasons.emplace_back("shutting down");
    if (!bound.load()) reasons.emplace_back("listeners not bound");
    auto health = audit->health();
    // Details (paths, SQLite errors) are in /status, which needs the admin key.
    if (!health.writable) reasons.emplace_back("audit log not writable");
    if (!audit->has_headroom()) reasons.emplace_back("audit queue full");
    if (!any_backend_healthy()) reasons.emplace_back("no model backend is healthy");
    return reasons;
  }
  std::string metrics_text() const override { return metrics.render(); }
  bool any_backend_healthy() const {
    std::lock_guard lock(config_mutex);
    if (!snapshot || snapshot->backends.empty()) return true;
    for (const auto& [name, backend] : snapshot->backends) {
      if (backend->health().healthy) return true;
    }
    return false;
  }
  std::shared_ptr<const Secret> admin_key() const override {
    std::lock_guard lock(config_mutex);
    return admin_key_;
  }
  nlohmann::json status() const override;

  std::shared_ptr<Snapshot> build_snapshot(std::shared_ptr<const config::Config> cfg, std::string& error);
  int start();
  asio::signal_set signals{io};
  asio::awaitable<void> handle_signals();
  void replay_intake();
  // Each channel's outbound work (auth.test, Socket Mode…); it ends by itself once the channel is replaced.
  void start_channels(const Snapshot& snap) {
    for (const auto& channel : snap.channels) asio::co_spawn(asio::make_strand(io), channel->run(), observability::ReportFailure(metrics, "channel_run"));
    snap.relay->start();
  }
  asio::awaitable<void> watchdog(std::chrono::microseconds interval);
  // SIGHUP: the file and its secrets are read on `config_loader`, never on an io thread
  // (a slow disk or a large file would stall every connection); then applied here.
  asio::awaitable<void> reload();
  void apply_reload(std::shared_ptr<const config::Config> running, config::LoadResult result);
  asio::thread_pool config_loader{1};
  // Signals and reloads run here, one handler at a time: the flags below need no atomics.
  asio::strand<asio::io_context::executor_type> control{asio::make_strand(io)};
  bool reloading = false;     // a reload() is running
  bool reload_again = false;  // a SIGHUP came meanwhile: one more pass after it
  void record_reload(const std::string& status, nlohmann::json detail);
  asio::awaitable<void> drain();
  // SIGTERM's time + drain_timeout: how long audit rows may still be retried at stop.
  std::atomic<std::chrono::steady_clock::time_point> audit_retry_until{std::chrono::steady_clock::time_point{}};
};

nlohmann::json Gateway::Impl::status() const {
  auto cfg = current();
  nlohmann::json listeners = nlohmann::json::array();
  for (const auto& l : cfg->listeners) {
    listeners.push_back({{"name", l.name},
                         {"address", l.address.to_string()},
                         {"port", server.bound_port(l.name)},
                         {"tls", l.tls.has_value()},
                         {"admin", l.admin},
                         {"admits", admission_policy(l)},
                         {"max_connections", l.max_connections},
                         {"max_connections_per_peer", l.max_connections_per_peer},
                         {"server_names", l.server_names}});
  }
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
  auto health = audit->health();
  nlohmann::json audit_status = {
      {"path", cfg->audit.path.string()},
      {"chain", health.chain},
      {"chain_note", health.chain == "sha256" ? "no audit.chain_key: the chain detects edits but anyone can "
                                                "recompute it; configure a chain key for tamper evidence"
                                              : "keyed chain (HMAC-SHA256)"},
      {"head", {{"id", health.head_id}, {"hash", health.head_hash}}},
      {"committed_id", health.committed_id},
      {"queue_depth", health.queue_depth},
      {"writable", health.writable},
      {"last_error", health.last_error},
      {"dropped", health.dropped}};
  bool ready = not_ready_reasons().empty();  // before the lock: it takes it too
  std::lock_guard lock(config_mutex);
  nlohmann::json channel_health = nlohmann::json::array();
  for (std::size_t i = 0; snapshot && i < snapshot->channels.size(); ++i) {
    auto h = snapshot->channels[i]->health();
    nlohmann::json entry = {{"name", snapshot->config->channels[i]->name},
                            {"type", snapshot->config->channels[i]->type},
                            {"healthy", h.healthy},
                            {"detail", h.detail}};
    if (!h.connections.empty()) entry["connections"] = h.connections;
    channel_health.push_back(std::move(entry));
  }
  nlohmann::json backend_health = nlohmann::json::object();
  for (const auto& [name, backend] : snapshot ? snapshot->backends : decltype(snapshot->backends){}) {
    auto h = backend->health();
    backend_health[name] = {{"healthy", h.healthy}, {"detail", h.detail}};
  }
  return {{"version", build::version()},
          {"commit", build::commit()},
          {"instance", cfg->gateway.instance},
          {"pid", ::getpid()},
          {"uptime_seconds", uptime.count()},
          {"ready", ready},
          {"draining", draining.load()},
          {"config", {{"file", cfg->file.string()}, {"sha256", cfg->sha256}, {"loaded_at", utc_timestamp(loaded_at)}}},
          {"connections", server.active_connections()},
          {"listeners", listeners},
          {"audit", audit_status},
          {"channels", channel_health},
          {"browsers", snapshot ? snapshot->relay->status() : nlohmann::json::array()},
          {"backends", backend_health},
          {"outbox", {{"pending", outbox.pending()}}}};
}

namespace {

net::ListenerSettings listener_settings(const config::ListenerConfig& l) {
  net::ListenerSettings s;
  s.name = l.name;
  s.address = l.address;
  s.port = l.port;
  s.admits = [policy = l](const IpAddress& peer) { return policy.admits(peer); };
  s.admission_policy = admission_policy(l);
  s.max_connections = l.max_connections;
  s.max_connections_per_peer = l.max_connections_per_peer;
  s.hosts.enforce = l.checks_host();
  s.hosts.names = l.host_names();
  s.hosts.ip_literals = l.answers_ip_literals();
  s.body_limit = l.body_limit.bytes;
  s.header_timeout = l.header_timeout;
  s.body_timeout = l.body_timeout;
  s.idle_timeout = l.idle_timeout;
  s.trusted_proxies = l.trusted_proxies;
  if (l.protocol == config::ListenerProtocol::lmtp) {
    s.protocol = net::ListenerProtocol::lmtp;
    s.lmtp.max_message_size = l.max_message_size.bytes;
    s.lmtp.max_recipients = l.max_recipients;
    s.lmtp.command_timeout = l.command_timeout;
    s.lmtp.data_timeout = l.data_timeout;
  }
  return s;
}

}  // namespace

std::shared_ptr<Snapshot> Gateway::Impl::build_snapshot(std::shared_ptr<const config::Config> cfg, std::string& error) {
  const auto& extensions = builtin_extensions();
  auto snap = std::make_shared<Snapshot>();
  snap->config = cfg;
  backends::BackendDeps deps{io, http, &metrics};
  for (const auto& spec : cfg->models) {
    snap->backends[spec->name] = extensions.backends.create(*spec, deps);
  }
  routing::PipelineOptions options;
  options.config = cfg;
  options.backends = snap->backends;
  options.shared = shared;
  options.audit = audit.get();
  options.audit_headroom = [log = audit.get()] { return log->has_headroom(); };
  options.metrics = &metrics;
  snap->pipeline = std::make_shared<routing::Pipeline>(std::move(options));

  std::map<std::string, std::shared_ptr<net::HttpRoutes>> routes;
  std::map<std::string, std::shared_ptr<net::LmtpRoutes>> mailboxes;
  for (const auto& l : cfg->listeners) {
    routes[l.name] = std::make_shared<net::HttpRoutes>();
    mailboxes[l.name] = std::make_shared<net::LmtpRoutes>();
    if (l.admin) add_admin_routes(*routes[l.name], *this);
  }
  // A channel without a listener (Slack in Socket Mode) mounts nothing: it gets routes no
  // listener serves (listener names are never empty).
  static const config::ListenerConfig kNoListener{};
  routes[""] = std::make_shared<net::HttpRoutes>();
  mailboxes[""] = std::make_shared<net::LmtpRoutes>();
  for (const auto& spec : cfg->channels) {
    const auto* listener = spec->listener.empty() ? &kNoListener : cfg->find_listener(spec->listener);
    channels::ChannelContext ctx{snap->pipeline, cfg, *routes[spec->listener], *listener,
                                 metrics, *audit, intake.get(), &outbox, &http, mailboxes[spec->listener].get(), &io};
    snap->channels.push_back(extensions.channels.create(*spec, ctx));
  }
  snap->relay = std::make_shared<cdp::Relay>(cfg, cdp::RelayDeps{io, http, metrics, *audit, relay_state});
  for (const auto& l : cfg->listeners) snap->relay->mount(l.name, *routes[l.name]);
  for (const auto& l : cfg->listeners) {
    auto s = listener_settings(l);
    s.routes = routes[l.name];
    s.lmtp_routes = mailboxes[l.name];
    s.lmtp.hostname = cfg->gateway.instance;
    if (l.tls) {
      s.tls = net::load_tls_context(l.tls->cert, l.tls->key, error);
      if (!s.tls) {
        error = "listener " + l.name + ": " + error;
        return nullptr;
      }
    }
    snap->listeners.push_back(std::move(s));
  }
  return snap;
}

int Gateway::Impl::start() {
  auto cfg = current();
  std::string error;
  snapshot = build_snapshot(cfg, error);
  if (!snapshot) {
    spdlog::critical("cannot start: {}", error);
    return 1;
  }
  if (server.bind(snapshot->listeners, error)) {
    spdlog::critical("cannot start: {}", error);
    return 1;
  }
  bound.store(true);
  start_channels(*snapshot);
  AuditEvent ev;
  ev.kind = "gateway.start";
  ev.decision = "applied";
  ev.status = "ok";
  ev.detail = {{"version", build::version()}, {"commit", build::commit()}, {"config_sha256", cfg->sha256},
               {"pid", ::getpid()}};
  audit->record(std::move(ev));
  // Installed before READY=1: a SIGHUP right after start must reload, not kill.
  signals.add(SIGTERM);
  signals.add(SIGINT);
  signals.add(SIGHUP);
  server.start_accepting();
  asio::co_spawn(control, handle_signals(), observability::ReportFailure(metrics, "signals"));
  if (auto interval = sd_watchdog_interval()) {
    asio::co_spawn(io, watchdog(*interval), asio::detached);
  }
  outbox.resume();
  replay_intake();
  spdlog::info("hermesd {} ({}) instance {} ready with {} listener(s), {} thread(s), config {}", build::version(),
               build::commit(), cfg->gateway.instance, cfg->listeners.size(), cfg->gateway.threads,
               cfg->file.string());
  sd_notify("READY=1\nSTATUS=serving");
  return 0;
}

// Messages acknowledged before the last stop but never answered: answer them now.
void Gateway::Impl::replay_intake() {
  auto pending = intake->pending();
  if (pending.empty()) return;
  spdlog::warn("intake: replaying {} message(s) acknowledged but not answered before the last stop", pending.size());
  for (auto& message : pending) {
    auto channel = channel_named(message.channel);
    if (!channel) {
      spdlog::error("intake: channel {} of pending event {} is no longer configured; left pending", message.channel,
                    message.event_id);
      continue;
    }
    asio::co_spawn(asio::make_strand(io), channel->resume(std::move(message)),
                   observability::ReportFailure(metrics, "intake_replay"));
  }
}

asio::awaitable<void> Gateway::Impl::watchdog(std::chrono::microseconds interval) {
  // Sent from the event loop itself: a stuck loop stops the pings and systemd restarts us.
  asio::steady_timer timer(io);
  while (!draining.load()) {
    sd_notify("WATCHDOG=1");
    timer.expires_after(interval / 2);
    co_await timer.async_wait(kAsTuple);
  }
}

asio::awaitable<void> Gateway::Impl::handle_signals() {
  for (;;) {
    auto [ec, sig] = co_await signals.async_wait(kAsTuple);
    if (ec) co_return;
    if (sig == SIGHUP) {
      if (reloading) {
        reload_again = true;  // coalesced: the running reload reads the file once more
        continue;
      }
      reloading = true;
      asio::co_spawn(control, reload(), observability::ReportFailure(metrics, "reload"));
      continue;
    }
    spdlog::info("received {}, draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    co_await drain();
    co_return;
  }
}

void Gateway::Impl::record_reload(const std::string& status, nlohmann::json detail) {
  reloads.with({status}).inc();
  AuditEvent ev;
  ev.kind = "config.reload";
  ev.decision = status == "applied" ? "applied" : "refused";
  ev.status = status;
  ev.detail = std::move(detail);
  audit->record(std::move(ev));
}

namespace {
asio::awaitable<config::LoadResult> load_config(std::filesystem::path file) {
  co_return config::load_file(file, &builtin_registries());
}
}  // namespace

asio::awaitable<void> Gateway::Impl::reload() {
  struct Done {  // also when a pass throws: later SIGHUPs must not wait on this one
    bool& reloading;
    ~Done() { reloading = false; }
  } done{reloading};
  do {
    reload_again = false;
    auto running = current();
    sd_notify("RELOADING=1");
    spdlog::info("reloading configuration from {}", running->file.string());
    auto result = co_await asio::co_spawn(config_loader, load_config(running->file), asio::use_awaitable);
    apply_reload(running, std::move(result));
  } while (reload_again);
}

void Gateway::Impl::apply_reload(std::shared_ptr<const config::Config> running, config::LoadResult result) {
  for (const auto& w : result.warnings) spdlog::warn("reload: {}", w.to_string());
  if (!result.ok()) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& e : result.errors) {
      spdlog::error("reload refused: {}", e.to_string());
      errors.push_back(e.to_string());
    }
    record_reload("invalid_config", {{"file", running->file.string()}, {"errors", errors}});
    sd_notify("READY=1\nSTATUS=reload refused: invalid configuration");
    return;
  }
  auto changes = config::restart_required_changes(*running, *result.config);
  if (!changes.empty()) {
    for (const auto& c : changes) spdlog::error("reload refused: {} changed; this needs a restart", c);
    record_reload("restart_required", {{"file", running->file.string()}, {"changes", changes}});
    sd_notify("READY=1\nSTATUS=reload refused: restart required");
    return;
  }
  std::string error;
  auto next = build_snapshot(result.config, error);
  if (!next) {
    spdlog::error("reload refused: {}", error);
    record_reload("invalid_config", {{"file", running->file.string()}, {"errors", {error}}});
    sd_notify("READY=1\nSTATUS=reload refused: " + error);
    return;
  }
  for (const auto& s : next->listeners) server.update(s);
  outbox.set_policy(delivery_policy(result.config->outbox));
  start_channels(*next);
  {
    std::lock_guard lock(config_mutex);
    snapshot = next;
    config = result.config;
    admin_key_ = std::make_shared<const Secret>(config->admin.key);
    loaded_at = std::chrono::system_clock::now();
  }
  apply_logging(result.config->log);
  spdlog::info("configuration reloaded (sha256 {})", result.config->sha256);
  record_reload("applied", {{"file", running->file.string()},
                            {"sha256", result.config->sha256},
                            {"previous_sha256", running->sha256}});
  sd_notify("READY=1\nSTATUS=serving");
}

asio::awaitable<void> Gateway::Impl::drain() {
  // /readyz turns 503 first, so load balancers stop sending before listeners close.
  audit_retry_until.store(std::chrono::steady_clock::now() + current()->gateway.drain_timeout);
  draining.store(true);
  sd_notify("STOPPING=1");
  asio::steady_timer timer(io);
  if (auto delay = current()->gateway.drain_delay; delay.count() > 0) {
    // Keep serving while load balancers notice /readyz.
    timer.expires_after(delay);
    co_await timer.async_wait(kAsTuple);
  }
  server.begin_drain();
  outbox.stop();  // sends in flight finish and are recorded; the rest wait for the next start
  auto deadline = std::chrono::steady_clock::now() + current()->gateway.drain_timeout;
  while ((server.active_connections() > 0 || outbox.sending() > 0) && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(kAsTuple);
  }
  if (auto left = server.active_connections(); left > 0) {
    spdlog::warn("drain deadline reached with {} connection(s) still open; closing them", left);
    server.close_all();
    // A cut message ends, and writes its audit row, as its connection unwinds: wait for
    // that rather than a fixed time (200 ms lost rows on a loaded machine), at most 2 s.
    auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (server.active_connections() > 0 && std::chrono::steady_clock::now() < grace) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(kAsTuple);
    }
  }
  // The audit writer commits what is queued after the io threads stop (Gateway::run).
  spdlog::info("stopped");
  io.stop();
}

Gateway::Gateway(std::shared_ptr<const config::Config> config) {
  apply_logging(config->log);
  impl_ = std::make_unique<Impl>(std::move(config));
}

Gateway::~Gateway() = default;

namespace {

// Runs the event loop until it is stopped. An exception that escapes a handler (a bug: a
// peer's bytes must never reach one) is counted and logged by `failed`, and the loop goes
// on: one connection's failure must not end every other's, nor the process.
void run_event_loop(asio::io_context& io, const observability::ReportFailure& failed) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (...) {
      failed(std::current_exception());
    }
  }
}

}  // namespace

int Gateway::run() {
  if (int rc = impl_->start(); rc != 0) {
    return rc;
  }
  unsigned threads = impl_->current()->gateway.threads;
  observability::ReportFailure event_loop_failed(impl_->metrics, "event_loop");
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) {
    pool.emplace_back([this, &event_loop_failed] {
      name_this_thread("hermes-io");
      mark_this_thread_as_io();
      run_event_loop(impl_->io, event_loop_failed);
    });
  }
  mark_this_thread_as_io();
  run_event_loop(impl_->io, event_loop_failed);
  for (auto& t : pool) t.join();
  // Rows a full disk holds back are retried until the drain deadline, not past it.
  impl_->audit->stop(std::max(impl_->audit_retry_until.load(), std::chrono::steady_clock::now() + std::chrono::seconds(1)));
  return 0;
}

}  // namespace hermes::app
