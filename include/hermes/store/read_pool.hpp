#pragma once
// Read-only queries on a small thread pool that coroutines co_await, so no
// SQLite call ever runs on an io thread. Each pool thread uses its own handle.

#include <boost/asio/awaitable.hpp>

#include <filesystem>
#include <functional>
#include <memory>

#include "hermes/store/database.hpp"

namespace hermes::store {

class ReadPool {
 public:
  ReadPool(std::filesystem::path path, unsigned threads = 2);
  ~ReadPool();
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  // Runs `query` with a read-only handle on a pool thread and resumes the caller
  // on its own executor; exceptions from `query` are rethrown to the caller.
  boost::asio::awaitable<void> run(std::function<void(Database&)> query);

  struct Impl;  // public only so the pool-side coroutine (a free function) can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hermes::store
