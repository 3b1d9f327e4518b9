#include "src/cdp/policy.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace hermes::cdp {

bool glob_match(std::string_view glob, std::string_view text) {
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
    } else if (star != std::string_view::npos) {
      g = star + 1;
      t = ++resume;
    } else {
      return false;
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
  for (const auto& glob : allow_urls) {
    if (glob_match(glob, url)) return {};
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
  };
  static constexpr std::array kDomains = {"DOMStorage", "IndexedDB", "CacheStorage", "Fetch", "Tethering",
                                          "SystemInfo", "Extensions", "FileSystem"};
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
