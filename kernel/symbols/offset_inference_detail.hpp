// Internals of offset inference (offset_inference.hpp), shared by its files:
//   offset_inference.cpp       reads, runs both methods, merges and reports
//   offset_inference_data.cpp  the data method (init_task and its neighbours)
//   offset_inference_code.cpp  the code method (capstone on small kernel functions)
//   offset_inference_printk.cpp the printk ring buffer, by data consistency
//   offset_inference_cpu.cpp   on_cpu and the task's CPU, by data consistency
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
  // The data method, when it cannot single one out: the offsets it allows (the code method's
  // answer must be one of them).
  std::vector<std::uint64_t> candidates = {};
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
  std::vector<std::uint64_t> sample_vas;           // the first tasks of the ring
  std::vector<std::vector<std::uint8_t>> sample;   // and their bytes
};

// The data method. `read` is called once per step of the tasks ring and once for the sample.
DataOutcome infer_from_data(const DataInputs& in, const VirtualReader& read);

struct CodeInputs {
  std::uint64_t task_call_func_va = 0;
  std::span<const std::uint8_t> task_call_func;
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

// Each CPU's running task: nr_cpu_ids, __per_cpu_offset, and the per-CPU offset of
// current_task (or pcpu_hot, whose first member it is).
struct CpuInputs {
  std::uint64_t nr_cpu_ids_va = 0, per_cpu_offset_va = 0, current_off = 0;
  bool current_known = false;
  std::uint64_t init_task_va = 0;
  std::span<const std::uint8_t> init_task;
  std::span<const std::uint64_t> sample_vas;
  std::span<const std::vector<std::uint8_t>> sample;
  bool cpu_in_thread_info = true;
};

// on_cpu and the task's CPU (offset_inference_cpu.cpp).
Findings infer_cpu_from_data(const CpuInputs& in, const VirtualReader& read);

// The printk ring buffer (5.10+): symbol addresses; 0 when kallsyms lacks them.
struct PrintkInputs {
  std::uint64_t prb_va = 0;                 // `prb`, the pointer to the ring in use
  std::uint64_t static_rb_va = 0;           // printk_rb_static
  std::uint64_t static_descs_va = 0, static_descs_end = 0;  // _printk_rb_static_descs and the
  std::uint64_t static_infos_va = 0, static_infos_end = 0;  // next symbol above (its span)
  std::uint64_t log_buf_va = 0;             // `log_buf` (char *), the text ring in use
  std::uint64_t log_buf_len_va = 0;         // `log_buf_len` (u32), its size
};

struct PrintkOutcome {
  Findings findings;
  Findings sizes;  // by struct name: "prb_desc", "printk_info" (array strides)
};

PrintkOutcome infer_printk(const PrintkInputs& in, const VirtualReader& read);

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
inline constexpr const char* kOnCpu = "task_struct.on_cpu";
inline constexpr const char* kPgd = "mm_struct.pgd";
inline constexpr const char* kThreadHead = "signal_struct.thread_head";
inline constexpr const char* kPkCountBits = "printk_ringbuffer.desc_ring.count_bits";
inline constexpr const char* kPkDescs = "printk_ringbuffer.desc_ring.descs";
inline constexpr const char* kPkInfos = "printk_ringbuffer.desc_ring.infos";
inline constexpr const char* kPkHeadId = "printk_ringbuffer.desc_ring.head_id";
inline constexpr const char* kPkTailId = "printk_ringbuffer.desc_ring.tail_id";
inline constexpr const char* kPkSizeBits = "printk_ringbuffer.text_data_ring.size_bits";
inline constexpr const char* kPkData = "printk_ringbuffer.text_data_ring.data";
inline constexpr const char* kPkHeadLpos = "printk_ringbuffer.text_data_ring.head_lpos";
inline constexpr const char* kPkTailLpos = "printk_ringbuffer.text_data_ring.tail_lpos";
inline constexpr const char* kPkStateVar = "prb_desc.state_var";
inline constexpr const char* kPkBegin = "prb_desc.text_blk_lpos.begin";
inline constexpr const char* kPkNext = "prb_desc.text_blk_lpos.next";
inline constexpr const char* kPkSeq = "printk_info.seq";
inline constexpr const char* kPkTsNsec = "printk_info.ts_nsec";
inline constexpr const char* kPkTextLen = "printk_info.text_len";
inline constexpr const char* kPkFacility = "printk_info.facility";
inline constexpr const char* kPkFlags = "printk_info.flags";
inline constexpr const char* kPkLevel = "printk_info.level";
inline constexpr const char* kPkCallerId = "printk_info.caller_id";
inline constexpr const char* kPrintkKeys[] = {
    kPkCountBits, kPkDescs,    kPkInfos, kPkHeadId,   kPkTailId,    kPkSizeBits, kPkData,
    kPkHeadLpos,  kPkTailLpos, kPkStateVar, kPkBegin, kPkNext,      kPkSeq,      kPkTsNsec,
    kPkTextLen,   kPkFacility, kPkFlags, kPkLevel,    kPkCallerId};
inline constexpr const char* kSizeDesc = "prb_desc";
inline constexpr const char* kSizeInfo = "printk_info";

}  // namespace tlpstub::kernel::infer
