#pragma once
// A Node.js stand-in peer (tests/peers/*.mjs) as a child process. The script
// must print "listening <port>" on stdout once it accepts connections. The first start()
// in a process installs the peers' npm packages (scripts/setup-node) if they are missing.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace hermes::test {

class NodePeer {
 public:
  // `script` is relative to the source tree: "tests/peers/openai_upstream.mjs".
  explicit NodePeer(std::string script, std::vector<std::string> args = {"--port", "0"});
  ~NodePeer();
  NodePeer(const NodePeer&) = delete;
  NodePeer& operator=(const NodePeer&) = delete;

  // Spawns node and waits for the "listening" line; false (with error()) otherwise.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  void stop();
  std::uint16_t port() const { return port_; }
  const std::string& error() const { return error_; }

 private:
  std::string script_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string error_;
};

// Config sections (models, agents, routes) that send every message to agent `stuck`,
// whose model is openai_upstream.mjs's mock-hang at `port`: it never answers.
std::string hanging_agent_yaml(std::uint16_t port);

}  // namespace hermes::test
