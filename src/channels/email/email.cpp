// The email channel: mail from the MTA over LMTP, claimed by Message-ID before the 250,
// answered in its thread by SMTP submission from the outbox; automatic mail never answered.
#include "hermes/channels/email.hpp"

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <mutex>

#include "hermes/channels/async.hpp"
#include "hermes/config/reader.hpp"
#include "hermes/core/digest.hpp"
#include "hermes/net/lmtp.hpp"
#include "hermes/net/smtp.hpp"
#include "hermes/observability/metrics.hpp"

namespace hermes::channels::email {
namespace {

namespace asio = boost::asio;
using nlohmann::json;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// local@domain with a non-empty local part and a dotted domain; no spaces or brackets.
bool plausible_address(std::string_view a) {
  auto at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= a.size() || a.size() > 254) return false;
  if (a.substr(at + 1).find('.') == std::string_view::npos) return false;
  return std::none_of(a.begin(), a.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == '<' || c == '>' || c == ',' || c == ';' || c == '"';
  });
}

// "Corp Support <support@corp.example>" or "support@corp.example".
std::optional<MailAddress> parse_from(std::string_view text) {
  MailAddress out;
  auto open = text.rfind('<');
  if (open != std::string_view::npos) {
    auto close = text.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    out.address = std::string(text.substr(open + 1, close - open - 1));
    std::string_view name = text.substr(0, open);
    while (!name.empty() && (name.back() == ' ' || name.back() == '"')) name.remove_suffix(1);
    while (!name.empty() && (name.front() == ' ' || name.front() == '"')) name.remove_prefix(1);
    out.name = std::string(name);
  } else {
    out.address = std::string(text);
  }
  if (!plausible_address(out.address)) return std::nullopt;
  return out;
}

void parse_smtp(config::MapReader& channel, SmtpSpec& smtp) {
  config::MapReader r(channel.child("smtp"), channel.path_of("smtp"), channel.context());
  if (!channel.has("smtp")) {
    channel.context().error(channel.node(), channel.path_of("smtp"),
                            "smtp is required: the submission server replies are sent through");
    return;
  }
  if (auto host = r.required<std::string>("host")) smtp.host = *host;
  auto security = r.optional<std::string>("security").value_or("starttls");
  if (security == "starttls") {
    smtp.security = SmtpSecurityMode::starttls;
    smtp.port = 587;
  } else if (security == "tls") {
    smtp.security = SmtpSecurityMode::tls;
    smtp.port = 465;
  } else if (security == "none") {
    smtp.security = SmtpSecurityMode::none;
    smtp.port = 25;
    if (!smtp.host.empty() && !config::is_loopback_host(smtp.host)) {
      r.context().error(r.child("security"), r.path_of("security"),
                        "security: none is allowed only for a submission server on loopback (this one is " +
                            smtp.host + "); use starttls or tls");
    }
  } else {
    r.context().error(r.child("security"), r.path_of("security"),
                      "invalid security '" + security + "' (expected starttls | tls | none)");
  }
  if (auto port = r.optional<std::uint16_t>("port")) smtp.port = *port;
  smtp.username = r.optional<std::string>("username").value_or("");
  if (r.has("password")) {
    if (auto password = r.optional<Secret>("password")) smtp.password = *password;
  }
  if (!smtp.username.empty() && smtp.password.empty()) {
    r.context().error(r.child("password"), r.path_of("password"), "password is required with username");
  }
  smtp.timeout = r.optional<Duration>("timeout").value_or(smtp.timeout);
  smtp.tls = config::parse_client_tls(r, "tls", smtp.host);
  r.finish();
}

std::unique_ptr<config::ChannelSpec> parse(config::MapReader& r) {
  auto spec = std::make_unique<EmailSpec>();
  auto addresses = r.required<std::vector<std::string>>("addresses").value_or(std::vector<std::string>{});
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    auto address = lower(addresses[i]);
    if (!plausible_address(address)) {
      r.context().error(r.child("addresses"), r.path_of("addresses") + "[" + std::to_string(i) + "]",
                        "'" + addresses[i] + "' is not an email address (local@domain)");
      continue;
    }
    spec->addresses.push_back(address);
  }
  if (r.has("addresses") && addresses.empty()) {
    r.context().error(r.child("addresses"), r.path_of("addresses"), "addresses is empty: no mail would be accepted");
  }
  if (auto from = r.required<std::string>("from")) {
    if (auto parsed = parse_from(*from)) {
      spec->from = *parsed;
    } else {
      r.context().error(r.child("from"), r.path_of("from"),
                        "from must be an address, or a name and an address: \"Corp Support <support@corp.example>\"");
    }
  }
  spec->envelope_from = lower(r.optional<std::string>("envelope_from").value_or(""));
  if (!spec->envelope_from.empty() && !plausible_address(spec->envelope_from)) {
    r.context().error(r.child("envelope_from"), r.path_of("envelope_from"),
                      "envelope_from must be an address, or \"\" for the null reverse-path");
  }
  parse_smtp(r, spec->smtp);
  for (auto& s : r.optional<std::vector<std::string>>("allowed_senders").value_or(std::vector<std::string>{})) {
    spec->allowed_senders.push_back(lower(s));
  }
  spec->dedup_retention = r.optional<Duration>("dedup_retention").value_or(spec->dedup_retention);
  if (spec->dedup_retention < std::chrono::hours(24)) {
    r.context().error(r.child("dedup_retention"), r.path_of("dedup_retention"), "dedup_retention must be at least 24h");
  }
  return spec;
}

std::string local_part(std::string_view address) { return lower(address.substr(0, address.rfind('@'))); }

bool system_address(std::string_view address) {
  static const char* const kSystemSenders[] = {"mailer-daemon", "postmaster", "noreply",  "no-reply",
                                               "no_reply",      "donotreply", "do-not-reply", "bounce",
                                               "bounces"};
  auto local = local_part(address);
  for (const char* system : kSystemSenders) {
    if (local == system || local.rfind(std::string(system) + "+", 0) == 0) return true;
  }
  // Mailing-list software: owner-list@, list-request@.
  return local.rfind("owner-", 0) == 0 || (local.size() > 8 && local.ends_with("-request"));
}
std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : lower(address.substr(at + 1));
}

}  // namespace

void EmailSpec::validate(const config::Config& cfg, const std::string& path, config::ParseContext& ctx) const {
  for (const auto& other : cfg.channels) {
    if (other.get() == this) break;  // each pair once, reported at the later channel
    const auto* mail = dynamic_cast<const EmailSpec*>(other.get());
    if (!mail || mail->listener != listener) continue;
    for (const auto& a : addresses) {
      if (std::find(mail->addresses.begin(), mail->addresses.end(), a) != mail->addresses.end()) {
        ctx.error_at(where, path + ".addresses",
                     "address " + a + " is already taken by channel '" + mail->name + "' on listener " + listener);
      }
    }
  }
}

std::string loop_guard(const ParsedMail& mail, std::string_view reverse_path, const EmailSpec& spec) {
  if (!mail.auto_submitted.empty() && mail.auto_submitted != "no") return "auto_submitted";
  if (mail.autoresponder || mail.precedence == "auto_reply") return "auto_submitted";
  if (mail.report) return "report";
  if (mail.precedence == "bulk" || mail.precedence == "list" || mail.precedence == "junk") {
    return "precedence_" + mail.precedence;
  }
  if (mail.list) return "mailing_list";
  if (reverse_path.empty()) return "null_reverse_path";  // bounces and other automatic mail (RFC 3834 §2)
  if (mail.from.address.empty()) return "no_sender";
  // The reply goes to Reply-To when there is one: it is held to the same rules as From.
  std::vector<std::string> repliers = {lower(mail.from.address)};
  if (mail.reply_to && !mail.reply_to->address.empty()) repliers.push_back(lower(mail.reply_to->address));
  for (const auto& a : repliers) {
    if (system_address(a)) return "system_sender";
    if (a == lower(spec.from.address) || std::find(spec.addresses.begin(), spec.addresses.end(), a) != spec.addresses.end()) {
      return "own_address";
    }
  }
  // Our replies' ids (reply_message_id): a reply of ours that came back.
  auto own_suffix = "@" + domain_of(spec.from.address);
  if (mail.message_id.rfind("hermes.", 0) == 0 && mail.message_id.size() > own_suffix.size() &&
      lower(mail.message_id.substr(mail.message_id.size() - own_suffix.size())) == own_suffix) {
    return "own_message";
  }
  return {};
}

bool sender_allowed(std::string_view address, const std::vector<std::string>& allowed) {
  if (allowed.empty()) return true;
  auto a = lower(address);
  for (const auto& entry : allowed) {
    if (entry == a) return true;
    if (!entry.empty() && entry.front() == '@' && a.size() > entry.size() &&
        a.compare(a.size() - entry.size(), entry.size(), entry) == 0) {
      return true;
    }
  }
  return false;
}

std::string reply_message_id(const std::string& channel, const std::string& event_id, int part,
                             const MailAddress& from) {
  auto digest = sha256_hex(channel + "\n" + event_id + "\n" + std::to_string(part));
  return "hermes." + digest.substr(0, 32) + "@" + domain_of(from.address);
}

namespace {

net::SmtpSettings smtp_settings(const SmtpSpec& spec, const std::string& helo) {
  net::SmtpSettings s;
  s.host = spec.host;
  s.port = spec.port;
  s.security = spec.security == SmtpSecurityMode::starttls ? net::SmtpSecurity::starttls
               : spec.security == SmtpSecurityMode::tls    ? net::SmtpSecurity::tls
                                                           : net::SmtpSecurity::none;
  s.username = spec.username;
  s.password = spec.password;
  s.tls.ca_file = spec.tls.ca_file;
  s.tls.server_name = spec.tls.server_name;
  s.tls.verify = spec.tls.verify;
  s.helo_name = helo;
  s.command_timeout = spec.timeout;
  return s;
}

// What the agent reads: the subject, the new text, and what it cannot open.
std::string agent_text(const ParsedMail& mail) {
  std::string text = "Subject: " + mail.subject + "\n\n" + mail.text;
  if (!mail.attachments.empty()) {
    text += "\n\n(Attached, which the assistant cannot open:";
    for (const auto& a : mail.attachments) {
      text += " " + (a.name.empty() ? std::string("(unnamed)") : a.name) + " (" + a.type + ", " +
              std::to_string((a.size + 1023) / 1024) + " KB);";
    }
    text.back() = ')';
  }
  return text;
}

// The thread a message belongs to: the first message of its References chain, so a reply,
// and a reply-all from someone else, continue one conversation.
std::string thread_root(const ParsedMail& mail, const std::string& event_id) {
  if (!mail.references.empty()) return mail.references.front();
  if (!mail.in_reply_to.empty()) return mail.in_reply_to.front();
  return event_id;
}

std::string delivery_context(const ParsedMail& mail) {
  const MailAddress& to = mail.reply_to && !mail.reply_to->address.empty() ? *mail.reply_to : mail.from;
  json references = json::array();
  for (const auto& r : mail.references) references.push_back(r);
  json j = {{"to", to.address},          {"to_name", to.name}, {"subject", mail.subject},
            {"references", references}, {"parent", mail.message_id}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::vector<net::LmtpReply> replies_for(std::size_t n, int code, const char* enhanced, std::string text) {
  return std::vector<net::LmtpReply>(n, net::LmtpReply{code, enhanced, std::move(text)});
}

class EmailChannel final : public Channel, public std::enable_shared_from_this<EmailChannel> {
 public:
  EmailChannel(const EmailSpec& spec, ChannelContext& ctx)
      : spec_(spec), async_(std::make_shared<AsyncIntake>(spec.name, ctx)), intake_(ctx.intake), audit_(ctx.audit),
        io_(ctx.io), helo_(ctx.config->gateway.instance),
        messages_(ctx.metrics.counter("hermes_email_messages_total",
                                      "Mail the email channel received, by channel and outcome (accepted, duplicate, "
                                      "skipped_<why>, not_allowed, bad_message, busy).",
                                      {"channel", "outcome"})),
        submissions_(ctx.metrics.counter("hermes_email_submissions_total",
                                         "Replies handed to the submission server, by channel and result.",
                                         {"channel", "result"})) {
    if (intake_) intake_->remember_for(spec_.name, spec_.dedup_retention);
  }

  void mount(net::LmtpRoutes& mailboxes);

  ChannelHealth health() const override {
    std::lock_guard lock(mutex_);
    if (!submission_error_.empty()) {
      return {false, "the submission server refuses replies (" + submission_error_ +
                         "): mail is still accepted and answers wait in the outbox"};
    }
    return {true, "LMTP on listener " + spec_.listener + " for " + std::to_string(spec_.addresses.size()) +
                      " address(es)"};
  }

  asio::awaitable<void> resume(InboundMessage message) override {
    std::shared_ptr<Channel> self = shared_from_this();
    co_await AsyncIntake::answer(async_, self, std::move(message));
  }

  // One mail per answer: no size limit worth splitting for.
  std::vector<std::string> split_for_delivery(std::string text) const override { return {std::move(text)}; }

  asio::awaitable<Delivery> deliver(OutboxEntry entry) override {
    auto context = json::parse(entry.delivery_context, nullptr, false);
    Delivery d;
    if (!context.is_object() || !context.value("to", std::string()).size() || !io_) {
      d.result = DeliveryResult::failed;
      d.detail = "no_reply_address";
      co_return d;
    }
    OutgoingMail mail = outgoing(entry, context);
    net::SmtpMessage message;
    message.mail_from = spec_.envelope_from;
    message.rcpt_to.push_back(mail.to.address);
    message.data = compose_reply(mail);
    auto settings = smtp_settings(spec_.smtp, helo_);
    auto sent = co_await net::smtp_send(*io_, std::move(settings), std::move(message));
    co_return delivery_of(sent, mail.message_id);
  }

  static asio::awaitable<std::vector<net::LmtpReply>> receive(std::shared_ptr<EmailChannel> self,
                                                             net::LmtpEnvelope envelope,
                                                             std::shared_ptr<const std::string> data);

 private:
  OutgoingMail outgoing(const OutboxEntry& entry, const json& context) const {
    OutgoingMail mail;
    mail.from = spec_.from;
    mail.to.address = context.value("to", std::string());
    mail.to.name = context.value("to_name", std::string());
    mail.subject = context.value("subject", std::string());
    mail.in_reply_to = context.value("parent", std::string());
    if (context.contains("references") && context["references"].is_array()) {
      for (const auto& r : context["references"]) {
        if (r.is_string()) mail.references.push_back(r.get<std::string>());
      }
    }
    mail.text = entry.text;
    mail.message_id = reply_message_id(spec_.name, entry.event_id, entry.part, spec_.from);
    mail.date_unix = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    return mail;
  }

  Delivery delivery_of(const net::SmtpResult& sent, const std::string& message_id) {
    Delivery d;
    d.detail = sent.detail;
    d.ambiguous = sent.ambiguous;
    if (sent.outcome == net::SmtpOutcome::sent) {
      d.result = DeliveryResult::delivered;
      d.peer_id = message_id;
      set_submission_error("");
    } else if (sent.outcome == net::SmtpOutcome::retry) {
      d.result = DeliveryResult::retry;
    } else {
      d.result = DeliveryResult::failed;
    }
    // Credentials or certificates refused: every reply will fail the same way.
    if (sent.detail == "auth_failed" || sent.detail == "tls") set_submission_error(sent.detail);
    submissions_.with({spec_.name, sent.outcome == net::SmtpOutcome::sent    ? "sent"
                                   : sent.outcome == net::SmtpOutcome::retry ? "retry"
                                                                             : "failed"})
        .inc();
    return d;
  }

  void set_submission_error(const std::string& error) {
    std::lock_guard lock(mutex_);
    if (error != submission_error_ && !error.empty()) {
      spdlog::error("email {}: the submission server {}:{} refuses replies ({})", spec_.name, spec_.smtp.host,
                    spec_.smtp.port, error);
    }
    submission_error_ = error;
  }

  void count(const std::string& outcome) { messages_.with({spec_.name, outcome}).inc(); }

  void record_skipped(const ParsedMail& mail, const net::LmtpEnvelope& envelope, const std::string& why) {
    count("skipped_" + why);
    AuditEvent ev;
    ev.kind = "email.skipped";
    ev.channel = spec_.name;
    ev.sender = lower(mail.from.address);
    ev.decision = "not_answered";
    ev.status = why;
    json recipients = json::array();
    for (const auto& r : envelope.recipients) recipients.push_back(r);
    ev.detail = {{"message_id", mail.message_id}, {"reverse_path", envelope.mail_from}, {"recipients", recipients},
                 {"client", envelope.client.to_string()}};
    record_throttled(audit_, skipped_rows_, std::move(ev));  // anyone who reaches the MTA can send these
  }

  InboundMessage inbound(const ParsedMail& mail, const net::LmtpEnvelope& envelope, const std::string& data) const {
    InboundMessage m;
    m.request_id = generate_request_id();
    m.channel = spec_.name;
    m.channel_type = "email";
    m.sender = lower(mail.from.address);
    // The claim: the Message-ID *of this sender* (a Message-ID is the sender's to write, and
    // another sender reusing one must not silence it), or a hash of the message without one.
    m.event_id = mail.message_id.empty() ? "sha256:" + sha256_hex(data)
                                         : mail.message_id + " from " + sha256_hex(m.sender).substr(0, 16);
    m.conversation = thread_root(mail, mail.message_id.empty() ? m.event_id : mail.message_id);
    // References are the sender's to write: a session is the thread *and* its sender, so
    // naming someone else's thread never reads their history.
    m.group = true;
    for (const auto& r : envelope.recipients) m.recipient += (m.recipient.empty() ? "" : ", ") + r;
    m.text = agent_text(mail);
    m.client = envelope.client;
    m.delivery_context = delivery_context(mail);
    return m;
  }

  EmailSpec spec_;
  std::shared_ptr<AsyncIntake> async_;
  Intake* intake_;
  AuditSink& audit_;
  asio::io_context* io_;
  std::string helo_;
  EventThrottle bad_message_rows_;
  EventThrottle skipped_rows_;  // email.skipped
  observability::CounterFamily& messages_;
  observability::CounterFamily& submissions_;
  mutable std::mutex mutex_;
  std::string submission_error_;
};

// What the listener's LMTP session hands mail to, for the channel's addresses.
class EmailMailbox final : public net::LmtpMailbox {
 public:
  explicit EmailMailbox(std::shared_ptr<EmailChannel> channel) : channel_(std::move(channel)) {}
  asio::awaitable<std::vector<net::LmtpReply>> deliver(net::LmtpEnvelope envelope,
                                                       std::shared_ptr<const std::string> data) override {
    auto channel = channel_;  // named: no temporaries inside co_await (GCC 12)
    auto replies = co_await EmailChannel::receive(std::move(channel), std::move(envelope), std::move(data));
    co_return replies;
  }

 private:
  std::shared_ptr<EmailChannel> channel_;
};

void EmailChannel::mount(net::LmtpRoutes& mailboxes) {
  auto mailbox = std::make_shared<EmailMailbox>(shared_from_this());
  for (const auto& address : spec_.addresses) mailboxes.add(address, mailbox);
}

asio::awaitable<std::vector<net::LmtpReply>> EmailChannel::receive(std::shared_ptr<EmailChannel> self,
                                                                  net::LmtpEnvelope envelope,
                                                                  std::shared_ptr<const std::string> data) {
  const auto n = envelope.recipients.size();
  auto mail = parse_mail(*data);
  if (!mail.problem.empty()) {
    audit_bad_request(self->audit_, self->bad_message_rows_, self->spec_.name, envelope.client, mail.problem);
    self->count("bad_message");
    co_return replies_for(n, 554, "5.6.0", "cannot read this message: " + mail.problem);
  }
  auto why = loop_guard(mail, envelope.mail_from, self->spec_);
  if (!why.empty()) {
    self->record_skipped(mail, envelope, why);
    co_return replies_for(n, 250, "2.0.0", "accepted; not answered (" + why + ")");
  }
  InboundMessage m = self->inbound(mail, envelope, *data);
  std::shared_ptr<Channel> owner = self;
  Accepted accepted;
  bool reply_allowed = !mail.reply_to || mail.reply_to->address.empty() ||
                       sender_allowed(mail.reply_to->address, self->spec_.allowed_senders);
  if (!sender_allowed(m.sender, self->spec_.allowed_senders) || !reply_allowed) {
    accepted = co_await AsyncIntake::refuse(self->async_, owner, std::move(m), "not_allowed", "");
    if (accepted == Accepted::accepted || accepted == Accepted::duplicate) self->count("not_allowed");
  } else {
    accepted = co_await AsyncIntake::accept(self->async_, owner, std::move(m));
    if (accepted == Accepted::accepted || accepted == Accepted::duplicate) {
      self->count(accepted == Accepted::accepted ? "accepted" : "duplicate");
    }
  }
  if (accepted == Accepted::accepted || accepted == Accepted::duplicate) {
    co_return replies_for(n, 250, "2.0.0", "accepted");
  }
  self->count("busy");
  // Not stored: the MTA keeps the message and tries again.
  co_return replies_for(n, 451, "4.3.0", "cannot accept the message now; try again later");
}

std::shared_ptr<Channel> make_email_channel(const config::ChannelSpec& spec, ChannelContext& context) {
  if (!context.mailboxes) throw std::logic_error("email channel needs an lmtp listener");
  auto channel = std::make_shared<EmailChannel>(static_cast<const EmailSpec&>(spec), context);
  channel->mount(*context.mailboxes);
  return channel;
}

}  // namespace

void register_type(config::Registries& registries, ChannelFactories& factories) {
  registries.add_channel_type("email", parse);
  factories.add("email", make_email_channel);
}

}  // namespace hermes::channels::email
