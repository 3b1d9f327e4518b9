#pragma once
// Email (`type: email`): mail handed over by the organisation's MTA on an LMTP listener,
// claimed durably before the 250, answered in the same thread by SMTP submission through
// the outbox. Never answers automatic mail (RFC 3834).
//
//   listeners: [{name: mail-in, bind: lan, port: 2424, protocol: lmtp}]
//   channels:  [{name: mail, type: email, listener: mail-in, addresses: [...], from: ..., smtp: {...}}]

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/channels/channel.hpp"
#include "hermes/channels/email/mime.hpp"
#include "hermes/config/client_tls.hpp"
#include "hermes/core/secret.hpp"

namespace hermes::channels::email {

enum class SmtpSecurityMode { starttls, tls, none };

struct SmtpSpec {
  std::string host;
  std::uint16_t port = 587;
  SmtpSecurityMode security = SmtpSecurityMode::starttls;
  std::string username;  // empty: no AUTH
  Secret password;
  config::ClientTlsConfig tls;
  Duration timeout{30'000};  // per command (DATA's end waits longer)
};

struct EmailSpec final : config::ChannelSpec {
  std::vector<std::string> addresses;  // lower-case; the recipients accepted at RCPT
  MailAddress from;                    // the From of replies
  std::string envelope_from;           // the replies' reverse-path; "" is the null path <> (RFC 3834)
  SmtpSpec smtp;
  std::vector<std::string> allowed_senders;  // "alice@x.example" or "@x.example"; empty: everyone
  Duration dedup_retention{8LL * 24 * 3'600'000};  // an MTA may deliver a message again for days
  config::ListenerProtocol listener_protocol() const override { return config::ListenerProtocol::lmtp; }
  // Two email channels on one listener may not take the same address.
  void validate(const config::Config& cfg, const std::string& path, config::ParseContext& ctx) const override;
};

// Why a message must not be answered (RFC 3834 and common sense), or "" when it may be:
// auto_submitted, precedence_bulk|list|junk, mailing_list, null_reverse_path,
// system_sender (mailer-daemon, postmaster, noreply…), no_sender, own_message, own_address.
std::string loop_guard(const ParsedMail& mail, std::string_view reverse_path, const EmailSpec& spec);

// Whether `address` (lower-case) is allowed by `allowed` ("a@b" exact, "@b" a domain).
bool sender_allowed(std::string_view address, const std::vector<std::string>& allowed);

// The Message-ID of the reply to `event_id` (without <>): the same on every retry, so a
// message that may have gone out twice carries one id. On the domain of `from`.
std::string reply_message_id(const std::string& channel, const std::string& event_id, int part,
                             const MailAddress& from);

void register_type(config::Registries& registries, ChannelFactories& factories);

}  // namespace hermes::channels::email
