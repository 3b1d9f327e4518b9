#include <gtest/gtest.h>

#include "hermes/app/admin.hpp"
#include "hermes/channels/webchat.hpp"
#include "hermes/net/http.hpp"

namespace hermes::net {
namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }
std::vector<Cidr> cidrs(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* t : texts) out.push_back(*Cidr::parse(t));
  return out;
}

TEST(Authority, SplitsHostAndPort) {
  std::string_view host;
  std::optional<std::uint16_t> port;
  ASSERT_TRUE(split_authority("localhost:8080", host, port));
  EXPECT_EQ(host, "localhost");
  EXPECT_EQ(port, 8080);
  ASSERT_TRUE(split_authority("[::1]:443", host, port));
  EXPECT_EQ(host, "[::1]");
  EXPECT_EQ(port, 443);
  ASSERT_TRUE(split_authority("example.org", host, port));
  EXPECT_FALSE(port.has_value());
  for (std::string_view bad : {"", ":80", "[::1", "[]:80", "host:", "host:65536", "host:8o", "host:1234567", "a:1:2"}) {
    EXPECT_FALSE(split_authority(bad, host, port)) << bad;
  }
}

TEST(HostNames, AcceptsItsNamesWithAnyPortAndIpLiteralsOnlyWhenAsked) {
  HostNames loopback{true, {"localhost", "127.0.0.1", "[::1]"}, false};
  for (std::string_view ok : {"localhost", "LocalHost:8080", "localhost.", "127.0.0.1:1", "[::1]", "[::1]:8080"}) {
    EXPECT_TRUE(loopback.allows(ok)) << ok;
  }
  for (std::string_view bad : {"evil.example", "localhost.evil.example", "127.0.0.2", "10.0.0.1", "", "[::1"}) {
    EXPECT_FALSE(loopback.allows(bad)) << bad;
  }
  HostNames lan{true, {"localhost", "gw.corp.example"}, true};
  EXPECT_TRUE(lan.allows("gw.corp.example:8443"));
  EXPECT_TRUE(lan.allows("10.0.0.5:8080"));
  EXPECT_TRUE(lan.allows("[fd00::5]:8080"));
  EXPECT_FALSE(lan.allows("fd00::5")) << "an IPv6 literal needs its brackets in Host";
  EXPECT_FALSE(lan.allows("10.0.0.5.nip.io"));
  EXPECT_FALSE(lan.allows("evil.example"));
  EXPECT_TRUE(HostNames{}.allows("anything.example")) << "not enforced";
}

TEST(MediaType, OnlyJsonWithAnyParameters) {
  for (std::string_view ok : {"application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
                              " application/json ;charset=UTF-8"}) {
    EXPECT_TRUE(is_json_media_type(ok)) << ok;
  }
  for (std::string_view bad : {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                               "application/jsonp", "application/json-seq", "text/json"}) {
    EXPECT_FALSE(is_json_media_type(bad)) << bad;
  }
}

TEST(Utf8, AcceptsWellFormedAndRefusesTheRest) {
  for (std::string_view ok : {"", "/plain", "/caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"}) {
    EXPECT_TRUE(is_valid_utf8(ok)) << ok;
  }
  for (std::string_view bad : {"\xff", "\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                               "\xf8\x88\x80\x80\x80", "a\xe2\x82"}) {
    EXPECT_FALSE(is_valid_utf8(bad)) << bad;
  }
}

TEST(ErrorBodies, InvalidUtf8InAMessageIsReplacedNotThrown) {
  auto r = HttpResponse::error(404, "not_found", "no such endpoint: /\xff\xfe");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("\xef\xbf\xbd"), std::string::npos) << r.body;  // U+FFFD
}

TEST(WebchatOrigin, DefaultsToTheListenersOwnNamesSchemeAndPort) {
  using channels::webchat::OwnOrigin;
  using channels::webchat::origin_allowed;
  OwnOrigin own{false, 8080, HostNames{true, {"localhost", "127.0.0.1", "[::1]"}, false}};
  for (std::string_view ok : {"http://127.0.0.1:8080", "http://localhost:8080", "HTTP://LOCALHOST:8080",
                              "http://[::1]:8080"}) {
    EXPECT_TRUE(origin_allowed(ok, {}, own)) << ok;
  }
  for (std::string_view bad : {"http://evil.example:8080", "https://127.0.0.1:8080", "http://127.0.0.1:9090",
                               "http://127.0.0.1", "null", "", "http://localhost.evil.example:8080"}) {
    EXPECT_FALSE(origin_allowed(bad, {}, own)) << bad;
  }
  OwnOrigin tls{true, 443, HostNames{true, {"chat.corp.example"}, true}};
  EXPECT_TRUE(origin_allowed("https://chat.corp.example", {}, tls));
  EXPECT_TRUE(origin_allowed("https://10.1.2.3", {}, tls));
  EXPECT_FALSE(origin_allowed("https://rebound.evil.example", {}, tls));
  // An explicit list replaces the default entirely.
  EXPECT_TRUE(origin_allowed("https://portal.corp.example", {"https://portal.corp.example"}, own));
  EXPECT_FALSE(origin_allowed("http://127.0.0.1:8080", {"https://portal.corp.example"}, own));
}

TEST(RecordedClient, UntrustedPeerIsRecordedWhateverItClaims) {
  Headers h = {{"X-Forwarded-For", "1.2.3.4"}};
  EXPECT_EQ(recorded_client(ip("192.168.1.9"), h, {}), ip("192.168.1.9"));
  EXPECT_EQ(recorded_client(ip("192.168.1.9"), h, cidrs({"10.0.0.0/8"})), ip("192.168.1.9"));
}

TEST(RecordedClient, TrustedProxyNamesTheRightMostUntrustedHop) {
  Headers h = {{"x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.0.0.2"}};
  EXPECT_EQ(recorded_client(ip("10.0.0.1"), h, cidrs({"10.0.0.0/8"})), ip("203.0.113.7"));
}

TEST(RecordedClient, GarbageStopsAtTheLastTrustworthyAddress) {
  Headers h = {{"X-Forwarded-For", "nonsense, 10.0.0.3"}};
  EXPECT_EQ(recorded_client(ip("10.0.0.1"), h, cidrs({"10.0.0.0/8"})), ip("10.0.0.3"));
  EXPECT_EQ(recorded_client(ip("10.0.0.1"), {}, cidrs({"10.0.0.0/8"})), ip("10.0.0.1"));
}

TEST(Routes, MatchesMethodAndPathAnd405sOtherMethods) {
  HttpRoutes routes;
  HttpHandler h = [](HttpRequest) -> boost::asio::awaitable<HttpResponse> { co_return HttpResponse{}; };
  routes.add("GET", "/a", h);
  routes.add("POST", "/a", h);
  EXPECT_NE(routes.match("GET", "/a").route, nullptr);
  EXPECT_NE(routes.match("HEAD", "/a").route, nullptr);
  auto m = routes.match("DELETE", "/a");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.path_known);
  EXPECT_EQ(m.allowed, "GET, POST");
  EXPECT_FALSE(routes.match("GET", "/b").path_known);
}

TEST(HttpQuery, ValuesArePercentDecoded) {
  EXPECT_EQ(query_value("a=1&token=k%2By+z&b=2", "token"), "k+y+z");
  EXPECT_EQ(query_value("a=1&token=k%2By+z&b=2", "token", /*plus_is_space=*/true), "k+y z");
  EXPECT_EQ(query_value("ticket=abc", "ticket"), "abc");
  EXPECT_EQ(query_value("tokenx=1", "token"), std::nullopt);
  EXPECT_EQ(query_value("token", "token"), "");
  EXPECT_EQ(query_value("", "token"), std::nullopt);
  EXPECT_EQ(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");  // malformed escapes stay as they are
}

TEST(HttpRoutes, PrefixRoutesMatchWhatLiesUnderThemAndExactPathsWin) {
  HttpRoutes routes;
  HttpHandler ok = [](HttpRequest) -> boost::asio::awaitable<HttpResponse> { co_return HttpResponse::text(200, "ok"); };
  routes.add_prefix("GET", "/cdp/a/", ok, "/cdp/a/");
  routes.add_prefix("PUT", "/cdp/a/", ok, "/cdp/a/");
  routes.add_prefix("GET", "/cdp/a/json/", ok, "/cdp/a/json/");
  routes.add("GET", "/cdp/a/exact", ok);
  EXPECT_EQ(routes.match("GET", "/cdp/a/devtools/page/1").route->path, "/cdp/a/");
  EXPECT_EQ(routes.match("PUT", "/cdp/a/json/new").path_known, true);
  EXPECT_EQ(routes.match("GET", "/cdp/a/json/version").route->path, "/cdp/a/json/");  // the longest prefix
  EXPECT_FALSE(routes.match("GET", "/cdp/a/exact").route->prefix);
  EXPECT_EQ(routes.match("GET", "/cdp/a").route, nullptr);  // the prefix itself ends with '/'
  EXPECT_FALSE(routes.match("GET", "/cdp/b/x").path_known);
  auto m = routes.match("DELETE", "/cdp/a/x");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_TRUE(m.path_known);
  EXPECT_EQ(m.allowed, "GET, PUT");
}

HttpRequest request_from(const char* peer, Headers headers = {}) {
  HttpRequest r;
  r.peer = ip(peer);
  r.headers = std::move(headers);
  return r;
}

TEST(AdminAuthorization, LoopbackNeedsNoKeyOthersNeedTheBearerKey) {
  Secret key("s3cret-admin", "inline");
  EXPECT_TRUE(app::admin_authorized(request_from("127.0.0.1"), &key));
  EXPECT_TRUE(app::admin_authorized(request_from("::1"), &key));
  EXPECT_FALSE(app::admin_authorized(request_from("10.1.2.3"), &key));
  EXPECT_TRUE(app::admin_authorized(request_from("10.1.2.3", {{"Authorization", "Bearer s3cret-admin"}}), &key));
  EXPECT_FALSE(app::admin_authorized(request_from("10.1.2.3", {{"Authorization", "Bearer s3cret-admin2"}}), &key));
  EXPECT_FALSE(app::admin_authorized(request_from("10.1.2.3", {{"Authorization", "Basic s3cret-admin"}}), &key));
  EXPECT_FALSE(app::admin_authorized(request_from("10.1.2.3", {{"Authorization", "Bearer "}}), &key));
}

TEST(AdminAuthorization, ForwardingHeadersNeverGrantLocalTrust) {
  Secret key("k", "inline");
  auto r = request_from("203.0.113.9", {{"X-Forwarded-For", "127.0.0.1"}, {"X-Real-IP", "127.0.0.1"},
                                        {"Forwarded", "for=127.0.0.1"}});
  EXPECT_FALSE(app::admin_authorized(r, &key));
}

TEST(AdminAuthorization, NoConfiguredKeyMeansLoopbackOnly) {
  EXPECT_TRUE(app::admin_authorized(request_from("127.0.0.1"), nullptr));
  Secret empty;
  EXPECT_FALSE(app::admin_authorized(request_from("10.0.0.1", {{"Authorization", "Bearer "}}), &empty));
  EXPECT_FALSE(app::admin_authorized(request_from("10.0.0.1"), nullptr));
}

}  // namespace
}  // namespace hermes::net
