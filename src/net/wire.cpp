#include "src/net/wire.hpp"

#include <boost/beast/http/status.hpp>
#include <strings.h>

#include <charconv>

namespace hermes::net::wire {

namespace {

bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_token_char(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

void append_number(std::string& out, std::size_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

bool has_no_body(int status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

}  // namespace

void append_field(std::string& out, std::string_view name, std::string_view value) {
  if (!is_token(name)) return;
  out += name;
  out += ": ";
  std::size_t start = out.size();
  out += value;
  for (std::size_t i = start; i < out.size(); ++i) {
    if (out[i] == '\r' || out[i] == '\n' || out[i] == '\0') out[i] = ' ';
  }
  out += "\r\n";
}

std::string chunk_size_line(std::size_t size) {
  char digits[20];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, size, 16);
  std::string line(digits, end);
  line += "\r\n";
  return line;
}

std::string response_head(int status, const Headers& headers, Framing framing, bool keep_alive) {
  std::string out;
  out.reserve(128 + headers.size() * 48);
  out += "HTTP/1.1 ";
  append_number(out, static_cast<std::size_t>(status));
  out += ' ';
  out += boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  out += "\r\nServer: hermes\r\n";
  for (const auto& [name, value] : headers) {
    if (same_name(name, "content-length") || same_name(name, "transfer-encoding") || same_name(name, "connection")) {
      continue;  // framing and persistence are decided here
    }
    append_field(out, name, value);
  }
  if (!has_no_body(status)) {
    if (framing.chunked) {
      out += "Transfer-Encoding: chunked\r\n";
    } else if (framing.content_length) {
      out += "Content-Length: ";
      append_number(out, *framing.content_length);
      out += "\r\n";
    }
  }
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

std::string request_head(std::string_view method, std::string_view target, std::string_view host,
                         std::string_view user_agent, const Headers& headers, std::size_t content_length) {
  std::string out;
  out.reserve(128 + target.size() + headers.size() * 64);
  out += method;
  out += ' ';
  out += target;
  out += " HTTP/1.1\r\n";
  append_field(out, "Host", host);
  bool own_agent = false;
  for (const auto& [name, value] : headers) own_agent = own_agent || same_name(name, "user-agent");
  if (!own_agent) append_field(out, "User-Agent", user_agent);
  for (const auto& [name, value] : headers) {
    if (same_name(name, "host") || same_name(name, "content-length") || same_name(name, "transfer-encoding")) {
      continue;
    }
    append_field(out, name, value);
  }
  bool expects_body = method == "POST" || method == "PUT" || method == "PATCH" || method == "OPTIONS";
  if (content_length > 0 || expects_body) {
    out += "Content-Length: ";
    append_number(out, content_length);
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

}  // namespace hermes::net::wire
