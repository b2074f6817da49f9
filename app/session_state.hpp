// Per-connection state of one gdb session (design.md, app/): the memory mode (`monitor phys`),
// the address-space override (`monitor cr3 VALUE`), the selected task, the walker cache, and
// one snapshot of kernel state per gdb request.
//
// The snapshot is taken lazily, at the first use within a request (begin_request() starts a new
// one), so a request that needs nothing of the kernel (a physical read, `monitor stats`) never
// waits for discovery, and a request that does waits at most once, until its own deadline.
// Whatever a request asks of it afterwards (the address space, the thread list) is answered
// from the snapshot: no getter blocks twice, and thousands of tasks cost one walk per request,
// not one per packet.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "app/target_context.hpp"
#include "common/deadline.hpp"
#include "kernel/linux/tasks.hpp"
#include "kernel/page_walker.hpp"
#include "stub/target.hpp"
#include "transport/deadline_memory.hpp"

namespace tlpstub::app {

struct Snapshot {
  std::uint64_t request = 0;          // the begin_request() it belongs to
  DiscoveryStatus discovery;          // as it stood once the request stopped waiting
  std::optional<SpaceConfig> space;   // the address space this session reads, if any
  bool space_is_override = false;     // from `monitor cr3 VALUE`
};

class SessionState {
 public:
  // Builds the thread list from a snapshot (app/task_threads.hpp: one thread per task, or the
  // kernel pseudo-thread when tasks cannot be listed).
  using ThreadLister = std::function<std::vector<stub::ThreadInfo>(SessionState&)>;

  explicit SessionState(TargetContext& ctx);

  void begin_request(Deadline deadline);
  // The rest of this request reads with no deadline (a long monitor command).
  void lift_deadline() { mem_.set_deadline(kNoDeadline); }
  Deadline deadline() const { return mem_.deadline(); }
  std::uint64_t request() const { return request_; }

  // This request's snapshot, taken on first use.
  const Snapshot& snapshot();
  // Re-resolves the snapshot within this request after a command changed what it rests on
  // (`cr3 VALUE`, `cr3 discover`).
  void refresh();
  // The kernel symbols as of this request: if recovery is running, waits for it once, until
  // the request's deadline (only commands that need symbols ask).
  const SymbolsStatus& symbols();
  // Every task of the kernel as of this request (kernel/linux/tasks.hpp), walked once per
  // request: `monitor ps`, the thread list and registers share it. Needs symbols and types.
  // `frames`: with every task's thread.sp too (`bt`, thread registers), read in one more
  // batch the first time it is asked for (kernel::read_saved_sps); `listing` (ps, the thread
  // list) does without: 2 of the ~9 datagrams a task costs.
  enum class TaskDetail { listing, frames };
  const Result<kernel::TaskList>& tasks(TaskDetail detail = TaskDetail::frames);
  // The task list for thread packets (the thread list, `T`, `H`, qThreadExtraInfo, registers):
  // a walk this session made for an earlier request is reused while it is younger than
  // kThreadWalkReuse. gdb's `info threads` sends a packet or more per thread, one request each;
  // with thousands of tasks a walk per packet would take minutes over NetTLP. Commands
  // (`monitor ps`) always walk afresh.
  const Result<kernel::TaskList>& thread_tasks(TaskDetail detail = TaskDetail::listing);
  static constexpr std::chrono::milliseconds kThreadWalkReuse{500};
  std::uint64_t task_walks() const { return task_walks_; }
  // The thread list of this request, built once per request.
  const std::vector<stub::ThreadInfo>& threads();
  void set_thread_lister(ThreadLister lister) { lister_ = std::move(lister); }
  std::uint64_t thread_lists_built() const { return lists_built_; }

  bool phys_mode() const { return phys_mode_; }
  void set_phys_mode(bool on) { phys_mode_ = on; }
  const std::optional<SpaceConfig>& space_override() const { return override_; }
  void set_space_override(std::optional<SpaceConfig> sc);
  // `monitor task PID` (next issue) selects a task here; nullopt is the kernel.
  std::optional<std::int64_t> selected_task;

  // Why there is no address space: discovery running, failed, or never run (from the
  // snapshot, so it does not wait again).
  Error no_space_error(std::uint64_t addr);

  TargetContext& context() { return ctx_; }
  // The target's memory with this request's deadline.
  PhysicalMemory& memory() { return mem_; }
  kernel::PageWalker& walker_for(const SpaceConfig& sc);

 private:
  TargetContext& ctx_;
  DeadlineMemory mem_;
  std::uint64_t request_ = 0;
  std::optional<Snapshot> snapshot_;
  std::optional<SymbolsStatus> symbols_;
  std::optional<std::vector<stub::ThreadInfo>> threads_;
  // Filled in place by add_saved_sps (only thread.sp of tasks that lack it changes, so
  // references handed out stay valid).
  void add_saved_sps();
  std::shared_ptr<Result<kernel::TaskList>> tasks_;  // this request's walk
  bool tasks_reused_ = false;                                // tasks_ is last_walk_
  std::shared_ptr<Result<kernel::TaskList>> last_walk_;  // the newest successful walk
  std::chrono::steady_clock::time_point last_walk_at_{};
  std::uint64_t task_walks_ = 0;
  ThreadLister lister_;
  std::uint64_t lists_built_ = 0;
  bool phys_mode_ = false;
  std::optional<SpaceConfig> override_;
  std::unique_ptr<kernel::PageWalker> walker_;
};

}  // namespace tlpstub::app
