// Structure offsets without BTF (design.md, discovery step 4; issue 8): the members the Linux
// views use (wanted_offsets.hpp), inferred from memory by two independent methods.
//
//  data  facts about init_task and its neighbours that hold on every kernel since 3.14
//        (facts/linux.md section 7; include/linux/sched.h, init/init_task.c at 6.1 and 6.12):
//        comm is "swapper/0"; real_parent and parent are adjacent and point to init_task;
//        stack == init_stack; signal == &init_signals; init_signals.thread_head and
//        init_task.thread_node link to each other (the one thread of swapper); tasks is the
//        list_head whose ring closes through tasks whose comm is text, the first being pid 1
//        whose real_parent is init_task; pid/tgid are the adjacent u32 pair that is 0/0 in
//        init_task and equal, distinct and 1 first across leaders; mm/active_mm the pair that is
//        NULL/set in init_task and equal in user processes; flags the u32 whose PF_KTHREAD bit
//        is set exactly in tasks without mm; init_mm.pgd == init_top_pgt; thread.sp the one
//        pointer into init_task's stack.
//        on_cpu and the task's CPU from the task each CPU runs (offset_inference_cpu.cpp);
//        the printk ring buffer (printk_ringbuffer, prb_desc, printk_info and the sizes of
//        the last two) from its own records (offset_inference_printk.cpp).
//  code  small kernel functions found through kallsyms whose instructions load a field at a
//        fixed displacement from their task argument (capstone): __switch_to_asm saves and
//        loads thread.sp; get_task_mm reads mm and tests PF_KTHREAD in flags; kick_process
//        reads task_cpu(p); task_call_func spins on p->on_cpu.
//
// When the data allows several offsets (on an idle machine on_rq looks like on_cpu), it says
// which; the code's answer is then used only when it is one of them ("code; data allows it").
//
// Every candidate must be the only one; when a method finds none or several, that method has
// no answer. When both methods answer and disagree the member is missing (a conflict), never
// one of the two. Reads: a few large ones (init_task, init_mm, init_signals and the functions
// in one physical batch from the image), then one batch per step of the tasks ring.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "kernel/kernel_image.hpp"
#include "kernel/symbols/symbol_table.hpp"
#include "kernel/symbols/type_info.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

struct InferredMember {
  std::string struct_name, path;  // "task_struct", "thread.sp"
  std::uint64_t size = 0;         // bytes of the member (from its role: a pointer is 8)
  std::string type_name;          // "struct list_head", "char[16]"
  std::optional<std::uint64_t> data, code;  // what each method found
  std::string evidence;           // how, in a few words
  std::string conflict;           // set when the methods disagree: then the member is missing
  std::uint32_t bit_shift = 0, bit_size = 0;  // bitfields (printk_info.flags/level)
  bool data_consistent = false;   // no data answer alone, but the code's is among its candidates

  bool found() const { return conflict.empty() && (data || code); }
  std::uint64_t offset() const { return data ? *data : *code; }
  // "inference (data)", "inference (code)", "inference (data+code agree)", "inference (code;
  // data allows it)".
  std::string source() const;
};

// A struct size inference found (an array's stride: prb_desc, printk_info).
struct InferredSize {
  std::string struct_name;
  std::uint64_t size = 0;
  std::string source, evidence;
};

struct InferenceMissing {
  std::string struct_name, path, why;
};

struct InferenceReport {
  std::vector<InferredMember> members;  // found and conflicting
  // Wanted members no method found, and why.
  std::vector<InferenceMissing> missing;
  std::vector<InferredSize> sizes;
  std::size_t tasks_seen = 0;           // tasks on the ring (init_task included)
  DiscoveryCost cost;
  std::vector<std::string> notes;

  std::size_t found_count() const;
};

// Infers what it can. Fails only when nothing can be started (no init_task symbol, its bytes
// unreadable); otherwise unknown members are listed in `missing` with the reason.
Result<InferenceReport> infer_offsets(PhysicalMemory& mem, const KernelImage& img,
                                      const SymbolTable& symbols);

// Adds every found member to `ti` (source() as its source), and why the others are missing.
void add_inferred(const InferenceReport& r, TypeInfo& ti);

}  // namespace tlpstub::kernel
