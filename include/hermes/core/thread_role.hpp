#pragma once
// Marks event-loop threads so blocking work (SQLite) can assert it never runs there.

namespace hermes {

void mark_this_thread_as_io();
bool this_thread_is_io();

}  // namespace hermes
