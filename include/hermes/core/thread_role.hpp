#pragma once
// What a thread is for: event-loop threads are marked so blocking work (SQLite) can
// assert it never runs there; background threads are named and step aside for them.

#include <pthread.h>

#include <atomic>
#include <mutex>
#include <string_view>

namespace hermes {

void mark_this_thread_as_io();
bool this_thread_is_io();

// Names the calling thread for `top -H`, `ps -L` and perf (at most 15 characters kept).
void name_this_thread(std::string_view name);

// Scheduling for a thread that does deferred work (the audit writer) on the cores the
// event loop runs on. While it keeps up it runs SCHED_IDLE: an event-loop thread that wakes
// takes the CPU from it at once, instead of waiting in the run queue for its time slice
// (the c=1 tail). A thread in SCHED_IDLE gets almost no CPU next to a busy event loop, so
// its producers promote() it to SCHED_OTHER as soon as work piles up (the starved thread
// itself would notice too late), and it settle()s back once it has caught up.
// Leaving SCHED_IDLE needs RLIMIT_NICE ≥ 20 (systemd LimitNICE=+0) or CAP_SYS_NICE;
// without either the thread stays in SCHED_OTHER and available() is false.
class BackgroundPriority {
 public:
  BackgroundPriority();  // probes whether it is available; nothing is in the background yet
  BackgroundPriority(const BackgroundPriority&) = delete;
  BackgroundPriority& operator=(const BackgroundPriority&) = delete;

  bool available() const { return available_; }
  bool in_background() const { return background_.load(std::memory_order_relaxed); }
  // The thread to manage, which starts in the background. Until then promote() and
  // settle() do nothing.
  void attach(pthread_t thread);
  void promote();  // any thread; a system call only when it was in the background
  void settle();   // back to the background

 private:
  void set(bool background);
  bool available_ = false;
  std::atomic<bool> background_{false};
  std::mutex mutex_;  // orders the system calls with the flag, and guards thread_
  pthread_t thread_{};
  bool attached_ = false;
};

// Whether this process may move a thread out of SCHED_IDLE again (probed once, on a
// short-lived thread so no real thread can get stuck in the background; false when even
// that thread cannot be started).
bool background_priority_available();

}  // namespace hermes
