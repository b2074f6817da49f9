#include "app/session_state.hpp"

#include "app/task_threads.hpp"

namespace tlpstub::app {

SessionState::SessionState(TargetContext& ctx)
    : ctx_(ctx), mem_(ctx.memory()), lister_(task_threads) {}

void SessionState::begin_request(Deadline deadline) {
  ++request_;
  snapshot_.reset();
  symbols_.reset();
  threads_.reset();
  tasks_.reset();
  // The target is live: page tables read for an earlier request may have changed.
  if (walker_) walker_->new_epoch();
  // Every read of this request (page walks included) stops at the reply's deadline.
  mem_.set_deadline(deadline);
}

// A request that arrives while start-up discovery runs (gdb connects at once) waits for it,
// once, until its own deadline (under gdb's 2 s `remotetimeout`): discovery usually takes
// well under a second, and then the first `x` after `target remote` just works.
const Snapshot& SessionState::snapshot() {
  if (snapshot_) return *snapshot_;
  Snapshot s;
  s.request = request_;
  s.discovery = ctx_.discovery();
  if (override_) {
    s.space = override_;
    s.space_is_override = true;
  } else {
    s.space = ctx_.kernel_space();
    if (!s.space && s.discovery.state == DiscoveryState::running) {
      s.discovery = ctx_.wait_for_discovery(mem_.deadline());
      s.space = ctx_.kernel_space();
    }
  }
  snapshot_ = std::move(s);
  return *snapshot_;
}

void SessionState::refresh() {
  snapshot_.reset();
  symbols_.reset();
  threads_.reset();
  tasks_.reset();
  last_walk_.reset();  // the kernel or address space it was walked in may have changed
}

const Result<kernel::TaskList>& SessionState::thread_tasks(TaskDetail detail) {
  if (!tasks_ && last_walk_ &&
      std::chrono::steady_clock::now() - last_walk_at_ < kThreadWalkReuse) {
    tasks_ = last_walk_;
    tasks_reused_ = true;
  }
  if (!tasks_) return tasks(detail);
  if (detail == TaskDetail::frames) add_saved_sps();
  return *tasks_;
}

void SessionState::add_saved_sps() {
  if (!tasks_ || !*tasks_) return;
  const auto& img = snapshot().discovery.image;
  const SymbolsStatus& sy = symbols();
  const TypesStatus ty = ctx_.types();
  if (!img || !sy.symbols || !ty.types) return;
  std::vector<kernel::Task*> all;
  for (kernel::Task& t : (*tasks_)->tasks)
    if (!t.has_saved_sp) all.push_back(&t);
  if (all.empty()) return;
  const kernel::SymbolTable& table = sy.symbols->table;
  kernel::read_saved_sps(
      mem_, {*ty.types, table, kernel::kernel_regions(*img, table, ctx_.memory().info().max_address)},
      all, mem_.deadline());
}

const Result<kernel::TaskList>& SessionState::tasks(TaskDetail detail) {
  if (tasks_ && !tasks_reused_) {
    if (detail == TaskDetail::frames) add_saved_sps();
    return *tasks_;
  }
  tasks_reused_ = false;
  tasks_ = std::make_shared<Result<kernel::TaskList>>([&]() -> Result<kernel::TaskList> {
    const auto& img = snapshot().discovery.image;
    if (!img) return std::unexpected(no_space_error(0));
    const SymbolsStatus& sy = symbols();
    if (sy.state != DiscoveryState::done || !sy.symbols)
      return fail(Errc::not_found, "tasks: kernel symbols not recovered" +
                                       (sy.message.empty() ? "" : ": " + sy.message));
    const TypesStatus ty = ctx_.wait_for_types(mem_.deadline());
    if (ty.state != TypesState::done || !ty.types)
      return fail(Errc::not_found, "tasks: kernel types (BTF) not recovered" +
                                       (ty.message.empty() ? "" : ": " + ty.message));
    ++task_walks_;
    const kernel::SymbolTable& table = sy.symbols->table;
    const kernel::KernelRegions regions =
        kernel::kernel_regions(*img, table, ctx_.memory().info().max_address);
    return kernel::list_tasks(mem_, {*ty.types, table, regions}, {}, mem_.deadline());
  }());
  // Only a whole list is worth reusing: a partial one (deadline, broken list) is walked again.
  if (*tasks_ && (*tasks_)->complete) {
    last_walk_ = tasks_;
    last_walk_at_ = std::chrono::steady_clock::now();
  }
  if (detail == TaskDetail::frames) add_saved_sps();
  return *tasks_;
}

void SessionState::set_space_override(std::optional<SpaceConfig> sc) {
  override_ = std::move(sc);
  refresh();
}

const SymbolsStatus& SessionState::symbols() {
  if (!symbols_) {
    snapshot();  // waits for discovery first, as any kernel request does
    SymbolsStatus st = ctx_.symbols();
    if (st.state == DiscoveryState::running) st = ctx_.wait_for_symbols(mem_.deadline());
    symbols_ = std::move(st);
  }
  return *symbols_;
}

const std::vector<stub::ThreadInfo>& SessionState::threads() {
  if (!threads_) {
    threads_ = lister_(*this);
    ++lists_built_;
  }
  return *threads_;
}

Error SessionState::no_space_error(std::uint64_t addr) {
  const DiscoveryStatus& st = snapshot().discovery;
  switch (st.state) {
    case DiscoveryState::running:
      return {Errc::busy,
              "kernel discovery is still running (" + st.message + "); try again shortly", addr};
    case DiscoveryState::failed:
      return {Errc::not_found,
              "kernel discovery failed: " + st.message +
                  "; physical reads work with 'monitor phys on', or give 'monitor cr3 VALUE'",
              addr};
    default:
      return {Errc::not_found,
              "no kernel page table known: 'monitor cr3 discover', 'monitor cr3 VALUE', or "
              "'monitor phys on' for physical reads",
              addr};
  }
}

kernel::PageWalker& SessionState::walker_for(const SpaceConfig& sc) {
  if (!walker_ || walker_->levels() != sc.levels || walker_->sme_mask() != sc.sme_mask)
    walker_ = std::make_unique<kernel::PageWalker>(mem_, sc.levels, sc.sme_mask);
  return *walker_;
}

}  // namespace tlpstub::app
