// LMTP (RFC 2033): the command state machine (LmtpMachine) and the session that runs it
// on an admitted connection, with STARTTLS on the listener's certificate.
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include "hermes/net/lmtp.hpp"
#include "src/net/as_tuple.hpp"
#include "src/net/lmtp_machine.hpp"
#include "src/net/lmtp_session.hpp"
#include "src/net/tls_context.hpp"

namespace hermes::net {

namespace asio = boost::asio;
namespace beast = boost::beast;

std::string LmtpReply::line() const {
  std::string out = std::to_string(code);
  out += ' ';
  if (!enhanced.empty()) {
    out += enhanced;
    out += ' ';
  }
  for (char c : text) out += (c == '\r' || c == '\n') ? ' ' : c;  // one line, whatever a mailbox says
  out += "\r\n";
  return out;
}

std::string normalize_address(std::string_view address) {
  while (!address.empty() && address.front() == ' ') address.remove_prefix(1);
  while (!address.empty() && address.back() == ' ') address.remove_suffix(1);
  std::string out(address);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

void LmtpRoutes::add(std::string_view address, std::shared_ptr<LmtpMailbox> mailbox) {
  auto key = normalize_address(address);
  if (!mailboxes_.emplace(key, std::move(mailbox)).second) {
    throw std::logic_error("LMTP address " + key + " is registered twice");
  }
}

std::shared_ptr<LmtpMailbox> LmtpRoutes::find(std::string_view address) const {
  auto it = mailboxes_.find(normalize_address(address));
  return it == mailboxes_.end() ? nullptr : it->second;
}

namespace {

std::string reply(int code, std::string_view enhanced, std::string_view text) {
  return LmtpReply{code, std::string(enhanced), std::string(text)}.line();
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

// Printable ASCII only, at most `max` characters: what a client names goes into logs.
std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : text.substr(0, max)) out += (c >= 0x21 && c < 0x7f) ? c : '?';
  return out;
}

struct PathArgument {
  bool ok = false;
  std::string address;  // without <>
  std::string parameters;
};

// "FROM:<a@b> SIZE=1" after the verb: the keyword, a path in angle brackets, parameters.
PathArgument read_path(std::string_view argument, std::string_view keyword) {
  PathArgument out;
  if (!iequals_prefix(argument, keyword)) return out;
  argument.remove_prefix(keyword.size());
  while (!argument.empty() && argument.front() == ' ') argument.remove_prefix(1);  // "FROM: <a>" is common
  if (argument.empty() || argument.front() != '<') return out;
  auto close = argument.find('>');
  if (close == std::string_view::npos) return out;
  std::string_view path = argument.substr(1, close - 1);
  // A source route (@relay:user@host) is obsolete: the mailbox is after the colon.
  if (!path.empty() && path.front() == '@') {
    auto colon = path.find(':');
    if (colon == std::string_view::npos) return out;
    path.remove_prefix(colon + 1);
  }
  if (path.size() > 254) return out;
  for (char c : path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '<' || c == '>') return out;
  }
  out.ok = true;
  out.address = std::string(path);
  argument.remove_prefix(close + 1);
  while (!argument.empty() && argument.front() == ' ') argument.remove_prefix(1);
  out.parameters = std::string(argument);
  return out;
}

}  // namespace

LmtpMachine::LmtpMachine(const LmtpSettings& settings, std::shared_ptr<const LmtpRoutes> routes, bool tls_available)
    : settings_(settings), routes_(std::move(routes)), tls_available_(tls_available) {
  if (!routes_) routes_ = std::make_shared<const LmtpRoutes>();
}

std::string LmtpMachine::greeting() const { return reply(220, "", settings_.hostname + " LMTP Hermes ready"); }

LmtpMachine::Step LmtpMachine::error(int code, std::string enhanced, std::string text) {
  Step step{reply(code, enhanced, text)};
  if (++errors_ >= kMaxErrors) {
    step.replies += reply(421, "4.7.0", "too many errors; closing");
    step.next = Next::close;
  }
  return step;
}

void LmtpMachine::reset_transaction() {
  mail_from_set_ = false;
  mail_from_.clear();
  recipients_.clear();
  data_.clear();
  data_too_large_ = false;
  data_bad_bytes_ = false;
}

void LmtpMachine::tls_started() {
  tls_active_ = true;
  greeted_ = false;
  lhlo_.clear();
  reset_transaction();
}

LmtpMachine::Step LmtpMachine::on_command(std::string_view line) {
  if (line.find('\n') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
    // Bare LF or NUL: not a mail client; smuggling (a second command hidden in the line).
    return {reply(500, "5.5.2", "bare LF or NUL in a command; closing"), Next::close};
  }
  if (++commands_ > kMaxCommands) {
    return {reply(421, "4.7.0", "too many commands in one session; closing"), Next::close};
  }
  auto space = line.find(' ');
  std::string verb = upper(line.substr(0, space));
  std::string_view argument = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
  if (verb == "LHLO") return lhlo(argument);
  if (verb == "EHLO" || verb == "HELO") return error(500, "5.5.1", "this is an LMTP server (RFC 2033): send LHLO");
  if (verb == "MAIL") return mail(argument);
  if (verb == "RCPT") return rcpt(argument);
  if (verb == "DATA") return data();
  if (verb == "RSET") {
    reset_transaction();
    return {reply(250, "2.0.0", "OK")};
  }
  if (verb == "NOOP") return {reply(250, "2.0.0", "OK")};
  if (verb == "QUIT") return {reply(221, "2.0.0", settings_.hostname + " closing"), Next::close};
  if (verb == "VRFY") return {reply(252, "2.5.2", "cannot VRFY; send the message")};
  if (verb == "HELP") return {reply(214, "2.0.0", "LMTP (RFC 2033): LHLO MAIL RCPT DATA RSET NOOP QUIT STARTTLS")};
  if (verb == "STARTTLS") {
    if (tls_active_) return error(503, "5.5.1", "TLS is already active");
    if (!tls_available_) return error(454, "4.7.0", "TLS is not available on this listener");
    if (!argument.empty()) return error(501, "5.5.4", "STARTTLS takes no argument");
    reset_transaction();
    return {reply(220, "2.0.0", "ready to start TLS"), Next::starttls};
  }
  return error(500, "5.5.2", "command not recognized");
}

LmtpMachine::Step LmtpMachine::lhlo(std::string_view argument) {
  if (argument.empty()) return error(501, "5.5.4", "LHLO needs the client's host name");
  greeted_ = true;
  lhlo_ = printable(argument, 255);
  reset_transaction();
  std::vector<std::string> lines = {settings_.hostname, "PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME",
                                    "SIZE " + std::to_string(settings_.max_message_size)};
  if (tls_available_ && !tls_active_) lines.emplace_back("STARTTLS");
  std::string out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += "250";
    out += i + 1 == lines.size() ? ' ' : '-';
    out += lines[i];
    out += "\r\n";
  }
  return {out};
}

LmtpMachine::Step LmtpMachine::mail(std::string_view argument) {
  if (!greeted_) return error(503, "5.5.1", "send LHLO first");
  if (mail_from_set_) return error(503, "5.5.1", "a transaction is already open (RSET first)");
  auto path = read_path(argument, "FROM:");
  if (!path.ok) return error(501, "5.5.4", "syntax: MAIL FROM:<address> [SIZE=n] [BODY=8BITMIME]");
  std::string_view parameters = path.parameters;
  while (!parameters.empty()) {
    auto end = parameters.find(' ');
    std::string parameter = upper(parameters.substr(0, end));
    parameters = end == std::string_view::npos ? std::string_view() : parameters.substr(end + 1);
    if (parameter.empty()) continue;
    if (parameter.rfind("SIZE=", 0) == 0) {
      auto digits = parameter.substr(5);
      if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) {
        return error(501, "5.5.4", "SIZE must be a number");
      }
      if (std::stoull(digits) > settings_.max_message_size) {
        return {reply(552, "5.3.4", "message size exceeds the limit of " +
                                        std::to_string(settings_.max_message_size) + " bytes")};
      }
    } else if (parameter != "BODY=7BIT" && parameter != "BODY=8BITMIME") {
      return error(555, "5.5.4", "unsupported MAIL parameter " + printable(parameter, 40));
    }
  }
  mail_from_set_ = true;
  mail_from_ = path.address;
  return {reply(250, "2.1.0", "OK")};
}

LmtpMachine::Step LmtpMachine::rcpt(std::string_view argument) {
  if (!mail_from_set_) return error(503, "5.5.1", "send MAIL first");
  auto path = read_path(argument, "TO:");
  if (!path.ok || path.address.empty()) return error(501, "5.5.4", "syntax: RCPT TO:<address>");
  if (!path.parameters.empty()) return error(555, "5.5.4", "RCPT parameters are not supported");
  if (recipients_.size() >= settings_.max_recipients) return {reply(452, "4.5.3", "too many recipients")};
  // Never a relay: only the addresses channels registered.
  if (!routes_->find(path.address)) return error(550, "5.1.1", "no such user here");
  recipients_.push_back(normalize_address(path.address));
  return {reply(250, "2.1.5", "OK")};
}

LmtpMachine::Step LmtpMachine::data() {
  if (!mail_from_set_) return error(503, "5.5.1", "send MAIL first");
  if (recipients_.empty()) return error(503, "5.5.1", "no valid recipients");  // RFC 2033 4.2
  data_.clear();
  data_too_large_ = false;
  data_bad_bytes_ = false;
  return {reply(354, "", "start mail input; end with <CRLF>.<CRLF>"), Next::data};
}

bool LmtpMachine::on_data_line(std::string_view line) {
  if (line == ".") return true;
  if (!line.empty() && line.front() == '.') line.remove_prefix(1);  // dot-stuffing
  if (line.find('\n') != std::string_view::npos || line.find('\0') != std::string_view::npos) {
    data_bad_bytes_ = true;
  }
  if (data_too_large_ || data_.size() + line.size() + 2 > settings_.max_message_size) {
    data_too_large_ = true;  // read to the end, keep nothing more
    return false;
  }
  data_.append(line);
  data_.append("\r\n");
  return false;
}

std::string LmtpMachine::refused_data_replies() const {
  std::string one;
  if (data_too_large_) {
    one = reply(552, "5.3.4", "message size exceeds the limit of " + std::to_string(settings_.max_message_size) +
                                  " bytes");
  } else if (data_bad_bytes_) {
    one = reply(554, "5.6.0", "bare LF or NUL in the message");
  } else {
    return {};
  }
  std::string out;
  for (std::size_t i = 0; i < recipients_.size(); ++i) out += one;
  return out;
}

LmtpMachine::Transaction LmtpMachine::take_transaction() {
  Transaction t;
  t.envelope.listener = listener_;
  t.envelope.client = client_;
  t.envelope.lhlo = lhlo_;
  t.envelope.mail_from = mail_from_;
  t.envelope.recipients = recipients_;
  t.envelope.tls = tls_active_;
  t.data = std::make_shared<const std::string>(std::move(data_));
  t.routes = routes_;
  reset_transaction();
  return t;
}

// ---------------------------------------------------------------------------
// The session

namespace {

// Counts each reply line that ends a reply (a code and a space), by code.
void count_replies(const LmtpSession& s, std::string_view out) {
  if (!s.replies) return;
  for (std::size_t at = 0; at + 4 <= out.size();) {
    auto end = out.find("\r\n", at);
    if (end == std::string_view::npos) break;
    if (out[at + 3] == ' ') s.replies->with({s.listener, out.substr(at, 3)}).inc();
    at = end + 2;
  }
}

LmtpReply lmtp_internal_error() { return {451, "4.3.0", "temporary failure; try again later"}; }

// Hands the transaction to the mailboxes of its recipients (one call per mailbox) and
// puts their replies back in RCPT order.
asio::awaitable<std::string> deliver_transaction(LmtpMachine::Transaction tx) {
  const auto& recipients = tx.envelope.recipients;
  std::vector<LmtpReply> replies(recipients.size(), lmtp_internal_error());
  std::vector<bool> done(recipients.size(), false);
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    if (done[i]) continue;
    auto mailbox = tx.routes->find(recipients[i]);
    std::vector<std::size_t> indexes;
    for (std::size_t j = i; j < recipients.size(); ++j) {
      if (!done[j] && tx.routes->find(recipients[j]) == mailbox) {
        indexes.push_back(j);
        done[j] = true;
      }
    }
    if (!mailbox) continue;  // cannot happen: RCPT accepted only what these routes know
    LmtpEnvelope envelope = tx.envelope;
    envelope.recipients.clear();
    for (auto j : indexes) envelope.recipients.push_back(recipients[j]);
    auto answers = co_await mailbox->deliver(std::move(envelope), tx.data);
    for (std::size_t k = 0; k < indexes.size() && k < answers.size(); ++k) replies[indexes[k]] = answers[k];
  }
  std::string out;
  for (const auto& r : replies) out += r.line();
  co_return out;
}

template <class Stream>
asio::awaitable<bool> write_out(Stream& stream, const LmtpSession& s, std::string& out) {
  if (out.empty()) co_return true;
  count_replies(s, out);
  auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), kAsTuple);
  (void)n;
  out.clear();
  co_return !ec;
}

enum class LineRead { ok, too_long, closed };
struct ReadLine {
  LineRead result = LineRead::closed;
  std::string line;
};

template <class Stream>
asio::awaitable<ReadLine> read_line(Stream& stream, std::string& buffer, std::size_t max) {
  ReadLine out;
  auto [ec, n] = co_await asio::async_read_until(stream, asio::dynamic_buffer(buffer, max + 2), "\r\n", kAsTuple);
  if (ec == asio::error::not_found) {
    out.result = LineRead::too_long;
    co_return out;
  }
  if (ec) co_return out;
  out.result = LineRead::ok;
  out.line = buffer.substr(0, n - 2);
  buffer.erase(0, n);
  co_return out;
}

// Commands until the client quits, the connection ends, or STARTTLS (returned: the caller
// wraps the socket and calls again).
template <class Stream>
asio::awaitable<LmtpMachine::Next> run_commands(Stream& stream, beast::tcp_stream& lowest, LmtpMachine& machine,
                                                LmtpSession& s, std::string& buffer, std::string out) {
  for (;;) {
    // A reload's addresses apply from the next transaction on: a cached MTA connection does
    // not keep delivering to a channel that was removed or changed.
    if (s.current_routes) machine.set_routes(s.current_routes());
    s.state->busy = machine.in_transaction();
    if (!s.state->busy && s.draining && s.draining->load()) {
      out += reply(421, "4.3.2", "shutting down; try again later");
      co_await write_out(stream, s, out);
      co_return LmtpMachine::Next::close;
    }
    if (buffer.find("\r\n") == std::string::npos) {
      // Pipelined commands are answered together; the client waits for these now.
      bool written = co_await write_out(stream, s, out);
      if (!written) co_return LmtpMachine::Next::close;
    }
    lowest.expires_after(s.settings.command_timeout);
    auto command = co_await read_line(stream, buffer, LmtpMachine::kMaxCommandLine);
    if (command.result == LineRead::too_long) {
      out += reply(500, "5.5.6", "line too long; closing");
      co_await write_out(stream, s, out);
      co_return LmtpMachine::Next::close;
    }
    if (command.result != LineRead::ok) co_return LmtpMachine::Next::close;
    auto step = machine.on_command(command.line);
    out += step.replies;
    if (step.next == LmtpMachine::Next::close || step.next == LmtpMachine::Next::starttls) {
      co_await write_out(stream, s, out);
      co_return step.next;
    }
    if (step.next != LmtpMachine::Next::data) continue;
    bool written = co_await write_out(stream, s, out);
    if (!written) co_return LmtpMachine::Next::close;
    s.state->busy = true;
    lowest.expires_after(s.settings.data_timeout);  // the whole DATA section
    for (;;) {
      auto data_line = co_await read_line(stream, buffer, LmtpMachine::kMaxDataLine);
      if (data_line.result == LineRead::too_long) {
        out += reply(500, "5.5.6", "line too long in DATA; closing");
        co_await write_out(stream, s, out);
        co_return LmtpMachine::Next::close;
      }
      if (data_line.result != LineRead::ok) co_return LmtpMachine::Next::close;
      if (machine.on_data_line(data_line.line)) break;
    }
    auto refused = machine.refused_data_replies();
    if (!refused.empty()) {
      out += refused;
      machine.reset_transaction();
      continue;
    }
    auto tx = machine.take_transaction();
    auto delivered = co_await deliver_transaction(std::move(tx));
    out += delivered;
  }
}

}  // namespace

asio::awaitable<void> serve_lmtp(asio::ip::tcp::socket socket, LmtpSession s) {
  beast::tcp_stream stream(std::move(socket));
  s.state->socket = &stream.socket();
  struct ClearSocket {
    ConnectionState& state;
    ~ClearSocket() { state.socket = nullptr; }
  } clear{*s.state};
  LmtpMachine machine(s.settings, s.routes, s.tls != nullptr);
  machine.set_peer(s.listener, s.peer);
  std::string buffer;
  std::string greeting = machine.greeting();
  auto next = co_await run_commands(stream, stream, machine, s, buffer, std::move(greeting));
  if (next == LmtpMachine::Next::starttls) {
    // Whatever the client sent after STARTTLS in the clear is dropped, never read as if it
    // had come through TLS (the STARTTLS command injection of CVE-2011-0411).
    buffer.clear();
    asio::ssl::stream<beast::tcp_stream&> tls(stream, s.tls->ssl);
    stream.expires_after(s.settings.command_timeout);
    auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::server, kAsTuple);
    if (ec) {
      spdlog::debug("listener {}: STARTTLS handshake with {} failed: {}", s.listener, s.peer.to_string(), ec.message());
      co_return;
    }
    machine.tls_started();
    std::string nothing_yet;
    co_await run_commands(tls, stream, machine, s, buffer, std::move(nothing_yet));
    stream.expires_after(std::chrono::seconds(2));
    co_await tls.async_shutdown(kAsTuple);
    co_return;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

}  // namespace hermes::net
