#include <gtest/gtest.h>

#include "hermes/app/admin.hpp"
#include "hermes/net/http.hpp"

namespace hermes::net {
namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }
std::vector<Cidr> cidrs(std::initializer_list<const char*> texts) {
  std::vector<Cidr> out;
  for (const char* t : texts) out.push_back(*Cidr::parse(t));
  return out;
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
