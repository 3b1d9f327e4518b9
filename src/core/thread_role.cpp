#include "hermes/core/thread_role.hpp"

#include <pthread.h>
#include <sched.h>

#include <mutex>
#include <string>
#include <system_error>
#include <thread>

namespace hermes {
namespace {
thread_local bool t_is_io = false;

bool set_policy(pthread_t thread, int policy) {
  sched_param param{};
  param.sched_priority = 0;
  return pthread_setschedparam(thread, policy, &param) == 0;
}
}  // namespace

void mark_this_thread_as_io() { t_is_io = true; }
bool this_thread_is_io() { return t_is_io; }

void name_this_thread(std::string_view name) {
  std::string truncated(name.substr(0, 15));  // the kernel's limit, without the NUL
  pthread_setname_np(pthread_self(), truncated.c_str());
}

bool background_priority_available() {
  static std::once_flag once;
  static bool available = false;
  std::call_once(once, [] {
    try {
      std::thread probe([] {
        available = set_policy(pthread_self(), SCHED_IDLE) && set_policy(pthread_self(), SCHED_OTHER);
      });
      probe.join();
    } catch (const std::system_error&) {
      available = false;  // no thread for the probe (TasksMax): stay in normal scheduling
    }
  });
  return available;
}

BackgroundPriority::BackgroundPriority() : available_(background_priority_available()) {}

void BackgroundPriority::attach(pthread_t thread) {
  {
    std::lock_guard lock(mutex_);
    thread_ = thread;
    attached_ = true;
  }
  settle();
}

void BackgroundPriority::promote() {
  if (available_ && background_.load(std::memory_order_relaxed)) set(false);
}

void BackgroundPriority::settle() {
  if (available_ && !background_.load(std::memory_order_relaxed)) set(true);
}

void BackgroundPriority::set(bool background) {
  std::lock_guard lock(mutex_);
  if (!attached_ || background_.load(std::memory_order_relaxed) == background) return;
  if (set_policy(thread_, background ? SCHED_IDLE : SCHED_OTHER)) background_ = background;
}

}  // namespace hermes
