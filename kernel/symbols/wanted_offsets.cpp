#include "kernel/symbols/wanted_offsets.hpp"

namespace tlpstub::kernel {

const std::vector<WantedMember>& wanted_members() {
  static const std::vector<WantedMember> w = {
      {"task_struct", {"tasks"}},
      {"task_struct", {"pid"}},
      {"task_struct", {"tgid"}},
      {"task_struct", {"comm"}},
      {"task_struct", {"real_parent"}},
      {"task_struct", {"parent"}},
      {"task_struct", {"mm"}},
      {"task_struct", {"active_mm"}},
      {"task_struct", {"flags"}},
      {"task_struct", {"__state", "state"}},
      {"task_struct", {"signal"}},
      {"task_struct", {"thread_node", "thread_group"}},
      {"task_struct", {"stack"}},
      {"task_struct", {"thread.sp"}},
      {"task_struct", {"on_cpu"}},
      {"task_struct", {"thread_info.cpu", "cpu"}},
      {"mm_struct", {"pgd"}},
      {"signal_struct", {"thread_head"}},
      // printk ring buffer, 5.10+ (kernel/printk/printk_ringbuffer.h)
      {"printk_ringbuffer", {"desc_ring"}},
      {"printk_ringbuffer", {"text_data_ring"}},
      {"printk_ringbuffer", {"fail"}},
      {"prb_desc_ring", {"count_bits"}},
      {"prb_desc_ring", {"descs"}},
      {"prb_desc_ring", {"infos"}},
      {"prb_desc_ring", {"head_id"}},
      {"prb_desc_ring", {"tail_id"}},
      {"prb_data_ring", {"size_bits"}},
      {"prb_data_ring", {"data"}},
      {"prb_data_ring", {"head_lpos"}},
      {"prb_data_ring", {"tail_lpos"}},
      {"prb_desc", {"state_var"}},
      {"prb_desc", {"text_blk_lpos.begin"}},
      {"prb_desc", {"text_blk_lpos.next"}},
      {"printk_info", {"seq"}},
      {"printk_info", {"ts_nsec"}},
      {"printk_info", {"text_len"}},
      {"printk_info", {"facility"}},
      {"printk_info", {"flags"}},
      {"printk_info", {"level"}},
      {"printk_info", {"caller_id"}},
      {"printk_info", {"dev_info"}},
  };
  return w;
}

const std::vector<std::string_view>& wanted_sizes() {
  static const std::vector<std::string_view> s = {"task_struct", "mm_struct", "signal_struct",
                                                  "printk_ringbuffer", "prb_desc",
                                                  "printk_info"};
  return s;
}

std::vector<WantedResult> resolve_wanted(const TypeInfo& ti) {
  std::vector<WantedResult> out;
  for (const WantedMember& w : wanted_members()) {
    WantedResult r;
    r.struct_name = std::string(w.struct_name);
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
