#include "hermes/net/smtp.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/errc.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <tuple>

#include "hermes/core/digest.hpp"
#include "src/net/as_tuple.hpp"
#include "src/net/client_tls_setup.hpp"
#include "src/net/watchdog.hpp"

namespace hermes::net {

namespace asio = boost::asio;

// ---------------------------------------------------------------------------------------------
// Pure helpers

std::string dot_stuff(std::string_view data) {
  std::string out;
  out.reserve(data.size() + data.size() / 64 + 2);
  bool line_start = true;
  for (std::size_t i = 0; i < data.size(); ++i) {
    char c = data[i];
    if (c == '\r' || c == '\n') {
      // CRLF, bare CR and bare LF all end a line, written as CRLF.
      if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') ++i;
      out += "\r\n";
      line_start = true;
      continue;
    }
    if (line_start && c == '.') out += '.';
    out += c;
    line_start = false;
  }
  if (!line_start) out += "\r\n";
  return out;
}

namespace {

bool smtp_is_digit(char c) { return c >= '0' && c <= '9'; }

char smtp_upper_char(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

bool smtp_iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (smtp_upper_char(a[i]) != smtp_upper_char(b[i])) return false;
  }
  return true;
}

// Splits on spaces (runs of them count as one).
std::vector<std::string_view> smtp_words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

}  // namespace

SmtpReplyParser::Step SmtpReplyParser::feed(std::string_view line) {
  if (line.size() < 3 || !smtp_is_digit(line[0]) || !smtp_is_digit(line[1]) || !smtp_is_digit(line[2]) ||
      line[0] < '2' || line[0] > '5') {
    return Step::error;
  }
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (!reply_.lines.empty() && code != reply_.code) return Step::error;
  bool last = true;
  std::string_view text;
  if (line.size() > 3) {
    if (line[3] == '-') {
      last = false;
    } else if (line[3] != ' ') {
      return Step::error;
    }
    text = line.substr(4);
  }
  if (reply_.lines.empty()) {
    reply_.code = code;
    reply_.enhanced = smtp_enhanced_status(text);
  }
  reply_.lines.emplace_back(text);
  if (last) return Step::done;
  if (reply_.lines.size() >= kMaxLines) return Step::error;
  return Step::more;
}

std::string smtp_enhanced_status(std::string_view text) {
  // class "." subject "." detail: class 2, 4 or 5; subject 1-3 digits; detail 1-3 digits (RFC 3463).
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') return {};
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t start = i;
    while (i < text.size() && smtp_is_digit(text[i]) && i - start < 4) ++i;
    if (i == start || i - start > 3) return {};
    if (part == 0) {
      if (i >= text.size() || text[i] != '.') return {};
      ++i;
    }
  }
  if (i < text.size() && text[i] != ' ') return {};
  return std::string(text.substr(0, i));
}

SmtpOutcome smtp_classify(int code) {
  if (code >= 200 && code < 300) return SmtpOutcome::sent;
  if (code >= 400 && code < 500) return SmtpOutcome::retry;
  return SmtpOutcome::failed;
}

std::string smtp_reply_detail(const SmtpReply& reply) {
  std::string out = "smtp_" + std::to_string(reply.code);
  if (!reply.enhanced.empty()) out += " " + reply.enhanced;
  return out;
}

std::string smtp_sanitize(const SmtpReply& reply) {
  constexpr std::size_t kMax = 200;
  std::string out;
  for (const auto& line : reply.lines) {
    if (!out.empty() && out.size() < kMax) out += ' ';
    for (char c : line) {
      if (out.size() >= kMax) break;
      out += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    if (out.size() >= kMax) break;
  }
  out.resize(std::min(out.size(), kMax));
  return out;
}

SmtpExtensions smtp_parse_ehlo(const SmtpReply& reply) {
  SmtpExtensions ext;
  // The first line is the greeting ("mail.example.org Hello"); each later one an extension.
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    auto words = smtp_words(reply.lines[i]);
    if (words.empty()) continue;
    std::string_view keyword = words[0];
    std::vector<std::string_view> params(words.begin() + 1, words.end());
    if (keyword.size() > 5 && smtp_iequals(keyword.substr(0, 5), "AUTH=")) {
      // The pre-standard "AUTH=PLAIN LOGIN" some servers still send.
      params.insert(params.begin(), keyword.substr(5));
      keyword = "AUTH";
    }
    if (smtp_iequals(keyword, "STARTTLS")) {
      ext.starttls = true;
    } else if (smtp_iequals(keyword, "8BITMIME")) {
      ext.eightbitmime = true;
    } else if (smtp_iequals(keyword, "SIZE")) {
      ext.size = true;
      if (!params.empty()) {
        std::uint64_t n = 0;
        bool ok = !params[0].empty() && params[0].size() <= 18;
        for (char c : params[0]) {
          if (!smtp_is_digit(c)) ok = false;
          n = n * 10 + static_cast<std::uint64_t>(c - '0');
        }
        if (ok) ext.size_limit = n;
      }
    } else if (smtp_iequals(keyword, "AUTH")) {
      for (auto mechanism : params) {
        if (smtp_iequals(mechanism, "PLAIN")) ext.auth_plain = true;
        if (smtp_iequals(mechanism, "LOGIN")) ext.auth_login = true;
      }
    }
  }
  return ext;
}

std::string smtp_auth_plain(std::string_view user, std::string_view password) {
  std::string raw;
  raw.reserve(user.size() + password.size() + 2);
  raw += '\0';
  raw += user;
  raw += '\0';
  raw += password;
  return base64_encode(raw);
}

std::string smtp_auth_login_step(std::string_view value) { return base64_encode(value); }

bool smtp_is_loopback_host(std::string_view host) {
  if (smtp_iequals(host, "localhost") || smtp_iequals(host, "localhost.")) return true;
  std::string text(host);
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(text, ec);
  return !ec && address.is_loopback();
}

bool smtp_may_send_credentials(bool encrypted, std::string_view host) {
  return encrypted || smtp_is_loopback_host(host);
}

bool smtp_valid_address(std::string_view address) {
  for (char c : address) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '<' || c == '>') return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// The session

namespace {

namespace smtp_ssl = asio::ssl;
using SmtpTcp = asio::ip::tcp;
using SmtpClock = std::chrono::steady_clock;
using smtp_error_code = boost::system::error_code;

constexpr std::size_t kSmtpMaxLine = 1000;  // bytes per reply line, CRLF included
constexpr Duration kSmtpDataReplyTimeout{300'000};
constexpr Duration kSmtpQuitTimeout{5'000};
constexpr std::size_t kSmtpWriteChunk = 64 * 1024;

smtp_error_code smtp_protocol_error() { return make_error_code(boost::system::errc::protocol_error); }

SmtpClock::time_point smtp_after(Duration d) {
  auto now = SmtpClock::now();
  auto room = std::chrono::duration_cast<Duration>(SmtpClock::time_point::max() - now) - Duration(1);
  return now + std::min(d, room);
}

bool smtp_has_8bit(std::string_view data) {
  for (char c : data) {
    if (static_cast<unsigned char>(c) >= 0x80) return true;
  }
  return false;
}

bool smtp_valid_helo(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
  }
  return true;
}

SmtpResult smtp_result(SmtpOutcome outcome, std::string detail, int code = 0) {
  SmtpResult r;
  r.outcome = outcome;
  r.detail = std::move(detail);
  r.code = code;
  return r;
}

// The result a reply decides: its class picks the outcome. A reply of an unexpected kind (a
// 2xx or 3xx where another was due) is a protocol error, retried.
SmtpResult smtp_from_reply(const SmtpReply& reply, std::string detail = {}) {
  SmtpResult r;
  r.code = reply.code;
  r.server_reply = smtp_sanitize(reply);
  bool unexpected = reply.code < 400;
  r.outcome = unexpected ? SmtpOutcome::retry : smtp_classify(reply.code);
  r.detail = !detail.empty() ? std::move(detail) : unexpected ? "protocol" : smtp_reply_detail(reply);
  return r;
}

// A phase's deadline: closes the socket (or cancels a resolve) when it passes.
class SmtpDeadline {
 public:
  explicit SmtpDeadline(asio::any_io_executor executor) : watchdog_(std::move(executor)) {}
  void arm(Duration after, std::function<void()> action) { watchdog_.arm(smtp_after(after), std::move(action)); }
  void disarm() { watchdog_.disarm(); }
  bool fired() const { return watchdog_.fired(); }

 private:
  Watchdog watchdog_;
};

struct SmtpRead {
  smtp_error_code ec;
  SmtpReply reply;
};

class SmtpSession {
 public:
  SmtpSession(const asio::any_io_executor& executor, SmtpSettings settings, SmtpMessage message)
      : settings_(std::move(settings)), message_(std::move(message)), socket_(executor), dog_(executor) {}

  asio::awaitable<SmtpResult> run();

 private:
  asio::awaitable<SmtpResult> run_steps();
  asio::awaitable<smtp_error_code> connect();
  asio::awaitable<smtp_error_code> handshake();
  asio::awaitable<smtp_error_code> write(std::string text, Duration timeout);
  asio::awaitable<smtp_error_code> read_line(Duration timeout);
  asio::awaitable<SmtpRead> read_reply(Duration timeout);
  // Sends `line` (CRLF added) and reads the reply; `log_as` (a literal), when set, replaces the line in the log.
  asio::awaitable<SmtpRead> command(std::string line, const char* log_as);
  asio::awaitable<std::optional<SmtpResult>> ehlo();
  asio::awaitable<std::optional<SmtpResult>> authenticate();
  asio::awaitable<SmtpResult> transfer();
  asio::awaitable<void> quit();

  // The result of a failed read or write.
  asio::awaitable<SmtpResult> transport_failure(smtp_error_code ec);
  void close();
  std::function<void()> closer() {
    return [this] { close(); };
  }

  SmtpSettings settings_;
  SmtpMessage message_;
  SmtpTcp::socket socket_;
  std::optional<smtp_ssl::context> context_;
  std::optional<smtp_ssl::stream<SmtpTcp::socket&>> tls_;
  SmtpDeadline dog_;
  std::string buffer_;  // bytes read and not yet consumed
  std::string line_;    // the last line read, without its line ending
  std::array<char, 4096> chunk_{};
  SmtpExtensions extensions_;
  bool after_dot_ = false;
  bool replied_ = false;  // the server is still in a state to take QUIT
};

void SmtpSession::close() {
  smtp_error_code ignored;
  socket_.shutdown(SmtpTcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

asio::awaitable<SmtpResult> SmtpSession::transport_failure(smtp_error_code ec) {
  auto state = co_await asio::this_coro::cancellation_state;
  bool cancelled = state.cancelled() != asio::cancellation_type::none;
  SmtpResult r = smtp_result(SmtpOutcome::retry, "connection_lost");
  if (cancelled) {
    r.detail = "cancelled";
  } else if (dog_.fired()) {
    r.detail = "timeout";
  } else if (ec == smtp_protocol_error()) {
    r.detail = "protocol";
  }
  r.ambiguous = after_dot_;
  spdlog::debug("smtp {}:{}: {} ({})", settings_.host, settings_.port, r.detail, ec.message());
  co_return r;
}

asio::awaitable<smtp_error_code> SmtpSession::connect() {
  std::vector<SmtpTcp::endpoint> endpoints;
  smtp_error_code ec;
  auto address = asio::ip::make_address(settings_.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, settings_.port);
  } else {
    SmtpTcp::resolver resolver(socket_.get_executor());
    dog_.arm(settings_.connect_timeout, [&resolver] { resolver.cancel(); });
    std::string port = std::to_string(settings_.port);
    auto [rec, results] = co_await resolver.async_resolve(settings_.host, port, kAsTuple);
    dog_.disarm();
    if (rec) co_return rec;
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  ec = asio::error::host_not_found;
  // One deadline for every address in turn ("localhost" may offer ::1 while the server is on 127.0.0.1).
  dog_.arm(settings_.connect_timeout, closer());
  for (const auto& endpoint : endpoints) {
    smtp_error_code ignored;
    socket_.close(ignored);
    socket_.open(endpoint.protocol(), ec);
    if (ec) continue;
    std::tie(ec) = co_await socket_.async_connect(endpoint, kAsTuple);
    auto state = co_await asio::this_coro::cancellation_state;
    bool stop = state.cancelled() != asio::cancellation_type::none;
    if (!ec || dog_.fired() || stop) break;
  }
  dog_.disarm();
  if (!ec) {
    smtp_error_code ignored;
    socket_.set_option(SmtpTcp::no_delay(true), ignored);
  }
  co_return ec;
}

asio::awaitable<smtp_error_code> SmtpSession::handshake() {
  context_.emplace(smtp_ssl::context::tls_client);
  smtp_error_code ec = configure_client_tls(*context_, settings_.tls);
  if (ec) {
    spdlog::debug("smtp {}:{}: cannot load CA certificates {}: {}", settings_.host, settings_.port,
                  settings_.tls.ca_file.string(), ec.message());
    co_return ec;
  }
  tls_.emplace(socket_, *context_);
  name_the_peer(*tls_, settings_.tls, settings_.host);
  dog_.arm(settings_.connect_timeout, closer());
  std::tie(ec) = co_await tls_->async_handshake(smtp_ssl::stream_base::client, kAsTuple);
  dog_.disarm();
  if (ec) {
    long verify = SSL_get_verify_result(tls_->native_handle());
    spdlog::debug("smtp {}:{}: TLS handshake failed: {} (verify: {})", settings_.host, settings_.port, ec.message(),
                  X509_verify_cert_error_string(verify));
  }
  co_return ec;
}

asio::awaitable<smtp_error_code> SmtpSession::write(std::string text, Duration timeout) {
  std::size_t at = 0;
  smtp_error_code ec;
  while (at < text.size() && !ec) {
    std::size_t n = std::min(kSmtpWriteChunk, text.size() - at);
    auto piece = asio::buffer(text.data() + at, n);
    dog_.arm(timeout, closer());
    if (tls_) {
      std::tie(ec, std::ignore) = co_await asio::async_write(*tls_, piece, kAsTuple);
    } else {
      std::tie(ec, std::ignore) = co_await asio::async_write(socket_, piece, kAsTuple);
    }
    dog_.disarm();
    at += n;
  }
  co_return ec;
}

asio::awaitable<smtp_error_code> SmtpSession::read_line(Duration timeout) {
  dog_.arm(timeout, closer());
  smtp_error_code ec;
  for (;;) {
    auto eol = buffer_.find('\n');
    if (eol != std::string::npos) {
      if (eol + 1 > kSmtpMaxLine) {
        ec = smtp_protocol_error();
        break;
      }
      std::size_t end = (eol > 0 && buffer_[eol - 1] == '\r') ? eol - 1 : eol;
      line_.assign(buffer_, 0, end);
      buffer_.erase(0, eol + 1);
      break;
    }
    if (buffer_.size() >= kSmtpMaxLine) {
      ec = smtp_protocol_error();
      break;
    }
    std::size_t n = 0;
    auto into = asio::buffer(chunk_);
    if (tls_) {
      std::tie(ec, n) = co_await tls_->async_read_some(into, kAsTuple);
    } else {
      std::tie(ec, n) = co_await socket_.async_read_some(into, kAsTuple);
    }
    if (ec) break;
    buffer_.append(chunk_.data(), n);
  }
  dog_.disarm();
  co_return ec;
}

asio::awaitable<SmtpRead> SmtpSession::read_reply(Duration timeout) {
  SmtpRead out;
  SmtpReplyParser parser;
  for (;;) {
    out.ec = co_await read_line(timeout);
    if (out.ec) break;
    spdlog::debug("smtp {}:{} S: {}", settings_.host, settings_.port, line_);
    auto step = parser.feed(line_);
    if (step == SmtpReplyParser::Step::error) {
      out.ec = smtp_protocol_error();
      break;
    }
    if (step == SmtpReplyParser::Step::done) {
      out.reply = parser.reply();
      break;
    }
  }
  co_return out;
}

asio::awaitable<SmtpRead> SmtpSession::command(std::string line, const char* log_as) {
  spdlog::debug("smtp {}:{} C: {}", settings_.host, settings_.port, log_as ? std::string_view(log_as) : line);
  line += "\r\n";
  SmtpRead out;
  out.ec = co_await write(std::move(line), settings_.command_timeout);
  if (out.ec) co_return out;
  out = co_await read_reply(settings_.command_timeout);
  co_return out;
}

// EHLO, or HELO after a 5xx to EHLO on a plaintext session. nullopt: go on.
asio::awaitable<std::optional<SmtpResult>> SmtpSession::ehlo() {
  std::string ehlo_line = "EHLO " + settings_.helo_name;
  auto read = co_await command(std::move(ehlo_line), nullptr);
  if (read.ec) {
    auto failure = co_await transport_failure(read.ec);
    co_return failure;
  }
  if (read.reply.code == 250) {
    extensions_ = smtp_parse_ehlo(read.reply);
    co_return std::nullopt;
  }
  if (read.reply.code >= 500 && read.reply.code < 600 && settings_.security == SmtpSecurity::none &&
      settings_.username.empty()) {
    std::string helo_line = "HELO " + settings_.helo_name;
    read = co_await command(std::move(helo_line), nullptr);
    if (read.ec) {
      auto failure = co_await transport_failure(read.ec);
      co_return failure;
    }
    if (read.reply.code == 250) {
      extensions_ = {};
      co_return std::nullopt;
    }
  }
  co_return smtp_from_reply(read.reply);
}

asio::awaitable<std::optional<SmtpResult>> SmtpSession::authenticate() {
  if (!smtp_may_send_credentials(tls_.has_value(), settings_.host)) {
    co_return smtp_result(SmtpOutcome::failed, "auth_insecure");
  }
  if (!extensions_.auth_plain && !extensions_.auth_login) {
    co_return smtp_result(SmtpOutcome::failed, "auth_unavailable");
  }
  SmtpRead read;
  if (extensions_.auth_plain) {
    std::string auth_line = "AUTH PLAIN " + smtp_auth_plain(settings_.username, settings_.password.reveal());
    read = co_await command(std::move(auth_line), "AUTH PLAIN <credentials>");
  } else {
    std::string login_line = "AUTH LOGIN";
    read = co_await command(std::move(login_line), nullptr);
    if (!read.ec && read.reply.code == 334) {
      std::string user_line = smtp_auth_login_step(settings_.username);
      read = co_await command(std::move(user_line), "<username>");
    }
    if (!read.ec && read.reply.code == 334) {
      std::string password_line = smtp_auth_login_step(settings_.password.reveal());
      read = co_await command(std::move(password_line), "<password>");
    }
  }
  if (read.ec) {
    auto failure = co_await transport_failure(read.ec);
    co_return failure;
  }
  if (read.reply.code == 235) co_return std::nullopt;
  if (read.reply.code == 334) {
    // A challenge we did not expect: cancel the exchange ("*", RFC 4954) and give up.
    std::string cancel_line = "*";
    auto cancelled = co_await command(std::move(cancel_line), nullptr);
    (void)cancelled;
  }
  co_return smtp_from_reply(read.reply, "auth_failed");
}

asio::awaitable<SmtpResult> SmtpSession::transfer() {
  std::string from = "MAIL FROM:<" + message_.mail_from + ">";
  if (extensions_.size) from += " SIZE=" + std::to_string(message_.data.size());
  if (extensions_.eightbitmime && smtp_has_8bit(message_.data)) from += " BODY=8BITMIME";
  auto read = co_await command(std::move(from), nullptr);
  if (read.ec) {
    auto failure = co_await transport_failure(read.ec);
    co_return failure;
  }
  if (read.reply.code != 250) co_return smtp_from_reply(read.reply);

  // All or nothing: DATA only when every recipient was taken, else the worst reply decides.
  std::optional<SmtpReply> refused;
  for (const auto& rcpt : message_.rcpt_to) {
    std::string rcpt_line = "RCPT TO:<" + rcpt + ">";
    read = co_await command(std::move(rcpt_line), nullptr);
    if (read.ec) {
      auto failure = co_await transport_failure(read.ec);
      co_return failure;
    }
    if (read.reply.code == 250 || read.reply.code == 251) continue;
    bool worse = !refused || (refused->code < 500 && read.reply.code >= 500) ||
                 (refused->code >= 400 && refused->code < 500 && read.reply.code < 400);
    if (worse) refused = read.reply;
  }
  if (refused) co_return smtp_from_reply(*refused);

  std::string data_line = "DATA";
  read = co_await command(std::move(data_line), nullptr);
  if (read.ec) {
    auto failure = co_await transport_failure(read.ec);
    co_return failure;
  }
  if (read.reply.code != 354) co_return smtp_from_reply(read.reply);

  std::string body = dot_stuff(message_.data);
  body += ".\r\n";
  spdlog::debug("smtp {}:{} C: <{} bytes of data>", settings_.host, settings_.port, body.size());
  auto wec = co_await write(std::move(body), settings_.command_timeout);
  if (wec) {
    // The write did not complete, so the final "." never left: the server cannot have taken it.
    auto failure = co_await transport_failure(wec);
    co_return failure;
  }
  // From here a lost connection leaves the outcome open.
  after_dot_ = true;
  read = co_await read_reply(std::max(settings_.command_timeout, kSmtpDataReplyTimeout));
  if (read.ec) {
    auto failure = co_await transport_failure(read.ec);
    co_return failure;
  }
  if (read.reply.code != 250) co_return smtp_from_reply(read.reply);
  SmtpResult sent;
  sent.outcome = SmtpOutcome::sent;
  sent.code = read.reply.code;
  sent.detail = smtp_reply_detail(read.reply);
  sent.server_reply = smtp_sanitize(read.reply);
  co_return sent;
}

asio::awaitable<void> SmtpSession::quit() {
  spdlog::debug("smtp {}:{} C: QUIT", settings_.host, settings_.port);
  std::string quit_line = "QUIT\r\n";
  Duration timeout = std::min(settings_.command_timeout, kSmtpQuitTimeout);
  auto ec = co_await write(std::move(quit_line), timeout);
  if (!ec) {
    auto ignored = co_await read_reply(timeout);
    (void)ignored;
  }
}

asio::awaitable<SmtpResult> SmtpSession::run_steps() {
  auto cec = co_await connect();
  if (cec) {
    SmtpResult r = co_await transport_failure(cec);
    if (r.detail == "connection_lost") r.detail = "connect";
    co_return r;
  }
  if (settings_.security == SmtpSecurity::tls) {
    auto hec = co_await handshake();
    if (hec) {
      // Inside TLS (the certificate, no common version): configuration, not weather.
      bool tls_level = hec.category() == asio::error::get_ssl_category();
      SmtpResult r = co_await transport_failure(hec);
      if (r.detail == "connection_lost") r.detail = "tls";
      if (tls_level && !dog_.fired()) r.outcome = SmtpOutcome::failed;
      co_return r;
    }
  }
  auto greeting = co_await read_reply(settings_.command_timeout);
  if (greeting.ec) {
    auto failure = co_await transport_failure(greeting.ec);
    co_return failure;
  }
  replied_ = true;
  if (greeting.reply.code != 220) co_return smtp_from_reply(greeting.reply);

  auto said_hello = co_await ehlo();
  if (said_hello) co_return *said_hello;

  if (settings_.security == SmtpSecurity::starttls) {
    if (!extensions_.starttls) co_return smtp_result(SmtpOutcome::failed, "starttls_unavailable");
    std::string starttls_line = "STARTTLS";
    auto read = co_await command(std::move(starttls_line), nullptr);
    if (read.ec) {
      auto failure = co_await transport_failure(read.ec);
      co_return failure;
    }
    if (read.reply.code != 220) co_return smtp_from_reply(read.reply);
    if (!buffer_.empty()) {
      // Bytes after the 220 were sent before TLS and would be read as if after it (CVE-2011-0411's
      // mirror image): a man in the middle's injection.
      replied_ = false;
      co_return smtp_result(SmtpOutcome::retry, "protocol");
    }
    auto hec = co_await handshake();
    if (hec) {
      replied_ = false;
      bool tls_level = hec.category() == asio::error::get_ssl_category();
      SmtpResult r = co_await transport_failure(hec);
      if (r.detail == "connection_lost") r.detail = "tls";
      if (tls_level && !dog_.fired()) r.outcome = SmtpOutcome::failed;
      co_return r;
    }
    said_hello = co_await ehlo();
    if (said_hello) co_return *said_hello;
  }

  if (!settings_.username.empty()) {
    auto denied = co_await authenticate();
    if (denied) co_return *denied;
  }
  auto result = co_await transfer();
  co_return result;
}

asio::awaitable<SmtpResult> SmtpSession::run() {
  if (message_.rcpt_to.empty()) co_return smtp_result(SmtpOutcome::failed, "no_recipients");
  bool valid = smtp_valid_address(message_.mail_from);
  for (const auto& rcpt : message_.rcpt_to) valid = valid && !rcpt.empty() && smtp_valid_address(rcpt);
  if (!valid) co_return smtp_result(SmtpOutcome::failed, "invalid_address");
  if (!smtp_valid_helo(settings_.helo_name)) settings_.helo_name = "localhost";
  if (!settings_.username.empty() && settings_.security == SmtpSecurity::none &&
      !smtp_may_send_credentials(false, settings_.host)) {
    co_return smtp_result(SmtpOutcome::failed, "auth_insecure");
  }
  SmtpResult result = co_await run_steps();
  // A session whose connection still works ends politely; one that failed in transport just closes.
  bool polite = replied_ && socket_.is_open() && (result.code != 0 || result.outcome == SmtpOutcome::sent ||
                                                   result.detail == "starttls_unavailable" ||
                                                   result.detail == "auth_unavailable" ||
                                                   result.detail == "auth_insecure");
  if (polite) co_await quit();
  close();
  spdlog::debug("smtp {}:{}: {} {}", settings_.host, settings_.port,
                result.outcome == SmtpOutcome::sent    ? "sent"
                : result.outcome == SmtpOutcome::retry ? "retry"
                                                       : "failed",
                result.detail);
  co_return result;
}

}  // namespace

boost::asio::awaitable<SmtpResult> smtp_send(boost::asio::io_context& io, SmtpSettings settings, SmtpMessage message) {
  // Failures are values here: a cancelled caller gets "cancelled", not an exception.
  bool throws = co_await asio::this_coro::throw_if_cancelled();
  co_await asio::this_coro::throw_if_cancelled(false);
  // The socket and the deadlines run on the caller's executor (a strand, say), never racing its I/O.
  (void)io;
  auto executor = co_await asio::this_coro::executor;
  SmtpSession session(executor, std::move(settings), std::move(message));
  SmtpResult result = co_await session.run();
  co_await asio::this_coro::throw_if_cancelled(throws);
  co_return result;
}

}  // namespace hermes::net
