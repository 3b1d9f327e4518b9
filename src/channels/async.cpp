#include "hermes/channels/async.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "hermes/core/backoff.hpp"
#include "hermes/core/digest.hpp"
#include "hermes/net/client.hpp"

#include <algorithm>

namespace hermes::channels {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Collects the pipeline's answer for the outbox.
class CollectedReply final : public ReplyStream {
 public:
  explicit CollectedReply(std::shared_ptr<AnswerPreview> preview = nullptr) : preview_(std::move(preview)) {}
  // With a preview the model streams, so that the preview grows as the answer does.
  bool streaming() const override { return preview_ != nullptr; }
  asio::awaitable<void> begin(const ReplyMeta& meta) override {
    agent = meta.agent;
    co_return;
  }
  asio::awaitable<bool> write_delta(std::string_view t) override {
    text.append(t);
    if (preview_) {
      std::string delta(t);  // named: GCC 12
      co_await preview_->append(std::move(delta));
    }
    co_return true;
  }
  asio::awaitable<void> finish(const Usage&, std::string_view) override { co_return; }
  asio::awaitable<void> fail(const ReplyError& e) override {
    error = e;
    failed = true;
    co_return;
  }
  std::string agent, text;
  bool failed = false;
  ReplyError error;

 private:
  std::shared_ptr<AnswerPreview> preview_;
};

}  // namespace

bool signature_matches(const Secret& secret, std::string_view signed_text, std::string_view provided,
                       std::string_view prefix) {
  if (secret.empty() || provided.substr(0, prefix.size()) != prefix) return false;
  return constant_time_equals(hmac_sha256_hex(secret.reveal(), signed_text), provided.substr(prefix.size()));
}

void audit_bad_request(AuditSink& audit, EventThrottle& throttle, const std::string& channel,
                       const IpAddress& client, std::string_view why) {
  AuditEvent ev;
  ev.kind = "message.rejected";
  ev.channel = channel;
  ev.decision = "rejected";
  ev.status = "bad_request";
  ev.detail = {{"client", client.to_string()}, {"why", std::string(why)}};
  record_throttled(audit, throttle, std::move(ev));
}

void audit_refusal(AuditSink& audit, EventThrottle& throttle, const std::string& channel, const IpAddress& client,
                   std::string_view why) {
  AuditEvent ev;
  ev.kind = "auth.reject";
  ev.channel = channel;
  ev.decision = "refused";
  ev.status = std::string(why);
  ev.detail = {{"client", client.to_string()}};
  record_throttled(audit, throttle, std::move(ev));
}

namespace {

bool utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Where to end a piece of at most `max` bytes of `text` (longer than `max`).
std::size_t cut_point(std::string_view text, std::size_t max) {
  std::string_view window = text.substr(0, max);
  for (std::string_view boundary : {"\n\n", "\n", " "}) {
    auto at = window.rfind(boundary);
    if (at != std::string_view::npos && at >= max / 2) return at + boundary.size();
  }
  std::size_t at = max;
  while (at > 0 && utf8_continuation(text[at])) --at;  // never split a character
  return at == 0 ? max : at;
}

}  // namespace

std::vector<std::string> split_message(std::string_view text, std::size_t max_bytes) {
  std::vector<std::string> pieces;
  while (text.size() > max_bytes) {
    auto at = cut_point(text, max_bytes);
    pieces.emplace_back(text.substr(0, at));
    text.remove_prefix(at);
  }
  if (!text.empty() || pieces.empty()) pieces.emplace_back(text);
  return pieces;
}

Delivery classify_http_delivery(const net::ClientResult& result) {
  Delivery d;
  if (!result.ok()) {
    d.result = DeliveryResult::retry;
    d.detail = std::string(net::client_error_name(result.error));
    // A timeout or a reset after the whole request went out: the peer may have processed
    // it, and the retry may deliver it twice.
    d.ambiguous = result.request_sent;
    return d;
  }
  d.detail = "http_" + std::to_string(result.status);
  if (result.status >= 200 && result.status < 300) {
    d.result = DeliveryResult::delivered;
  } else if (result.status == 429 || result.status == 408 || result.status >= 500) {
    d.result = DeliveryResult::retry;
    if (auto ra = result.header("retry-after")) d.retry_after = net::parse_retry_after(*ra, std::chrono::hours(24));
  } else {
    d.result = DeliveryResult::failed;
  }
  return d;
}

struct OutboxDrain::State {
  asio::any_io_executor executor;
  Outbox& outbox;
  ChannelLookup lookup;
  AuditSink& audit;
  mutable std::mutex policy_mutex;
  DeliveryPolicy policy_;
  observability::CounterFamily& deliveries;
  observability::Gauge& pending_gauge;
  observability::ReportFailure delivery_failed;  // a channel's deliver() that threw
  observability::ReportFailure report_failure;   // what escapes a delivery coroutine
  std::atomic<std::int64_t> pending{0};
  std::atomic<std::int64_t> sending{0};
  std::atomic<bool> stopped{false};

  // Entries held until their recipient writes again wait on one of these; release()
  // wakes them. `released` and the timer are touched only on the entry's strand.
  struct HeldWait {
    explicit HeldWait(asio::any_io_executor ex) : timer(ex) {}
    asio::steady_timer timer;
    bool released = false;
  };
  std::mutex held_mutex;
  std::multimap<std::string, std::weak_ptr<HeldWait>> held_waits;  // by held_key()

  static std::string held_key(const std::string& channel, const std::string& conversation) {
    return channel + '\n' + conversation;
  }

  std::shared_ptr<HeldWait> wait_for_release(const OutboxEntry& e, asio::any_io_executor ex) {
    auto wait = std::make_shared<HeldWait>(std::move(ex));
    std::lock_guard lock(held_mutex);
    std::erase_if(held_waits, [](const auto& kv) { return kv.second.expired(); });
    held_waits.emplace(held_key(e.channel, e.conversation), wait);
    return wait;
  }

  std::size_t release(const std::string& channel, const std::string& conversation) {
    std::lock_guard lock(held_mutex);
    auto [first, last] = held_waits.equal_range(held_key(channel, conversation));
    std::size_t woken = 0;
    for (auto it = first; it != last; ++it) {
      auto wait = it->second.lock();
      if (!wait) continue;
      ++woken;
      asio::post(wait->timer.get_executor(), [wait] {
        wait->released = true;
        wait->timer.cancel();
      });
    }
    return woken;
  }

  State(asio::any_io_executor ex, Outbox& o, ChannelLookup l, AuditSink& a, DeliveryPolicy p,
        observability::CounterFamily& d, observability::Gauge& g, observability::MetricsRegistry& m)
      : executor(std::move(ex)), outbox(o), lookup(std::move(l)), audit(a), policy_(p), deliveries(d),
        pending_gauge(g), delivery_failed(m, "delivery"), report_failure(m, "outbox") {}

  DeliveryPolicy policy() const {
    std::lock_guard lock(policy_mutex);
    return policy_;
  }

  void count_pending(std::int64_t delta) { pending_gauge.set(static_cast<double>(pending += delta)); }

  void record(const OutboxEntry& e, const std::string& decision, const std::string& status, std::int64_t latency_ms,
              const std::string& peer_id = {}, bool may_have_arrived = false) {
    AuditEvent ev;
    ev.kind = "message.delivery";
    ev.request_id = e.request_id;
    ev.channel = e.channel;
    ev.sender = e.recipient;
    ev.conversation = e.conversation;
    ev.agent = e.agent;
    ev.decision = decision;
    ev.status = status;
    ev.latency_ms = latency_ms;
    ev.detail = {{"event_id", e.event_id}, {"outbox_id", e.id}, {"part", e.part + 1}, {"parts", e.parts},
                 {"attempts", e.attempts}};
    if (!peer_id.empty()) ev.detail["peer_id"] = peer_id;
    if (may_have_arrived) ev.detail["may_have_arrived"] = true;
    if (decision == "held" && e.held_until_ms > 0) ev.detail["held_until_ms"] = e.held_until_ms;
    audit.record(std::move(ev));
    deliveries.with({e.channel, decision}).inc();
  }
};

namespace {

using State = OutboxDrain::State;

Delivery not_configured() {
  Delivery d;
  d.result = DeliveryResult::retry;
  d.detail = "channel_not_configured";
  return d;
}

enum class EntryOutcome { delivered, gave_up, stopped };

// A channel's deliver() that throws (a bug, or a peer's answer it did not expect) fails
// that entry for good: retried, it would throw again, and at every restart. The exception
// is counted and logged by `delivery_failed`; the give-up that follows names the entry.
asio::awaitable<Delivery> deliver_guarded(std::shared_ptr<State> st, std::shared_ptr<Channel> channel,
                                          OutboxEntry entry) {
  try {
    co_return co_await channel->deliver(entry);
  } catch (...) {
    st->delivery_failed(std::current_exception());
  }
  Delivery d;
  d.result = DeliveryResult::failed;
  d.detail = "internal_error";
  co_return d;
}

// How often a held answer asks its channel again whether it can send.
constexpr milliseconds kHoldRecheck{2'000};
// How often an answer held for its recipient asks again without a release(): a message
// that arrived while the entry was being sent, or before a restart resumed it.
constexpr milliseconds kRecipientHoldRecheck{30'000};

// Counted from the end of its hold for an entry that was held for its recipient.
bool too_old(const OutboxEntry& entry, const DeliveryPolicy& policy) {
  return now_ms() - std::max(entry.created_at_ms, entry.held_until_ms) > policy.give_up_after.count();
}

enum class HoldStep { wait, expired };

// The channel cannot send `entry` until its recipient writes again (Delivery::held):
// records the hold (a new one, or the first of this run), or says it has ended.
// `began_ms`: when the attempt that ended held began. A message from the recipient after it
// ends the hold, also one that arrived while the channel was sending its notice.
asio::awaitable<HoldStep> enter_hold(std::shared_ptr<State> st, OutboxEntry& entry, const Delivery& d,
                                     std::int64_t latency, std::int64_t began_ms) {
  auto now = now_ms();
  if (d.hold_for.count() > 0 || entry.held_since_ms == 0) {
    auto length = d.hold_for.count() > 0 ? d.hold_for : st->policy().give_up_after;
    entry.held_since_ms = began_ms;
    entry.held_until_ms = now + length.count();
    co_await st->outbox.hold(entry.id, entry.held_since_ms, entry.held_until_ms);
    st->record(entry, "held", d.detail, latency, d.peer_id);
    spdlog::info("outbox: {} event {} part {} held until its recipient writes again ({}), for at most {} s",
                 entry.channel, entry.event_id, entry.part + 1, d.detail, length.count() / 1000);
  }
  co_return now >= entry.held_until_ms ? HoldStep::expired : HoldStep::wait;
}

// The channel's find_delivered(), with what it throws taken as "cannot tell".
asio::awaitable<std::optional<std::string>> find_delivered_guarded(std::shared_ptr<State> st, OutboxEntry entry) {
  auto channel = st->lookup(entry.channel);
  if (!channel) co_return std::nullopt;
  try {
    co_return co_await channel->find_delivered(std::move(entry));
  } catch (...) {
    st->delivery_failed(std::current_exception());
  }
  co_return std::nullopt;
}

// Sends one entry until it is delivered, given up, or the gateway stops (then it stays queued).
asio::awaitable<EntryOutcome> deliver_entry(std::shared_ptr<State> st, OutboxEntry entry) {
  asio::steady_timer wait(co_await asio::this_coro::executor);
  bool held = false;
  if (entry.ambiguous) {
    // A send began before the last stop and its outcome is unknown. A channel whose peer
    // can show what arrived is asked first; otherwise sending again may duplicate the
    // message and not sending may lose it: we send (at least once) and leave a row so
    // the case can be found.
    auto found = co_await find_delivered_guarded(st, entry);
    if (found) {
      co_await st->outbox.delivered(entry.id, *found);
      st->record(entry, "delivered", "found_after_restart", -1, *found);
      spdlog::info("outbox: {} event {} part {} had arrived before the last stop; not sent again", entry.channel,
                   entry.event_id, entry.part + 1);
      co_return EntryOutcome::delivered;
    }
    spdlog::warn("outbox: {} event {} part {} may have been delivered before the last stop; sending again",
                 entry.channel, entry.event_id, entry.part + 1);
    st->record(entry, "ambiguous", "resent_after_restart", -1);
  }
  for (;;) {
    // Counted from before the send until its outcome is recorded, so a graceful
    // stop waits for it instead of leaving an ambiguous send behind. Counted
    // before `stopped` is checked: a stop sees either the count or the flag.
    ++st->sending;
    struct Sent {
      std::atomic<std::int64_t>& n;
      bool counted = true;
      void release() {
        if (std::exchange(counted, false)) --n;
      }
      ~Sent() { release(); }
    } sent{st->sending};
    if (st->stopped) co_return EntryOutcome::stopped;  // it stays queued for the next start
    auto started = std::chrono::steady_clock::now();
    auto began_ms = now_ms();
    Delivery d = not_configured();
    auto channel = st->lookup(entry.channel);
    auto hold = channel ? channel->delivery_hold() : std::string();
    if (!hold.empty() && !too_old(entry, st->policy())) {
      // Nothing is sent and no attempt used; one audit row for the first hold only.
      if (!std::exchange(held, true)) st->record(entry, "held", hold, -1);
      sent.release();
      wait.expires_after(kHoldRecheck);
      co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (!hold.empty()) {
      d.result = DeliveryResult::failed;  // held until give_up_after
      d.detail = hold;
    } else if (channel) {
      co_await st->outbox.attempt_started(entry.id);
      d = co_await deliver_guarded(st, channel, entry);
    }
    auto latency = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - started).count();
    if (d.result == DeliveryResult::delivered) {
      co_await st->outbox.delivered(entry.id, d.peer_id);
      st->record(entry, "delivered", "ok", latency, d.peer_id);
      co_return EntryOutcome::delivered;
    }
    if (d.result == DeliveryResult::held) {
      // Registered before the hold is written: a message from the recipient meanwhile is not missed.
      auto strand = co_await asio::this_coro::executor;
      auto release = st->wait_for_release(entry, strand);
      auto step = co_await enter_hold(st, entry, d, latency, began_ms);
      if (step == HoldStep::expired) {
        co_await st->outbox.gave_up(entry.id, "hold_expired");
        st->record(entry, "gave_up", "hold_expired", -1);
        spdlog::error("outbox: gave up {} event {} part {}: its recipient did not write again before the hold ended ({})",
                      entry.channel, entry.event_id, entry.part + 1, d.detail);
        co_return EntryOutcome::gave_up;
      }
      sent.release();
      if (!release->released) {
        auto until = std::chrono::system_clock::time_point(milliseconds(entry.held_until_ms));
        auto left = std::chrono::duration_cast<milliseconds>(until - std::chrono::system_clock::now());
        release->timer.expires_after(std::clamp(left, milliseconds(0), kRecipientHoldRecheck));
        co_await release->timer.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      continue;
    }
    ++entry.attempts;
    auto policy = st->policy();
    if (d.result == DeliveryResult::failed || entry.attempts >= policy.max_attempts || too_old(entry, policy)) {
      co_await st->outbox.gave_up(entry.id, d.detail);
      st->record(entry, "gave_up", d.detail, latency, {}, d.ambiguous);
      spdlog::error("outbox: gave up delivering {} event {} part {} after {} attempt(s): {}", entry.channel,
                    entry.event_id, entry.part + 1, entry.attempts, d.detail);
      co_return EntryOutcome::gave_up;
    }
    co_await st->outbox.attempt_failed(entry.id, d.detail);
    // After an ambiguous failure the retry may deliver twice: the row says so, as for a
    // send interrupted by a restart.
    st->record(entry, d.ambiguous ? "ambiguous" : "retry", d.detail, latency, {}, d.ambiguous);
    sent.release();
    auto backoff = jittered_backoff(policy.first_backoff, std::min(entry.attempts - 1, 20), policy.max_backoff);
    auto delay = std::max(d.retry_after, backoff);
    spdlog::warn("outbox: {} event {} part {} not delivered ({}); attempt {} in {} ms", entry.channel, entry.event_id,
                 entry.part + 1, d.detail, entry.attempts + 1, delay.count());
    wait.expires_after(delay);
    co_await wait.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// Parts of one answer, in order: a part never overtakes the one before it.
asio::awaitable<void> deliver_parts(std::shared_ptr<State> st, std::vector<OutboxEntry> parts) {
  const std::string earlier_failed = "earlier_part_not_delivered";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto outcome = co_await deliver_entry(st, parts[i]);
    if (outcome == EntryOutcome::stopped) co_return;  // this part and the rest resume at the next start
    st->count_pending(-1);
    if (outcome == EntryOutcome::delivered) continue;
    for (std::size_t j = i + 1; j < parts.size(); ++j) {
      co_await st->outbox.gave_up(parts[j].id, earlier_failed);
      st->record(parts[j], "gave_up", earlier_failed, -1);
      st->count_pending(-1);
    }
    co_return;
  }
}

}  // namespace

OutboxDrain::OutboxDrain(asio::any_io_executor executor, Outbox& outbox, ChannelLookup lookup, AuditSink& audit,
                         observability::MetricsRegistry& metrics, DeliveryPolicy policy)
    : state_(std::make_shared<State>(
          std::move(executor), outbox, std::move(lookup), audit, policy,
          metrics.counter("hermes_outbox_deliveries_total",
                          "Outbox delivery attempts of asynchronous channels, by channel and result "
                          "(delivered, retry, gave_up, ambiguous).",
                          {"channel", "result"}),
          metrics.gauge("hermes_outbox_pending", "Answers queued for asynchronous channels and not yet delivered.")
              .with({}),
          metrics)) {}

OutboxDrain::~OutboxDrain() = default;

asio::awaitable<bool> OutboxDrain::enqueue(std::vector<OutboxEntry> parts) {
  auto queued = co_await state_->outbox.enqueue(std::move(parts));
  if (!queued) co_return false;
  if (!queued->empty()) start(std::move(*queued));  // empty: queued before, and delivered from there
  co_return true;
}

void OutboxDrain::start(std::vector<OutboxEntry> parts) {
  state_->count_pending(static_cast<std::int64_t>(parts.size()));
  // A strand per answer: the HTTP client's deadline handlers must not race its I/O.
  asio::co_spawn(asio::make_strand(state_->executor), deliver_parts(state_, std::move(parts)), state_->report_failure);
}

void OutboxDrain::resume() {
  auto entries = state_->outbox.undelivered();
  if (entries.empty()) return;
  spdlog::warn("outbox: resuming {} undelivered part(s) from before the last stop", entries.size());
  // Group the parts of each answer (entries come ordered by id, parts consecutive).
  std::vector<OutboxEntry> group;
  for (auto& e : entries) {
    if (!group.empty() && (group.back().channel != e.channel || group.back().event_id != e.event_id)) {
      start(std::exchange(group, {}));
    }
    group.push_back(std::move(e));
  }
  if (!group.empty()) start(std::move(group));
}

std::size_t OutboxDrain::sending() const { return static_cast<std::size_t>(state_->sending.load()); }

void OutboxDrain::stop() { state_->stopped = true; }

asio::awaitable<bool> OutboxDrain::failed_after_delivery(std::string channel, std::string peer_id, std::string detail,
                                                         bool requeue) {
  auto entry = co_await state_->outbox.failed_after_delivery(channel, peer_id, detail, requeue);
  if (!entry) co_return false;
  requeue = requeue && entry->attempts < Outbox::kMaxRequeues;  // else failed for good: see kMaxRequeues
  // The same row a give-up writes, marked as coming after the peer had accepted it.
  state_->record(*entry, requeue ? "requeued_after_delivery" : "failed_after_delivery", detail, -1, peer_id);
  if (requeue) {
    std::vector<OutboxEntry> again;
    again.push_back(std::move(*entry));
    start(std::move(again));
  }
  co_return true;
}

std::size_t OutboxDrain::release(const std::string& channel, const std::string& conversation) {
  return state_->release(channel, conversation);
}

void OutboxDrain::set_policy(const DeliveryPolicy& policy) {
  std::lock_guard lock(state_->policy_mutex);
  state_->policy_ = policy;
}

std::size_t OutboxDrain::pending() const { return static_cast<std::size_t>(state_->pending.load()); }

// ---------------------------------------------------------------------------


void AsyncIntake::record_rejection(const InboundMessage& m, const std::string& status, const std::string& why) {
  AuditEvent ev;
  ev.kind = "message.rejected";
  ev.request_id = m.request_id;
  ev.channel = channel_;
  ev.sender = m.sender;
  ev.conversation = m.conversation;
  ev.decision = "rejected";
  ev.status = status;
  ev.detail = {{"event_id", m.event_id}};
  if (!why.empty()) ev.detail["why"] = why;
  audit_.record(std::move(ev));
  events_.with({channel_, status}).inc();
}

AsyncIntake::AsyncIntake(const std::string& channel_name, ChannelContext& context)
    : channel_(channel_name), ingress_(context.ingress), intake_(context.intake), outbox_(context.outbox),
      audit_(context.audit),
      events_(context.metrics.counter("hermes_async_events_total",
                                      "Events received by asynchronous channels, by channel and outcome.",
                                      {"channel", "outcome"})),
      report_failure_(context.metrics, "async_answer") {
  if (!intake_ || !outbox_) throw std::logic_error("channel " + channel_name + " needs durable intake and an outbox");
}

asio::awaitable<Accepted> AsyncIntake::accept(std::shared_ptr<AsyncIntake> self, std::shared_ptr<Channel> owner,
                                              InboundMessage message) {
  if (!self->ingress_->has_headroom()) {
    self->events_.with({self->channel_, "overloaded"}).inc();
    co_return Accepted::overloaded;  // nothing was acknowledged: the sender retries
  }
  auto claim = co_await self->intake_->claim(message);
  if (claim == IntakeClaim::failed) {
    self->events_.with({self->channel_, "intake_failed"}).inc();
    co_return Accepted::failed;
  }
  if (claim == IntakeClaim::duplicate) {
    self->record_rejection(message, "duplicate", "");
    co_return Accepted::duplicate;
  }
  self->events_.with({self->channel_, "accepted"}).inc();
  auto executor = co_await asio::this_coro::executor;
  auto work = answer(self, std::move(owner), std::move(message));
  asio::co_spawn(executor, std::move(work), self->report_failure_);
  co_return Accepted::accepted;
}

asio::awaitable<void> AsyncIntake::replay(std::shared_ptr<AsyncIntake> self, std::shared_ptr<Channel> owner,
                                          InboundMessage message, bool allowed) {
  if (!allowed) {
    self->intake_->complete(message.channel, message.event_id);
    co_return;
  }
  co_await answer(std::move(self), std::move(owner), std::move(message));
}

asio::awaitable<void> AsyncIntake::answer(std::shared_ptr<AsyncIntake> self, std::shared_ptr<Channel> owner,
                                          InboundMessage message) {
  auto preview = owner->preview(message);
  CollectedReply reply(preview);
  co_await self->ingress_->submit(message, reply);
  // What the preview showed is replaced by the answer's first part (or the failure's notice).
  std::string previewed;
  if (preview) previewed = co_await preview->finish();
  std::string text = reply.text;
  std::string error_code;
  if (reply.failed) {
    if (reply.error.reason == Reason::cancelled) co_return;  // shutting down: replayed at the next start
    error_code = std::string(reason_code(reply.error.reason));
    text = reply.error.message;
    if (reply.error.reason == Reason::rate_limited && !self->first_notice_in_window(message, reply.error.retry_after)) {
      self->intake_->complete(message.channel, message.event_id);  // one polite notice per window is enough
      co_return;
    }
  } else if (text.empty()) {
    error_code = "empty_answer";
    text = "The agent returned an empty answer.";
  }
  auto parts = entries_for(*owner, message, reply.agent, std::move(text), error_code);
  if (!previewed.empty() && !parts.empty()) parts.front().delivery_context = previewed;
  bool queued = co_await self->outbox_->enqueue(std::move(parts));
  if (!queued) {
    self->events_.with({self->channel_, "outbox_failed"}).inc();
    spdlog::error("[{}] {}: the answer to event {} could not be queued; it is answered again at the next start",
                  message.request_id, self->channel_, message.event_id);
  }
}

std::vector<OutboxEntry> AsyncIntake::entries_for(const Channel& owner, const InboundMessage& m,
                                                 const std::string& agent, std::string text,
                                                 const std::string& error_code) {
  auto pieces = owner.split_for_delivery(std::move(text));
  std::vector<OutboxEntry> parts;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    OutboxEntry e;
    e.channel = m.channel;
    e.event_id = m.event_id;
    e.part = static_cast<int>(i);
    e.parts = static_cast<int>(pieces.size());
    e.request_id = m.request_id;
    e.account = m.account;
    e.conversation = m.conversation;
    e.thread = m.thread;
    e.recipient = m.sender;
    e.agent = agent;
    e.text = std::move(pieces[i]);
    e.delivery_context = m.delivery_context;
    e.error_code = error_code;
    parts.push_back(std::move(e));
  }
  return parts;
}

asio::awaitable<Accepted> AsyncIntake::refuse(std::shared_ptr<AsyncIntake> self, std::shared_ptr<Channel> owner,
                                              InboundMessage message, std::string why, std::string notice) {
  auto claim = co_await self->intake_->claim(message);
  if (claim == IntakeClaim::failed) co_return Accepted::failed;
  if (claim == IntakeClaim::duplicate) co_return Accepted::duplicate;
  self->record_rejection(message, "not_allowed", why);
  if (notice.empty() || !self->first_refusal(message.sender)) {
    self->intake_->complete(message.channel, message.event_id);
    co_return Accepted::accepted;
  }
  auto parts = entries_for(*owner, message, "", std::move(notice), "not_allowed");
  bool queued = co_await self->outbox_->enqueue(std::move(parts));
  co_return queued ? Accepted::accepted : Accepted::failed;
}

bool AsyncIntake::first_refusal(const std::string& sender) {
  std::lock_guard lock(notices_mutex_);
  if (refused_.size() > 100'000) refused_.clear();  // bounded; a few users may be told twice
  return refused_.insert(sender).second;
}

bool AsyncIntake::first_notice_in_window(const InboundMessage& m, std::chrono::seconds window) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(notices_mutex_);
  if (notice_until_.size() > 10'000) std::erase_if(notice_until_, [now](const auto& kv) { return kv.second < now; });
  auto& until = notice_until_[m.sender + '\n' + m.conversation];
  if (until > now) return false;
  until = now + std::max<std::chrono::seconds>(window, std::chrono::seconds(1));
  return true;
}

}  // namespace hermes::channels
