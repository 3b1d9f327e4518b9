#include "hermes/core/thread_role.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

namespace hermes {
namespace {

int policy_of(pthread_t thread) {
  int policy = -1;
  sched_param param{};
  pthread_getschedparam(thread, &policy, &param);
  return policy;
}

// A thread that waits until released, so its scheduling can be inspected from outside.
class ParkedThread {
 public:
  ParkedThread()
      : thread_([this] {
          std::unique_lock lock(mutex_);
          released_cv_.wait(lock, [this] { return released_; });
        }) {}
  ~ParkedThread() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    released_cv_.notify_all();
    thread_.join();
  }
  pthread_t handle() { return thread_.native_handle(); }

 private:
  std::mutex mutex_;
  std::condition_variable released_cv_;
  bool released_ = false;
  std::thread thread_;
};

TEST(ThreadRole, NameThisThreadKeepsTheKernelsFifteenCharacters) {
  std::string seen;
  std::thread t([&] {
    name_this_thread("hermes-a-very-long-name");
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    seen = name;
  });
  t.join();
  EXPECT_EQ(seen, "hermes-a-very-l");
}

TEST(BackgroundPriority, StartsIdleIsPromotedAndSettlesBack) {
  ParkedThread worker;
  BackgroundPriority priority;
  priority.promote();  // nothing attached yet: nothing to do
  priority.settle();
  EXPECT_FALSE(priority.in_background());
  EXPECT_EQ(policy_of(worker.handle()), SCHED_OTHER);
  priority.attach(worker.handle());
  if (!priority.available()) {
    // Not permitted here (no CAP_SYS_NICE, RLIMIT_NICE < 20): the thread must stay normal.
    EXPECT_FALSE(priority.in_background());
    EXPECT_EQ(policy_of(worker.handle()), SCHED_OTHER);
    GTEST_SKIP() << "leaving SCHED_IDLE is not permitted for this process";
  }
  EXPECT_TRUE(priority.in_background());
  EXPECT_EQ(policy_of(worker.handle()), SCHED_IDLE);

  priority.promote();
  EXPECT_FALSE(priority.in_background());
  EXPECT_EQ(policy_of(worker.handle()), SCHED_OTHER);
  priority.promote();  // already normal: nothing changes
  EXPECT_EQ(policy_of(worker.handle()), SCHED_OTHER);

  priority.settle();
  EXPECT_TRUE(priority.in_background());
  EXPECT_EQ(policy_of(worker.handle()), SCHED_IDLE);
}

}  // namespace
}  // namespace hermes
