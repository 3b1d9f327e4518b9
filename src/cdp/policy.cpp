#include "src/cdp/policy.hpp"

#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <cctype>

namespace hermes::cdp {

bool glob_match(std::string_view glob, std::string_view text, std::string_view star_stops) {
  // Iterative wildcard matching with one backtrack point: linear in practice, never
  // exponential, whatever the pattern.
  std::size_t g = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = t;
    } else if (g < glob.size() && glob[g] == text[t]) {
      ++g;
      ++t;
    } else if (star != std::string_view::npos && star_stops.find(text[resume]) == std::string_view::npos) {
      g = star + 1;
      t = ++resume;
    } else {
      return false;  // no star to stretch, or it would have to cover a stop character
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

namespace {

std::string lower_scheme(std::string_view url) {
  auto colon = url.find(':');
  if (colon == std::string_view::npos) return {};
  std::string scheme(url.substr(0, colon));
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return scheme;
}

}  // namespace

namespace {

// "scheme://authority" and what follows it (path, query, fragment).
std::pair<std::string_view, std::string_view> split_origin(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {std::string_view(), url};
  auto end = url.find_first_of("/?#", scheme_end + 3);
  if (end == std::string_view::npos) end = url.size();
  return {url.substr(0, end), url.substr(end)};
}

// A glob over a whole URL, its `*`s kept inside the part they stand in: in
// "https://*.corp.example/*" the first `*` cannot reach past the host (into userinfo, a
// path or a query), so it cannot match "https://evil.example/.corp.example/".
bool url_glob_match(std::string_view glob, std::string_view url) {
  auto [glob_origin, glob_rest] = split_origin(glob);
  if (glob_origin.empty()) return glob_match(glob, url);
  auto [url_origin, url_rest] = split_origin(url);
  return glob_match(glob_origin, url_origin, "/\\@?#%") && glob_match(glob_rest, url_rest);
}

}  // namespace

std::string url_refusal(std::string_view url, const std::vector<std::string>& allow_urls) {
  if (url == "about:blank") return {};
  // What a browser would strip before parsing: leading spaces and control characters.
  if (url.empty() || static_cast<unsigned char>(url.front()) <= 0x20) return "the URL is empty or starts with a space";
  for (char c : url) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "the URL contains a control character";
  }
  auto scheme = lower_scheme(url);
  if (scheme != "http" && scheme != "https") {
    return scheme.empty() ? "the URL has no scheme" : "'" + scheme + ":' URLs are never opened through the relay";
  }
  // Browsers read a backslash as a slash, and a URL that does not parse may be read some
  // other way: neither is matched against the globs.
  if (url.find('\\') != std::string_view::npos) return "the URL contains a backslash";
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed || !parsed->has_authority() || parsed->encoded_host().empty()) return "the URL does not parse";
  for (const auto& glob : allow_urls) {
    if (url_glob_match(glob, url)) return {};
  }
  return "the URL is not in the browser's allow_urls";
}

std::string url_for_audit(std::string_view url) {
  auto cut = url.find_first_of("?#");
  return std::string(url.substr(0, cut));
}

MethodPolicy::MethodPolicy(const std::vector<std::string>& extra) {
  // Cookies and storage, local files, interception and TLS bypass, escaping the client's
  // own targets, and the browser process itself (docs/cdp.md, "What the relay refuses").
  static constexpr std::array kMethods = {
      "Network.getAllCookies",       "Network.getCookies",        "Network.setCookie",
      "Network.setCookies",          "Network.deleteCookies",     "Network.clearBrowserCookies",
      "Storage.getCookies",          "Storage.setCookies",        "Storage.clearCookies",
      "Storage.clearDataForOrigin",  "Storage.clearDataForStorageKey",
      "DOM.setFileInputFiles",       "Page.setInterceptFileChooserDialog",
      "Network.setRequestInterception", "Network.continueInterceptedRequest",
      "Security.setIgnoreCertificateErrors", "Security.setOverrideCertificateErrors",
      "Target.attachToBrowserTarget", "Target.exposeDevToolsProtocol", "Target.createBrowserContext",
      "Target.disposeBrowserContext", "Target.sendMessageToTarget", "Target.setRemoteLocations",
      "Target.autoAttachRelated",    "Browser.close",             "Browser.crash",
      "Browser.crashGpuProcess",     "Browser.grantPermissions",  "Browser.resetPermissions",
      "Browser.setPermission",       "Page.setDownloadBehavior",  "Page.crash",
      // Reaches past the key's context: the command line names the debugging port, a
      // resource load ignores CORS, windows and DevTools are the browser's.
      "Browser.getBrowserCommandLine", "Browser.executeBrowserCommand", "Browser.setWindowBounds",
      "Browser.setDockTile",         "Network.loadNetworkResource", "Target.openDevTools",
  };
  // Whole domains: storage of every origin, browser-wide tracing (every context's pages).
  static constexpr std::array kDomains = {"DOMStorage", "IndexedDB", "CacheStorage", "Fetch", "Tethering",
                                          "SystemInfo", "Extensions", "FileSystem", "Storage", "Tracing"};
  methods_.insert(kMethods.begin(), kMethods.end());
  domains_.insert(kDomains.begin(), kDomains.end());
  for (const auto& entry : extra) {
    if (entry.ends_with(".*")) {
      domains_.insert(entry.substr(0, entry.size() - 2));
    } else {
      methods_.insert(entry);
    }
  }
}

bool MethodPolicy::denied(std::string_view method) const {
  if (methods_.count(method)) return true;
  auto dot = method.find('.');
  return dot == std::string_view::npos || domains_.count(method.substr(0, dot));
}

bool json_depth_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

std::string_view peek_session_id(std::string_view message) {
  // Chromium writes "sessionId" last: `...,"sessionId":"<id>"}`.
  constexpr std::string_view kKey = R"("sessionId":")";
  auto tail = message.substr(message.size() > 160 ? message.size() - 160 : 0);
  auto at = tail.rfind(kKey);
  if (at == std::string_view::npos || !message.ends_with("\"}")) return {};
  auto start = at + kKey.size();
  auto end = tail.find('"', start);
  if (end == std::string_view::npos || end + 2 != tail.size()) return {};
  return tail.substr(start, end - start);
}

MessageHead peek_message(std::string_view message) {
  MessageHead head;
  constexpr std::string_view kId = R"({"id":)";
  constexpr std::string_view kMethod = R"({"method":")";
  if (message.starts_with(kId)) {
    std::size_t i = kId.size();
    std::int64_t id = 0;
    std::size_t digits = 0;
    while (i < message.size() && std::isdigit(static_cast<unsigned char>(message[i])) && digits < 18) {
      id = id * 10 + (message[i++] - '0');
      ++digits;
    }
    if (digits > 0 && i < message.size() && (message[i] == ',' || message[i] == '}')) {
      head.kind = MessageHead::Kind::response;
      head.id = id;
    }
  } else if (message.starts_with(kMethod)) {
    auto start = kMethod.size();
    auto end = message.find('"', start);
    // Method names have no escapes: a backslash means "parse it properly".
    if (end != std::string_view::npos && message.substr(start, end - start).find('\\') == std::string_view::npos) {
      head.kind = MessageHead::Kind::event;
      head.method = message.substr(start, end - start);
    }
  }
  return head;
}

}  // namespace hermes::cdp
