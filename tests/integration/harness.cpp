#include "harness.hpp"

#include "hermes/audit/query.hpp"
#include "hermes/store/database.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace hermes::test {

namespace {

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size()) {
    text.replace(pos, from.size(), to);
  }
}

int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "hermes-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::write(const std::string& name, const std::string& content) const {
  auto p = path_ / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << content;
  return p;
}

Daemon::Daemon(std::string config_template, std::map<std::string, std::string> env) : env_(std::move(env)) {
  for (int i = 0; i < 4; ++i) ports_.push_back(free_port());
  std::filesystem::create_directories(dir_.path() / "data");
  config_path_ = dir_.write("hermes.yaml", expand(config_template));
}

Daemon::~Daemon() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (notify_fd_ >= 0) ::close(notify_fd_);
}

std::string Daemon::expand(const std::string& text) const {
  std::string out = text;
  for (std::size_t i = 0; i < ports_.size(); ++i) {
    replace_all(out, "${PORT" + std::to_string(i) + "}", std::to_string(ports_[i]));
  }
  replace_all(out, "${DIR}", dir_.path().string());
  replace_all(out, "${DATA}", (dir_.path() / "data").string());
  return out;
}

void Daemon::rewrite_config(const std::string& config_template) { dir_.write("hermes.yaml", expand(config_template)); }

bool Daemon::start(std::chrono::milliseconds timeout) {
  auto notify_path = dir_.path() / "notify.sock";
  if (notify_fd_ >= 0) ::close(notify_fd_);  // a restart of the same daemon
  std::filesystem::remove(notify_path);
  notifications_.clear();
  notify_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, notify_path.c_str(), sizeof addr.sun_path - 1);
  if (::bind(notify_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("cannot bind notify socket");
  }
  auto log_path = dir_.path() / "hermesd.log";
  pid_ = ::fork();
  if (pid_ == 0) {
    int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log_fd, STDERR_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
    ::setenv("STATE_DIRECTORY", (dir_.path() / "data").c_str(), 1);
    for (const auto& [k, v] : env_) ::setenv(k.c_str(), v.c_str(), 1);
    ::execl(HERMESD_PATH, "hermesd", "--config", config_path_.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return wait_notify("READY=1", timeout);
}

void Daemon::signal(int sig) const {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool Daemon::reap(bool block) {
  if (pid_ <= 0) return true;
  int status = 0;
  if (::waitpid(pid_, &status, block ? 0 : WNOHANG) != pid_) return false;
  pid_ = -1;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -2;
  return true;
}

int Daemon::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reap(false)) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(10ms);
  }
  return exit_code_;
}

bool Daemon::wait_notify(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{notify_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 100))) > 0) {
      char buf[4096];
      ssize_t n = ::recv(notify_fd_, buf, sizeof buf, 0);
      if (n > 0) {
        notifications_.emplace_back(buf, static_cast<std::size_t>(n));
        if (notifications_.back().find(needle) != std::string::npos) return true;
      }
    } else if (pid_ > 0 && reap(false)) {
      return false;
    }
  }
}

std::string Daemon::log() const { return read_file(dir_.path() / "hermesd.log"); }

std::vector<nlohmann::json> Daemon::audit_events(const std::string& kind, std::size_t at_least,
                                                 std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<nlohmann::json> out;
  do {
    out.clear();
    if (std::filesystem::exists(audit_db())) {
      store::OpenOptions ro;
      ro.read_only = true;
      store::Database db(audit_db(), ro);
      audit::QueryFilter f;
      f.kind = kind;
      for (const auto& r : audit::query_events(db, f)) out.push_back(nlohmann::json::parse(audit::to_json(r).dump()));
    }
    if (out.size() >= at_least) break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return out;
}

RawConnection::RawConnection(std::uint16_t port) : fd_(connect_loopback(port)) {}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send(const std::string& bytes) {
  if (fd_ < 0) return false;
  return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

std::string RawConnection::read_until(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fd_ >= 0 && pending_.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    pending_.append(buf, static_cast<std::size_t>(n));
  }
  std::string out;
  auto pos = pending_.find(needle);
  if (pos == std::string::npos) {
    out.swap(pending_);
  } else {
    out = pending_.substr(0, pos + needle.size());
    pending_.erase(0, pos + needle.size());
  }
  return out;
}

HttpResult RawConnection::read_response(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string head = read_until("\r\n\r\n", timeout);
  HttpResult r = parse_response(head);
  if (r.status == 0) return r;
  std::size_t length = 0;
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) length = std::stoul(it->second);
  while (pending_.size() < length) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) break;
    pending_.append(buf, static_cast<std::size_t>(n));
  }
  r.body = pending_.substr(0, std::min(length, pending_.size()));
  pending_.erase(0, r.body.size());
  r.raw = head + r.body;
  return r;
}

bool RawConnection::closed_by_peer(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return true;
    pending_.append(buf, static_cast<std::size_t>(n));
  }
}

void RawConnection::shutdown_send() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

long rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

HttpResult parse_response(const std::string& raw) {
  HttpResult r;
  r.raw = raw;
  auto head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  std::istringstream lines(raw.substr(0, head_end));
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[name] = value;
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

HttpResult http_request(std::uint16_t port, const std::string& method, const std::string& path,
                        const std::map<std::string, std::string>& headers, const std::string& body) {
  RawConnection c(port);
  if (!c.connected()) return {};
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  c.send(req);
  return c.read_response();
}

double metric_value(const std::string& metrics_text, const std::string& series) {
  std::istringstream lines(metrics_text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

}  // namespace hermes::test
