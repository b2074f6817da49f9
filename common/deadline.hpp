// A point in time by which an answer is due. gdb waits 2 s (`remotetimeout`) for each reply and
// takes a late reply as the answer to its next request (shared/facts/gdb-rsp.md), so every
// request carries a deadline from the session down to the transport, which stops reading when
// it passes and reports what it could not read (design.md: a short reply beats a late one).
#pragma once

#include <chrono>

namespace tlpstub {

using SteadyClock = std::chrono::steady_clock;
using Deadline = SteadyClock::time_point;

// No limit: start-up discovery, benchmarks, tools.
inline constexpr Deadline kNoDeadline = Deadline::max();

inline bool expired(Deadline d) { return d != kNoDeadline && SteadyClock::now() >= d; }

}  // namespace tlpstub
