#pragma once
// HTTP/1.1 message heads written by hand into one string, sent with the body in one
// gather write. Beast's serializer walks a chain of buffer views per field and cost
// more per request than the rest of the write (docs/performance.md).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "hermes/net/http.hpp"

namespace hermes::net::wire {

// How the body after the head is framed.
struct Framing {
  std::optional<std::size_t> content_length;  // nullopt: no Content-Length (chunked, or no body)
  bool chunked = false;                       // Transfer-Encoding: chunked
};

// "HTTP/1.1 <status> <reason>", Server: hermes, `headers` in order, then the framing
// and, unless `keep_alive`, Connection: close. Responses to HEAD, 1xx, 204 and 304
// carry no body; pass the framing the body would have had.
std::string response_head(int status, const Headers& headers, Framing framing, bool keep_alive);

// "<method> <target> HTTP/1.1", Host, `user_agent` unless `headers` has its own,
// `headers` in order (except any Host, Content-Length or Transfer-Encoding: framing is
// the writer's), Content-Length when the request has a body or a method that expects one.
std::string request_head(std::string_view method, std::string_view target, std::string_view host,
                         std::string_view user_agent, const Headers& headers, std::size_t content_length);

// "<size in hex>\r\n", the line before a chunk of `size` bytes (chunked transfer coding).
std::string chunk_size_line(std::size_t size);

// Appends "name: value\r\n". A name that is not an RFC 9110 token is skipped; CR, LF
// and NUL in a value become spaces, so no header can split the message.
void append_field(std::string& out, std::string_view name, std::string_view value);

}  // namespace hermes::net::wire
