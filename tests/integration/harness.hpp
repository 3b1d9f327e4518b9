#pragma once
// Runs the real hermesd on loopback for integration tests, and talks to it
// over plain sockets so tests control every byte (slow clients, Expect, ...).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace hermes::test {

using namespace std::chrono_literals;

// A free TCP port on 127.0.0.1 (bound and released; fine for tests).
std::uint16_t free_port();

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

// hermesd as a child process. The config may use ${PORT0}..${PORT3} (free
// ports), ${DIR} (a temp dir) and ${DATA} (its data dir).
class Daemon {
 public:
  explicit Daemon(std::string config_template, std::map<std::string, std::string> env = {});
  ~Daemon();

  // Starts and waits for READY=1 on the notify socket; false on timeout/exit.
  bool start(std::chrono::milliseconds timeout = 10s);
  std::uint16_t port(int index = 0) const { return ports_.at(static_cast<std::size_t>(index)); }
  const TempDir& dir() const { return dir_; }
  std::filesystem::path config_path() const { return config_path_; }
  void rewrite_config(const std::string& config_template);

  void signal(int sig) const;
  // Exit code, or -1 if it did not exit within `timeout` (-2: killed by a signal).
  int wait_exit(std::chrono::milliseconds timeout = 15s);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Waits for a notify datagram containing `needle`; returns every datagram seen meanwhile.
  bool wait_notify(const std::string& needle, std::chrono::milliseconds timeout = 5s);
  const std::vector<std::string>& notifications() const { return notifications_; }
  std::string log() const;
  // Audit rows of `kind` from ${DATA}/audit.db (as hermesctl's JSON), waiting
  // up to `timeout` for at least `at_least` of them to be committed.
  std::vector<nlohmann::json> audit_events(const std::string& kind, std::size_t at_least = 1,
                                           std::chrono::milliseconds timeout = 3s) const;
  std::filesystem::path audit_db() const { return dir_.path() / "data" / "audit.db"; }

 private:
  std::string expand(const std::string& text) const;

  TempDir dir_;
  std::vector<std::uint16_t> ports_;
  std::filesystem::path config_path_;
  std::map<std::string, std::string> env_;
  int notify_fd_ = -1;
  pid_t pid_ = -1;
  int exit_code_ = -1;  // set when reaped
  std::vector<std::string> notifications_;
  bool reap(bool block);
};

struct HttpResult {
  int status = 0;  // 0: no response (connection closed or timed out)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string raw;
};

// Polls `done` every 25 ms until it holds or `timeout` passes (the caller then asserts).
inline void wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

// One-shot request over a fresh connection.
HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& path,
                        const std::map<std::string, std::string>& headers = {}, const std::string& body = {});
inline HttpResult http_get(std::uint16_t port, const std::string& path,
                           const std::map<std::string, std::string>& headers = {}) {
  return http_request(port, "GET", path, headers);
}

// A raw TCP connection to 127.0.0.1 for byte-level tests.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port);
  ~RawConnection();
  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes);
  // Reads until `needle` appears, the peer closes, or the timeout passes.
  std::string read_until(const std::string& needle, std::chrono::milliseconds timeout = 5s);
  // Reads one complete HTTP response (head + Content-Length body).
  HttpResult read_response(std::chrono::milliseconds timeout = 5s);
  // True when the peer closed (EOF or reset) within `timeout`.
  bool closed_by_peer(std::chrono::milliseconds timeout = 5s);
  // Shuts only the sending side (a half-close): the peer reads EOF, we can still read.
  void shutdown_send();

 private:
  int fd_ = -1;
  std::string pending_;
};

HttpResult parse_response(const std::string& raw);

// Resident memory of process `pid` in KiB (VmRSS); -1 when unreadable.
long rss_kib(pid_t pid);

// The value of an unlabelled or labelled sample in Prometheus text; -1 when absent.
double metric_value(const std::string& metrics_text, const std::string& series);

}  // namespace hermes::test
