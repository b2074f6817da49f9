// Internals of offset inference (offset_inference.hpp), shared by its files:
//   offset_inference.cpp       reads, runs both methods, merges and reports
//   offset_inference_data.cpp  the data method (init_task and its neighbours)
//   offset_inference_code.cpp  the code method (capstone on small kernel functions)
// Not part of the public API.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kernel/symbols/virtual_batch.hpp"

namespace tlpstub::kernel::infer {

// What one method says about one member ("task_struct.comm"): an offset and how it was
// found, or no offset and why.
struct Finding {
  std::optional<std::uint64_t> offset;
  std::string why;
};
using Findings = std::map<std::string, Finding>;

// Reads virtual ranges in one batch (read_virtual_batch over the kernel page table).
using VirtualReader = std::function<std::vector<std::optional<std::vector<std::uint8_t>>>(
    std::span<const VirtualRead>)>;

struct DataInputs {
  std::uint64_t init_task_va = 0;
  std::span<const std::uint8_t> init_task;  // its first bytes (up to the next symbol)
  std::uint64_t init_signals_va = 0;        // 0: unknown
  std::span<const std::uint8_t> init_signals;
  std::uint64_t init_mm_va = 0;
  std::span<const std::uint8_t> init_mm;
  std::uint64_t init_stack_va = 0;          // 0: unknown
  std::uint64_t init_stack_end = 0;         // __end_init_task, else init_stack + 16 KiB
  std::uint64_t top_pgt_va = 0;             // init_top_pgt
  bool state_is_u32 = true;                 // 5.14+: unsigned int __state
};

struct DataOutcome {
  Findings findings;
  std::size_t tasks_seen = 0;
};

// The data method. `read` is called once per step of the tasks ring and once for the sample.
DataOutcome infer_from_data(const DataInputs& in, const VirtualReader& read);

struct CodeInputs {
  std::uint64_t switch_to_asm_va = 0;  // 0: unknown
  std::span<const std::uint8_t> switch_to_asm;
  std::uint64_t get_task_mm_va = 0;
  std::span<const std::uint8_t> get_task_mm;
  std::uint64_t kick_process_va = 0;
  std::span<const std::uint8_t> kick_process;
  bool cpu_in_thread_info = true;      // 5.16+
};

// The code method.
Findings infer_from_code(const CodeInputs& in);

// Member keys, shared so both methods spell them alike.
inline constexpr const char* kTasks = "task_struct.tasks";
inline constexpr const char* kPid = "task_struct.pid";
inline constexpr const char* kTgid = "task_struct.tgid";
inline constexpr const char* kComm = "task_struct.comm";
inline constexpr const char* kRealParent = "task_struct.real_parent";
inline constexpr const char* kParent = "task_struct.parent";
inline constexpr const char* kMm = "task_struct.mm";
inline constexpr const char* kActiveMm = "task_struct.active_mm";
inline constexpr const char* kFlags = "task_struct.flags";
inline constexpr const char* kState = "task_struct.__state";       // or .state before 5.14
inline constexpr const char* kStateOld = "task_struct.state";
inline constexpr const char* kSignal = "task_struct.signal";
inline constexpr const char* kThreadNode = "task_struct.thread_node";
inline constexpr const char* kStack = "task_struct.stack";
inline constexpr const char* kThreadSp = "task_struct.thread.sp";
inline constexpr const char* kCpu = "task_struct.thread_info.cpu";  // or .cpu before 5.16
inline constexpr const char* kCpuOld = "task_struct.cpu";
inline constexpr const char* kPgd = "mm_struct.pgd";
inline constexpr const char* kThreadHead = "signal_struct.thread_head";

}  // namespace tlpstub::kernel::infer
