#pragma once
// Web chat (`type: webchat`): a page served by the gateway at /chat/ and a
// WebSocket at /chat/ws speaking JSON frames, streamed through the pipeline.
//
//   client -> {"type":"hello","session"?:token,"key"?:access key}  {"type":"message","text":…}
//   server -> {"type":"ready","session":token,"resumed":bool}
//             {"type":"delta","text":…} … {"type":"done","agent":…}
//             {"type":"error","code":…,"message":…}  {"type":"notice","code":…,"text":…,"retry_after"?:s}

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "hermes/channels/api.hpp"
#include "hermes/channels/channel.hpp"
#include "hermes/net/http.hpp"

namespace hermes::channels::webchat {

struct WebchatSpec final : config::ChannelSpec {
  std::vector<std::string> allowed_origins;  // empty: the page's own origin only
  std::vector<api::ApiKey> keys;             // access.keys; empty: open
  std::uint64_t max_message = 16 * 1024;     // bytes per frame from the browser
  Duration idle_timeout{300'000};            // an unanswered ping after this closes the socket
  std::uint32_t max_queued = 4;              // messages waiting while one is answered
  void validate(const config::Config& cfg, const std::string& path, config::ParseContext& ctx) const override;
};

// The origins of the web chat's own page: its listener's scheme and port, and a host the
// listener answers to.
struct OwnOrigin {
  bool tls = false;
  std::uint16_t port = 0;
  net::HostNames hosts;  // enforced; see ListenerConfig::host_names
};

// Whether a WebSocket upgrade from `origin` may drive the gateway: one of `allowed`, or
// (when `allowed` is empty) one of `own`. Never derived from the request's Host, which a
// page that rebinds its name to the gateway controls, as it controls Origin.
bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed, const OwnOrigin& own);

// The embedded page (generated from share/webchat/): file name -> content.
const std::map<std::string_view, std::string_view>& page_assets();

void register_type(config::Registries& registries, ChannelFactories& factories);

}  // namespace hermes::channels::webchat
