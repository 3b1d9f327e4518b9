#include "node_peer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace hermes::test {

NodePeer::NodePeer(std::string script, std::vector<std::string> args)
    : script_(std::string(HERMES_SOURCE_DIR) + "/" + std::move(script)), args_(std::move(args)) {}

NodePeer::~NodePeer() { stop(); }

namespace {

// The peers' npm packages (tests/peers: smtp-server, ws) from the lockfile, once per test
// process. scripts/setup-node returns at once when they are installed and up to date, and
// takes a lock: ctest runs tests in parallel.
void install_peer_packages() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::string command = std::string(HERMES_SOURCE_DIR) + "/scripts/setup-node >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) std::fprintf(stderr, "scripts/setup-node failed\n");
  });
}

}  // namespace

bool NodePeer::start(std::chrono::milliseconds timeout) {
  install_peer_packages();
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    error_ = "pipe failed";
    return false;
  }
  std::vector<std::string> argv_storage{"node", script_};
  argv_storage.insert(argv_storage.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    // A test binary that crashes must not leave the peer behind (holding the
    // ports and any pipe its output goes to).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(fds[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
    ::execvp("node", argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  stdout_fd_ = fds[0];
  if (pid_ < 0) {
    error_ = "fork failed";
    return false;
  }
  std::string out;
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{stdout_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[256];
    auto n = ::read(stdout_fd_, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    auto at = out.find("listening ");
    auto eol = out.find('\n', at == std::string::npos ? 0 : at);
    if (at != std::string::npos && eol != std::string::npos) {
      port_ = static_cast<std::uint16_t>(std::stoi(out.substr(at + 10, eol - at - 10)));
      return true;
    }
  }
  error_ = "node did not report a port; output: " + out;
  return false;
}

void NodePeer::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  if (stdout_fd_ >= 0) {
    ::close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

std::string hanging_agent_yaml(std::uint16_t port) {
  return R"(models:
  - {name: hang, type: openai, base_url: "http://127.0.0.1:)" + std::to_string(port) + R"(/v1", model: mock-hang}
agents:
  - {name: stuck, model: hang}
routes:
  - {name: default, agent: stuck}
)";
}

}  // namespace hermes::test
