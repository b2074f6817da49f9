#include "kernel/symbols/wanted_offsets.hpp"

namespace tlpstub::kernel {

const std::vector<WantedMember>& wanted_members() {
  // Views: kernel/linux/task_layout.cpp (tasks, threads, registers of sleeping tasks),
  // printk.cpp and printk_read.cpp (dmesg), orc.cpp (bt), kconfig_harvest.cpp (kconfig without
  // IKCONFIG), kernel/symbols/modules.cpp (module symbols).
  static const std::vector<WantedMember> w = {
      {"task_struct", {"tasks"}, "tasks"},
      {"task_struct", {"pid"}, "tasks"},
      {"task_struct", {"tgid"}, "tasks"},
      {"task_struct", {"comm"}, "tasks"},
      {"task_struct", {"real_parent"}, "tasks"},
      {"task_struct", {"parent"}, "tasks (gdb scripts)"},
      {"task_struct", {"mm"}, "tasks"},
      {"task_struct", {"active_mm"}, "tasks (gdb scripts)"},
      {"task_struct", {"flags"}, "tasks"},
      {"task_struct", {"__state", "state"}, "tasks"},
      {"task_struct", {"exit_state"}, "tasks"},
      {"task_struct", {"signal"}, "tasks"},
      {"task_struct", {"thread_node", "thread_group"}, "tasks"},
      {"task_struct", {"pid_links"}, "tasks"},
      {"task_struct", {"stack"}, "tasks, bt"},
      {"task_struct", {"thread.sp"}, "tasks, registers"},
      {"task_struct", {"on_cpu"}, "tasks"},
      {"task_struct", {"thread_info.cpu", "cpu"}, "tasks"},
      {"list_head", {"next"}, "tasks"},
      {"list_head", {"prev"}, "tasks"},
      {"hlist_node", {"pprev"}, "tasks"},
      {"pid", {"level"}, "tasks"},
      {"pid", {"tasks"}, "tasks"},
      {"pid", {"numbers"}, "tasks"},
      {"upid", {"nr"}, "tasks"},
      // The pid IDR (an xarray since 4.20, include/linux/xarray.h).
      {"pid_namespace", {"idr.idr_rt.xa_head"}, "tasks", "4.20+"},
      {"pid_namespace", {"idr.idr_base"}, "tasks", "4.20+"},
      {"xa_node", {"shift"}, "tasks", "4.20+"},
      {"xa_node", {"offset"}, "tasks", "4.20+"},
      {"xa_node", {"count"}, "tasks", "4.20+"},
      {"xa_node", {"parent"}, "tasks", "4.20+"},
      {"xa_node", {"slots"}, "tasks", "4.20+"},
      {"mm_struct", {"pgd"}, "tasks, monitor task"},
      {"signal_struct", {"thread_head"}, "tasks"},
      {"rq", {"idle"}, "tasks"},
      {"rq", {"curr"}, "tasks"},
      // arch/x86/include/asm/switch_to.h: the frame __switch_to_asm leaves on a sleeping task's
      // stack.
      {"inactive_task_frame", {"r15"}, "registers"},
      {"inactive_task_frame", {"r14"}, "registers"},
      {"inactive_task_frame", {"r13"}, "registers"},
      {"inactive_task_frame", {"r12"}, "registers"},
      {"inactive_task_frame", {"bx"}, "registers"},
      {"inactive_task_frame", {"bp"}, "registers"},
      {"inactive_task_frame", {"ret_addr"}, "registers"},
      // printk ring buffer, 5.10+ (kernel/printk/printk_ringbuffer.h)
      {"printk_ringbuffer", {"desc_ring.count_bits"}, "dmesg", "5.10+"},
      {"printk_ringbuffer", {"desc_ring.descs"}, "dmesg", "5.10+"},
      {"printk_ringbuffer", {"desc_ring.infos"}, "dmesg", "5.10+"},
      {"printk_ringbuffer", {"desc_ring.head_id"}, "dmesg", "5.10+"},
      {"printk_ringbuffer", {"desc_ring.tail_id"}, "dmesg", "5.10+"},
      {"printk_ringbuffer", {"text_data_ring.size_bits"}, "dmesg", "5.10+"},
      {"printk_ringbuffer", {"text_data_ring.data"}, "dmesg", "5.10+"},
      {"printk_ringbuffer", {"text_data_ring.head_lpos"}, "dmesg", "5.10+"},
      {"printk_ringbuffer", {"text_data_ring.tail_lpos"}, "dmesg", "5.10+"},
      {"prb_desc", {"state_var"}, "dmesg", "5.10+"},
      {"prb_desc", {"text_blk_lpos.begin"}, "dmesg", "5.10+"},
      {"prb_desc", {"text_blk_lpos.next"}, "dmesg", "5.10+"},
      {"printk_info", {"seq"}, "dmesg", "5.10+"},
      {"printk_info", {"ts_nsec"}, "dmesg", "5.10+"},
      {"printk_info", {"text_len"}, "dmesg", "5.10+"},
      {"printk_info", {"facility"}, "dmesg", "5.10+"},
      {"printk_info", {"flags"}, "dmesg", "5.10+"},
      {"printk_info", {"level"}, "dmesg", "5.10+"},
      {"printk_info", {"caller_id"}, "dmesg", "5.10+"},
      // The log_buf records before 5.10 (kernel/printk/printk.c).
      {"printk_log", {"len"}, "dmesg", "before 5.10"},
      {"printk_log", {"text_len"}, "dmesg", "before 5.10"},
      {"printk_log", {"dict_len"}, "dmesg", "before 5.10"},
      {"printk_log", {"facility"}, "dmesg", "before 5.10"},
      {"printk_log", {"level"}, "dmesg", "before 5.10"},
      {"printk_log", {"caller_id"}, "dmesg", "before 5.10"},
      // include/linux/module.h: mem[] since 6.4 (commit ac3b43283923), core/init_layout before.
      {"module", {"list"}, "modules"},
      {"module", {"name"}, "modules"},
      {"module", {"state"}, "modules"},
      {"module", {"kallsyms"}, "modules"},
      {"module", {"mem"}, "modules", "6.4+"},
      {"module_memory", {"base"}, "modules", "6.4+"},
      {"module_memory", {"size"}, "modules", "6.4+"},
      {"module", {"core_layout.base"}, "modules", "before 6.4"},
      {"module", {"core_layout.size"}, "modules", "before 6.4"},
      {"module", {"init_layout.base"}, "modules", "before 6.4"},
      {"module", {"init_layout.size"}, "modules", "before 6.4"},
      {"mod_kallsyms", {"symtab"}, "modules"},
      {"mod_kallsyms", {"num_symtab"}, "modules"},
      {"mod_kallsyms", {"strtab"}, "modules"},
      {"mod_kallsyms", {"typetab"}, "modules", "5.0+"},
      // CONFIG_DEBUG_INFO_BTF_MODULES (kernel/bpf/btf.c): modules' own types, for monitor type
      // (kernel/symbols/module_btf.hpp).
      {"btf_module", {"list"}, "module types", "5.11+"},
      {"btf_module", {"module"}, "module types", "5.11+"},
      {"btf_module", {"btf"}, "module types", "5.11+"},
      {"btf", {"data"}, "module types", "5.11+"},
      {"btf", {"data_size"}, "module types", "5.11+"},
      // arch/x86/include/asm/orc_types.h: bitfields of the flags u16 (signal: 6.3+; end: 4.18
      // to 6.3).
      {"orc_entry", {"sp_reg"}, "bt"},
      {"orc_entry", {"type"}, "bt"},
      {"orc_entry", {"signal"}, "bt", "6.3+"},
      {"orc_entry", {"end"}, "bt", "4.18 to 6.3"},
      {"page", {"mapping"}, "kconfig (page cache)"},
      {"page", {"index"}, "kconfig (page cache)"},
      // dump --level (kernel/linux/page_classes.cpp), when VMCOREINFO lacks OFFSET(page.*).
      {"page", {"flags"}, "dump --level"},
      {"page", {"_mapcount"}, "dump --level"},
      {"page", {"private"}, "dump --level"},
      {"page", {"compound_head"}, "dump --level"},
  };
  return w;
}

const std::vector<std::string_view>& wanted_sizes() {
  static const std::vector<std::string_view> s = {
      "task_struct",   "mm_struct",  "signal_struct", "printk_ringbuffer", "prb_desc",
      "printk_info",   "printk_log", "module_memory", "page"};
  return s;
}

std::vector<WantedResult> resolve_wanted(const TypeInfo& ti) {
  std::vector<WantedResult> out;
  for (const WantedMember& w : wanted_members()) {
    WantedResult r;
    r.struct_name = std::string(w.struct_name);
    r.user = std::string(w.user);
    r.when = std::string(w.when);
    for (std::string_view p : w.paths) r.wanted += (r.wanted.empty() ? "" : "|") + std::string(p);
    for (std::string_view p : w.paths) {
      auto f = ti.member(w.struct_name, p);
      if (f) {
        r.path = std::string(p);
        r.field = std::move(*f);
        break;
      }
      if (r.why_missing.empty()) r.why_missing = f.error().message;
    }
    if (r.field) r.why_missing.clear();
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<WantedSize> resolve_sizes(const TypeInfo& ti) {
  std::vector<WantedSize> out;
  for (std::string_view s : wanted_sizes()) {
    auto n = ti.struct_size(s);
    out.push_back({std::string(s), n ? std::optional(*n) : std::nullopt,
                   n ? ti.size_source(s) : std::string()});
  }
  return out;
}

}  // namespace tlpstub::kernel
