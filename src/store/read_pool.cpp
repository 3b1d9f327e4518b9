#include "hermes/store/read_pool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <mutex>
#include <vector>

namespace hermes::store {

namespace asio = boost::asio;

struct ReadPool::Impl {
  std::filesystem::path path;
  asio::thread_pool pool;
  std::mutex mutex;
  std::vector<std::unique_ptr<Database>> idle;

  Impl(std::filesystem::path p, unsigned threads) : path(std::move(p)), pool(threads) {}

  std::unique_ptr<Database> acquire() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        auto db = std::move(idle.back());
        idle.pop_back();
        return db;
      }
    }
    OpenOptions options;
    options.read_only = true;
    return std::make_unique<Database>(path, options);
  }

  void release(std::unique_ptr<Database> db) {
    std::lock_guard lock(mutex);
    idle.push_back(std::move(db));
  }
};

ReadPool::ReadPool(std::filesystem::path path, unsigned threads)
    : impl_(std::make_unique<Impl>(std::move(path), threads)) {}

ReadPool::~ReadPool() { impl_->pool.join(); }

namespace {

asio::awaitable<void> run_on_pool(ReadPool::Impl* impl, std::function<void(Database&)> query) {
  auto db = impl->acquire();
  query(*db);  // an exception skips release(): a handle in an unknown state is dropped
  impl->release(std::move(db));
  co_return;
}

}  // namespace

asio::awaitable<void> ReadPool::run(std::function<void(Database&)> query) {
  co_await asio::co_spawn(impl_->pool.get_executor(), run_on_pool(impl_.get(), std::move(query)),
                          asio::use_awaitable);
}

}  // namespace hermes::store
