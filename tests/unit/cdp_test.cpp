// The CDP relay's decisions without a browser: globs, URLs, the method deny list, the
// cheap look at browser messages, query values; and the `browsers:` config block.
#include <gtest/gtest.h>

#include "hermes/config/loader.hpp"
#include "src/cdp/browser.hpp"
#include "src/cdp/policy.hpp"

namespace hermes::cdp {
namespace {

TEST(CdpGlob, StarIsAnyRunAndEverythingElseIsLiteral) {
  EXPECT_TRUE(glob_match("http://intranet.corp.example/*", "http://intranet.corp.example/"));
  EXPECT_TRUE(glob_match("http://intranet.corp.example/*", "http://intranet.corp.example/a/b?c=d"));
  EXPECT_FALSE(glob_match("http://intranet.corp.example/*", "http://intranet.corp.example.evil.com/"));
  EXPECT_FALSE(glob_match("http://intranet.corp.example/*", "https://intranet.corp.example/"));
  EXPECT_TRUE(glob_match("https://*.corp.example/*", "https://wiki.corp.example/x"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_FALSE(glob_match("a?c", "abc"));  // '?' is itself
  EXPECT_TRUE(glob_match("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(glob_match("a*b*c", "aXXbYY"));
  // No exponential backtracking: a hostile pattern against a long URL stays quick.
  std::string url(10'000, 'a');
  EXPECT_FALSE(glob_match("*a*a*a*a*a*a*a*a*b", url));
}

TEST(CdpUrls, OnlyAllowedHttpUrlsAndAboutBlank) {
  std::vector<std::string> allow = {"http://intranet.corp.example/*"};
  EXPECT_EQ(url_refusal("about:blank", allow), "");
  EXPECT_EQ(url_refusal("http://intranet.corp.example/page", allow), "");
  EXPECT_EQ(url_refusal("http://other.example/", allow), "the URL is not in the browser's allow_urls");
  for (const char* url : {"file:///etc/passwd", "chrome://settings", "devtools://devtools/x", "javascript:alert(1)",
                          "data:text/html,<b>x</b>", "FILE:///etc/passwd", "about:srcdoc"}) {
    EXPECT_NE(url_refusal(url, {"*"}), "") << url;
  }
  EXPECT_EQ(url_refusal("file:///x", {"*"}), "'file:' URLs are never opened through the relay");
  EXPECT_NE(url_refusal(" http://intranet.corp.example/", allow), "");
  EXPECT_NE(url_refusal("http://intranet.corp.example/\n", allow), "");
  EXPECT_NE(url_refusal("", allow), "");
  EXPECT_EQ(url_refusal("http://anything.example/", {}), "the URL is not in the browser's allow_urls");
  EXPECT_EQ(url_for_audit("http://a.example/p?token=secret#frag"), "http://a.example/p");
}

// A `*` before the path stays within the authority: no host can be spelled around it.
TEST(CdpUrls, AStarInTheHostCannotReachIntoThePathUserinfoOrQuery) {
  std::vector<std::string> allow = {"https://*.corp.example/*"};
  EXPECT_EQ(url_refusal("https://wiki.corp.example/page", allow), "");
  EXPECT_EQ(url_refusal("https://a.b.corp.example/", allow), "");
  for (const char* url : {"https://evil.example/.corp.example/", "https://evil.example?.corp.example/",
                          "https://evil.example#.corp.example/", "https://user@evil.example/x.corp.example/",
                          "https://evil.example\\.corp.example/", "https://evil.example%2f.corp.example/"}) {
    EXPECT_NE(url_refusal(url, allow), "") << url;
  }
  EXPECT_EQ(url_refusal("https://evil.example\\.corp.example/", {"*"}), "the URL contains a backslash");
  EXPECT_EQ(url_refusal("http://[::1/", {"*"}), "the URL does not parse");
  EXPECT_EQ(url_refusal("http:///path", {"*"}), "the URL does not parse");
  // A glob without a scheme is one pattern over the whole URL.
  EXPECT_EQ(url_refusal("http://anything.example/x", {"*"}), "");
}

TEST(CdpMessages, SessionIdsAreReadFromTheTail) {
  EXPECT_EQ(peek_session_id(R"({"method":"Page.loadEventFired","params":{},"sessionId":"AB12"})"), "AB12");
  EXPECT_EQ(peek_session_id(R"({"method":"Page.loadEventFired","params":{}})"), "");
  EXPECT_EQ(peek_session_id(R"({"method":"X","params":{"sessionId":"AB12"}})"), "");
  EXPECT_EQ(peek_session_id(R"({"method":"X","params":{"sessionId":"AB12","x":1}})"), "");
}

TEST(CdpMessages, DepthIsCheckedBeforeAParse) {
  EXPECT_TRUE(json_depth_within(R"({"a":[{"b":[1]}]})", 4));
  EXPECT_FALSE(json_depth_within(R"({"a":[{"b":[1]}]})", 3));
  EXPECT_TRUE(json_depth_within(R"({"a":"[[[[[[[[[[\"[[["})", 1));  // brackets in strings do not count
  EXPECT_FALSE(json_depth_within(std::string(100'000, '['), 64));
}

TEST(CdpMethods, BuiltInListAndDenyMethods) {
  MethodPolicy policy({"Emulation.setGeolocationOverride", "Overlay.*"});
  for (const char* m : {"Network.getAllCookies", "Storage.getCookies", "DOMStorage.getDOMStorageItems",
                        "IndexedDB.requestData", "CacheStorage.requestEntries", "DOM.setFileInputFiles",
                        "Fetch.enable", "Network.setRequestInterception", "Security.setIgnoreCertificateErrors",
                        "Target.attachToBrowserTarget", "Target.exposeDevToolsProtocol", "Target.createBrowserContext",
                        "Target.sendMessageToTarget", "Browser.close", "Browser.grantPermissions",
                        "Emulation.setGeolocationOverride", "Overlay.highlightNode", "nodots",
                        "Storage.getUsageAndQuota", "Tracing.start", "Browser.getBrowserCommandLine",
                        "Network.loadNetworkResource", "Target.openDevTools", "Browser.setWindowBounds"}) {
    EXPECT_TRUE(policy.denied(m)) << m;
  }
  for (const char* m : {"Page.navigate", "Runtime.evaluate", "Target.setAutoAttach", "Target.createTarget",
                        "Browser.getVersion", "Network.enable", "DOM.getDocument", "Emulation.setDeviceMetricsOverride"}) {
    EXPECT_FALSE(policy.denied(m)) << m;
  }
}

TEST(CdpMessages, TheFirstMemberDecidesWithoutParsing) {
  auto r = peek_message(R"({"id":42,"result":{"data":"..."}})");
  EXPECT_EQ(r.kind, MessageHead::Kind::response);
  EXPECT_EQ(r.id, 42);
  r = peek_message(R"({"id":1073741824,"result":{}})");
  EXPECT_EQ(r.id, kRelayIdBase);
  auto e = peek_message(R"({"method":"Target.attachedToTarget","params":{}})");
  EXPECT_EQ(e.kind, MessageHead::Kind::event);
  EXPECT_EQ(e.method, "Target.attachedToTarget");
  for (const char* odd : {R"({ "id":1})", R"({"id":-1})", R"({"id":1.5})", R"({"method":"A\u002eb"})",
                          R"({"sessionId":"x","id":1})", "[]", "", R"({"id":12345678901234567890123})"}) {
    EXPECT_EQ(peek_message(odd).kind, MessageHead::Kind::unknown) << odd;
  }
}

config::LoadResult load_browsers(const std::string& browsers) {
  config::SecretEnvironment env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "CDP_KEY") return std::string("a-cdp-key");
    return std::nullopt;
  };
  return config::load_string("listeners:\n  - {name: lan, bind: loopback, port: 8080}\nbrowsers:\n" + browsers,
                             "hermes.yaml", env);
}

TEST(CdpConfig, ABrowserParsesIntoTypedValues) {
  auto r = load_browsers(
      "  - {name: intranet, listener: lan, endpoint: \"http://127.0.0.1:9222\", keys: [{name: a, key: \"${env:CDP_KEY}\"}],\n"
      "     allow_urls: [\"http://intranet.corp.example/*\"], deny_methods: [Overlay.*], allow_origins: [\"https://tools.corp.example\"],\n"
      "     max_sessions: 2, idle_timeout: 30s, max_frame: 8MiB}\n");
  ASSERT_TRUE(r.ok()) << config::format_errors(r.errors);
  const auto& b = r.config->browsers.at(0);
  EXPECT_EQ(b.endpoint_host, "127.0.0.1");
  EXPECT_EQ(b.endpoint_port, 9222);
  EXPECT_EQ(b.keys.at(0).name, "a");
  EXPECT_EQ(b.max_sessions, 2u);
  EXPECT_EQ(b.idle_timeout.count(), 30'000);
  EXPECT_EQ(b.max_frame, 8u * 1024 * 1024);
  auto defaults = load_browsers("  - {name: b, listener: lan, endpoint: \"http://[::1]:9222/\", keys: [{name: a, sha256: "
                                "\"0000000000000000000000000000000000000000000000000000000000000000\"}]}\n");
  ASSERT_TRUE(defaults.ok()) << config::format_errors(defaults.errors);
  EXPECT_EQ(defaults.config->browsers[0].endpoint_host, "[::1]");
  EXPECT_EQ(defaults.config->browsers[0].max_sessions, 4u);
  EXPECT_EQ(defaults.config->browsers[0].max_frame, 32u * 1024 * 1024);
}

TEST(CdpConfig, MistakesAreNamedAtTheirKeys) {
  auto r = load_browsers(
      "  - {name: x, listener: nowhere, endpoint: \"http://0.0.0.0:9222\", keys: [],\n"
      "     deny_methods: [notamethod], allow_origins: [\"https://a.example/path\"], max_sessions: 0}\n"
      "  - {name: y, listener: lan, endpoint: \"ws://127.0.0.1:9222\", keys: [{name: a, key: \"${env:CDP_KEY}\"}]}\n"
      "  - {name: z, listener: lan, endpoint: \"http://browser.lan:9222\", keys: [{name: a, key: \"${env:CDP_KEY}\"}]}\n");
  auto text = config::format_errors(r.errors);
  for (const char* expected :
       {"browsers[0].listener: no listener named 'nowhere'", "browsers[0].endpoint: endpoint must name the browser's address",
        "browsers[0].keys: a browser needs keys:", "browsers[0].deny_methods: 'notamethod' is not a CDP method",
        "browsers[0].allow_origins: 'https://a.example/path' is not an origin",
        "browsers[0].max_sessions: max_sessions must be from 1 to 1024", "browsers[1].endpoint: endpoint must be http://HOST:PORT",
        "browsers[2].endpoint: endpoint must be http://HOST:PORT with HOST an IP address or localhost"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\n" << text;
  }
}

}  // namespace
}  // namespace hermes::cdp
