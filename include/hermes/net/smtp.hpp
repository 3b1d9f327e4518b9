#pragma once
// An SMTP submission client (RFC 5321, 3207 STARTTLS, 4954 AUTH, 1870 SIZE, 6152 8BITMIME):
// one message per fresh connection. Asio and OpenSSL stay in src/net/smtp_client.cpp.
//
// Failures come back as values (SmtpResult), never as exceptions: a reply's code decides
// (2xx sent, 4xx retry, 5xx failed); transport errors and timeouts are retried. A TLS
// handshake that fails inside TLS itself (the certificate does not verify, no common
// protocol version) is `failed`: a wrong CA, an expired certificate or an interception
// does not heal within a retry schedule and must reach an operator, and retrying would
// only hide it. A handshake cut by the network (reset, EOF, timeout) is retried.

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/core/secret.hpp"
#include "hermes/core/units.hpp"
#include "hermes/net/client_tls.hpp"

namespace boost::asio {
class io_context;
}

namespace hermes::net {

enum class SmtpSecurity { starttls, tls, none };  // 587 STARTTLS (required: fail if not offered), 465 implicit TLS, plaintext

struct SmtpSettings {
  std::string host;
  std::uint16_t port = 587;
  SmtpSecurity security = SmtpSecurity::starttls;
  std::string username;  // empty: no AUTH
  Secret password;
  ClientTls tls;
  std::string helo_name = "localhost";  // EHLO argument (the lead passes the instance's host name)
  Duration connect_timeout{10'000};     // resolve, TCP connect, and the TLS handshake (implicit TLS and STARTTLS)
  Duration command_timeout{30'000};     // per command/reply; DATA's final reply gets 5 min (RFC 5321 §4.5.3.2.6)
};

struct SmtpMessage {
  std::string mail_from;             // envelope sender; "" means the null reverse-path <>
  std::vector<std::string> rcpt_to;  // at least one
  std::string data;                  // the RFC 5322 message, CRLF line endings, NOT dot-stuffed (the client stuffs)
};

enum class SmtpOutcome { sent, retry, failed };

struct SmtpResult {
  SmtpOutcome outcome = SmtpOutcome::failed;
  int code = 0;              // the deciding reply code (0: transport error)
  std::string detail;        // for logs/audit, e.g. "smtp_451 4.3.0" or "connect" / "timeout" / "tls" / "starttls_unavailable" / "auth_failed"; never secrets
  std::string server_reply;  // the deciding reply's text, sanitized (printable ASCII, ≤ 200 chars)
  bool ambiguous = false;    // the connection failed after the final "." was sent: the server may have taken it
};

// Sends one message on a fresh connection: connect (with timeout), greeting 220, EHLO (fall back to HELO on 5xx
// only for security none), STARTTLS when required (re-EHLO after), AUTH PLAIN (or LOGIN when only LOGIN is
// advertised) when username is set — refuse to send credentials over an unencrypted connection unless the host
// is loopback, MAIL FROM:<…> (with SIZE= when advertised, and BODY=8BITMIME when advertised and data has 8-bit bytes),
// RCPT TO for each, DATA, dot-stuffed data + CRLF.CRLF, QUIT. 4xx → retry; 5xx → failed; transport errors/timeouts
// → retry. Every read line capped (1000 bytes per line, 100 lines per reply); the whole exchange bounded by the timeouts.
//
// Details beyond "smtp_<code>[ <enhanced>]": "connect", "timeout", "connection_lost", "tls", "protocol" (a malformed or oversized
// reply, or bytes pipelined after the 220 to STARTTLS), "starttls_unavailable", "auth_unavailable" (no PLAIN or
// LOGIN offered), "auth_failed", "auth_insecure" (credentials would travel in clear to a non-loopback host;
// nothing is sent), "invalid_address" (CR, LF, '<' or '>' in an address), "no_recipients", "cancelled".
// Recipients are all-or-nothing: DATA is sent only when every RCPT was accepted (else the worst reply decides:
// any 5xx → failed, else 4xx → retry), so a retry never duplicates a delivery.
// Call it from a strand (or a single-threaded io_context). Terminal cancellation of the calling coroutine aborts
// the exchange (detail "cancelled", outcome retry, ambiguous when after the final dot).
boost::asio::awaitable<SmtpResult> smtp_send(boost::asio::io_context& io, SmtpSettings settings, SmtpMessage message);

// Pure helpers, exposed for tests:

// Leading '.' doubled per line; ensures trailing CRLF. Bare CR and bare LF become CRLF, so the data
// can never hold a line ending a server might read as the end of DATA ("SMTP smuggling").
std::string dot_stuff(std::string_view data);

// One reply, possibly multi-line ("250-first", "250 last").
struct SmtpReply {
  int code = 0;
  std::vector<std::string> lines;  // the text after "NNN-" / "NNN ", one per line
  std::string enhanced;            // "4.3.0" when the first line starts with an enhanced status code (RFC 3463)
};

// Reads a reply line by line (lines without their CRLF).
class SmtpReplyParser {
 public:
  enum class Step { more, done, error };
  static constexpr std::size_t kMaxLines = 100;
  Step feed(std::string_view line);
  const SmtpReply& reply() const { return reply_; }
  void reset() { reply_ = {}; }

 private:
  SmtpReply reply_;
};

// "4.3.0" from "4.3.0 Try later"; "" when `text` does not start with one.
std::string smtp_enhanced_status(std::string_view text);
// 2xx sent, 4xx retry, anything else failed.
SmtpOutcome smtp_classify(int code);
// "smtp_451 4.3.0", or "smtp_451" without an enhanced code.
std::string smtp_reply_detail(const SmtpReply& reply);
// The reply's lines joined by ' ', anything outside printable ASCII replaced by '?', at most 200 chars.
std::string smtp_sanitize(const SmtpReply& reply);

// What an EHLO reply advertises.
struct SmtpExtensions {
  bool starttls = false;
  bool size = false;
  std::uint64_t size_limit = 0;  // 0: none declared
  bool eightbitmime = false;
  bool auth_plain = false;
  bool auth_login = false;
};
SmtpExtensions smtp_parse_ehlo(const SmtpReply& reply);

// The AUTH PLAIN initial response: base64("\0user\0password") (RFC 4616).
std::string smtp_auth_plain(std::string_view user, std::string_view password);
// AUTH LOGIN sends base64(user), then base64(password).
std::string smtp_auth_login_step(std::string_view value);

// 127.0.0.0/8, ::1, "localhost" (no DNS lookup).
bool smtp_is_loopback_host(std::string_view host);
// Whether credentials may go out: only over TLS, or in clear to a loopback host.
bool smtp_may_send_credentials(bool encrypted, std::string_view host);
// An address fit for "MAIL FROM:<…>" / "RCPT TO:<…>": no control characters, '<' or '>'.
bool smtp_valid_address(std::string_view address);

}  // namespace hermes::net
