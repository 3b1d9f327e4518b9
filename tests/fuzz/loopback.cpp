#include "tests/fuzz/loopback.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <optional>

namespace hermes::fuzz {

struct IoThread::Impl {
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
};

IoThread::IoThread() : impl_(std::make_unique<Impl>()) {}
IoThread::~IoThread() {
  impl_->guard.reset();
  impl_->io.stop();
  impl_->thread.join();
}
boost::asio::io_context& IoThread::io() { return impl_->io; }

namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

void set_timeout(int fd, std::chrono::seconds limit) {
  timeval tv{static_cast<time_t>(limit.count()), 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

[[noreturn]] void hang(const char* what) {
  std::fprintf(stderr, "fuzz: %s: no answer and no close within the limit (a hang)\n", what);
  std::abort();
}

}  // namespace

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;  // the peer closed early (a refusal): what it said is still read
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void close_now(int fd) {
  linger reset{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);
}

namespace {

// A connected socket to 127.0.0.1:`port`; a few retries when the kernel is short of ports.
int connect_loopback(std::uint16_t port) {
  auto address = loopback(port);
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) break;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
    int error = errno;
    ::close(fd);
    if (error != EADDRNOTAVAIL && error != EAGAIN && error != ECONNREFUSED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr, "fuzz: cannot connect to 127.0.0.1:%u: %s\n", port, std::strerror(errno));
  std::abort();
}

}  // namespace

std::string exchange(std::uint16_t port, std::string_view bytes, std::chrono::seconds limit) {
  int fd = connect_loopback(port);
  set_timeout(fd, limit);
  write_all(fd, bytes);
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buffer[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      answer.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) hang("server");
    break;  // closed (or reset)
  }
  close_now(fd);
  return answer;
}

PeerListener::PeerListener() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int on = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  auto address = loopback(0);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd_, 16) != 0) std::abort();
  socklen_t length = sizeof address;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
}

PeerListener::~PeerListener() { ::close(fd_); }

int PeerListener::accept_one(const std::function<bool()>& client_done, std::chrono::seconds limit) const {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) == 1) break;
    if (client_done()) return -1;
    if (std::chrono::steady_clock::now() > deadline) hang("client (no connection)");
  }
  int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd >= 0) set_timeout(fd, limit);
  return fd;
}

std::string read_head(int fd) {
  std::string head;
  char buffer[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    head.append(buffer, static_cast<std::size_t>(n));
  }
  return head;
}

}  // namespace hermes::fuzz
