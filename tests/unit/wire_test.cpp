// HTTP/1.1 heads written by hand (src/net/wire): what Beast's serializer wrote before,
// checked by parsing them back with Beast's parser.
#include "src/net/wire.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http.hpp>

#include <string>

namespace hermes::net::wire {
namespace {

namespace http = boost::beast::http;

http::response<http::string_body> parse_response(const std::string& bytes) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(bytes), ec);
  EXPECT_FALSE(ec) << ec.message() << "\n" << bytes;
  return parser.release();
}

TEST(WireResponseHead, StatusLineServerHeadersLengthInOrder) {
  Headers headers{{"Content-Type", "application/json"}, {"X-Request-Id", "abc"}};
  std::string head = response_head(200, headers, {12, false}, true);
  EXPECT_EQ(head,
            "HTTP/1.1 200 OK\r\nServer: hermes\r\nContent-Type: application/json\r\nX-Request-Id: abc\r\n"
            "Content-Length: 12\r\n\r\n");
  auto res = parse_response(head + "{\"ok\":true}\n");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "{\"ok\":true}\n");
  EXPECT_TRUE(res.keep_alive());
}

TEST(WireResponseHead, CloseChunkedAndReasonPhrases) {
  std::string head = response_head(503, {}, {std::nullopt, true}, false);
  EXPECT_EQ(head, "HTTP/1.1 503 Service Unavailable\r\nServer: hermes\r\nTransfer-Encoding: chunked\r\n"
                  "Connection: close\r\n\r\n");
  auto res = parse_response(head + "5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(res.body(), "hello");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_NE(response_head(429, {}, {0, false}, true).find("429 Too Many Requests\r\n"), std::string::npos);
  EXPECT_NE(response_head(499, {}, {0, false}, true).find("HTTP/1.1 499 "), std::string::npos);
}

TEST(WireResponseHead, NoLengthWhereTheStatusHasNoBody) {
  EXPECT_EQ(response_head(204, {}, {0, false}, true), "HTTP/1.1 204 No Content\r\nServer: hermes\r\n\r\n");
  EXPECT_EQ(response_head(304, {}, {5, false}, true).find("Content-Length"), std::string::npos);
}

TEST(WireResponseHead, FramingHeadersFromTheHandlerAreIgnored) {
  Headers headers{{"Content-Length", "999"}, {"Transfer-Encoding", "gzip"}, {"connection", "keep-alive"},
                  {"X-Kept", "yes"}};
  std::string head = response_head(200, headers, {3, false}, false);
  EXPECT_EQ(head, "HTTP/1.1 200 OK\r\nServer: hermes\r\nX-Kept: yes\r\nContent-Length: 3\r\nConnection: close\r\n\r\n");
}

TEST(WireFields, NoValueCanSplitTheMessageAndBadNamesAreDropped) {
  std::string out;
  append_field(out, "X-Evil", "a\r\nSet-Cookie: x=1");
  append_field(out, "X-Nul", std::string("a\0b", 3));
  append_field(out, "Bad Name", "v");
  append_field(out, "Bad:Name", "v");
  append_field(out, "", "v");
  EXPECT_EQ(out, "X-Evil: a  Set-Cookie: x=1\r\nX-Nul: a b\r\n");
  auto res = parse_response("HTTP/1.1 200 OK\r\n" + out + "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(res.count("Set-Cookie"), 0u);
}

TEST(WireRequestHead, HostAgentHeadersAndLength) {
  Headers headers{{"Authorization", "Bearer k"}, {"Host", "spoofed"}, {"Content-Length", "1"},
                  {"Content-Type", "application/json"}};
  std::string head = request_head("POST", "/v1/chat/completions", "api.example:8443", "hermes/0.1", headers, 17);
  EXPECT_EQ(head,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: api.example:8443\r\nUser-Agent: hermes/0.1\r\n"
            "Authorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n");
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(head + std::string(17, 'x')), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(parser.get()[http::field::host], "api.example:8443");
}

TEST(WireRequestHead, ACallersUserAgentReplacesTheDefaultAndBodilessGetsNoLength) {
  std::string get = request_head("GET", "/json/version", "127.0.0.1:9222", "hermes/0.1", {{"User-Agent", "sdk/2"}}, 0);
  EXPECT_EQ(get, "GET /json/version HTTP/1.1\r\nHost: 127.0.0.1:9222\r\nUser-Agent: sdk/2\r\n\r\n");
  std::string post = request_head("POST", "/hook", "h", "hermes/0.1", {}, 0);
  EXPECT_NE(post.find("Content-Length: 0\r\n"), std::string::npos) << "POST always says how long its body is";
}

TEST(WireChunks, SizeLineIsLowerCaseHex) {
  EXPECT_EQ(chunk_size_line(0), "0\r\n");
  EXPECT_EQ(chunk_size_line(233), "e9\r\n");
  EXPECT_EQ(chunk_size_line(65536), "10000\r\n");
  auto res = parse_response(response_head(200, {}, {std::nullopt, true}, true) + chunk_size_line(5) + "hello\r\n" +
                            chunk_size_line(0) + "\r\n");
  EXPECT_EQ(res.body(), "hello");
}

}  // namespace
}  // namespace hermes::net::wire
