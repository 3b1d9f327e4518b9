#pragma once
// LMTP (RFC 2033) listeners: how the organisation's MTA hands mail to Hermes. A listener
// with `protocol: lmtp` shares the acceptor with HTTP listeners (admission, caps, refusal
// audit, drain) and runs an LMTP session per connection instead of HTTP. Channels register
// the addresses they take on the listener's LmtpRoutes; the session asks them at RCPT and
// hands them the message after DATA, and answers one reply per accepted recipient, in RCPT
// order, as RFC 2033 requires.

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/core/ip.hpp"
#include "hermes/core/units.hpp"

namespace hermes::net {

// One SMTP reply: "250 2.1.5 OK".
struct LmtpReply {
  int code = 250;
  std::string enhanced;  // RFC 3463 status code, e.g. "2.1.5"
  std::string text;
  std::string line() const;  // with CRLF
};

// A message as the session received it.
struct LmtpEnvelope {
  std::string listener;
  IpAddress client;
  std::string lhlo;                     // the client's LHLO name
  std::string mail_from;                // the reverse-path without <>; "" for the null path <>
  std::vector<std::string> recipients;  // this mailbox's accepted recipients, in RCPT order
  bool tls = false;                     // the session ran STARTTLS
};

// What a channel registers for its addresses.
class LmtpMailbox {
 public:
  virtual ~LmtpMailbox() = default;
  // Takes the message for `envelope.recipients`: one reply per recipient, in their order
  // (250 only once the message is durably stored). `data` is the message as sent (dot-
  // stuffing removed, CRLF line endings).
  virtual boost::asio::awaitable<std::vector<LmtpReply>> deliver(LmtpEnvelope envelope,
                                                                 std::shared_ptr<const std::string> data) = 0;
};

// The addresses a listener accepts, each with its mailbox. Built whole and swapped on reload.
class LmtpRoutes {
 public:
  // `address` is compared case-insensitively. A second registration of an address: logic_error.
  void add(std::string_view address, std::shared_ptr<LmtpMailbox> mailbox);
  std::shared_ptr<LmtpMailbox> find(std::string_view address) const;
  bool empty() const { return mailboxes_.empty(); }

 private:
  std::map<std::string, std::shared_ptr<LmtpMailbox>, std::less<>> mailboxes_;
};

// The LMTP side of a listener's settings.
struct LmtpSettings {
  std::string hostname = "hermes";  // in the greeting and the LHLO answer
  std::uint64_t max_message_size = 10 * 1024 * 1024;  // SIZE; larger messages get 552 5.3.4
  std::uint32_t max_recipients = 100;                 // per transaction; more get 452 4.5.3
  Duration command_timeout{300'000};                  // waiting for a command (RFC 5321: 5 min)
  Duration data_timeout{600'000};                     // the whole DATA section
};

// An address as routes compare it: lower-cased, surrounding spaces removed.
std::string normalize_address(std::string_view address);

}  // namespace hermes::net
