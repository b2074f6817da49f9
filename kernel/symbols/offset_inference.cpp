#include "kernel/symbols/offset_inference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "kernel/page_walker.hpp"
#include "kernel/symbols/offset_inference_detail.hpp"
#include "kernel/symbols/wanted_offsets.hpp"
#include "transport/counting_memory.hpp"

namespace tlpstub::kernel {

namespace {

using namespace infer;

// Bytes read from the image per object at most, and at least when the next symbol is closer
// (an alias inside the object): task_struct is 6-10 KiB on 6.x (thread.sp at 5400 on 6.12).
constexpr std::uint64_t kInitTaskWindow = 16 << 10;
constexpr std::uint64_t kSmallWindow = 2 << 10;
constexpr std::uint64_t kFunctionWindow = 256;
// THREAD_SIZE without KASAN (arch/x86/include/asm/page_64_types.h): 16 KiB.
constexpr std::uint64_t kThreadSize = 16 << 10;

struct InferMemberMeta {
  const char* key;
  const char* struct_name;
  const char* path;
  std::uint64_t size;
  const char* type_name;
  std::uint32_t bit_shift = 0, bit_size = 0;  // bitfields: bits from the byte's start, width
};

// What each inferred member is (sizes and types from sched.h / mm_types.h).
constexpr InferMemberMeta kInferMeta[] = {
    {kTasks, "task_struct", "tasks", 16, "struct list_head"},
    {kPid, "task_struct", "pid", 4, "pid_t"},
    {kTgid, "task_struct", "tgid", 4, "pid_t"},
    {kComm, "task_struct", "comm", 16, "char[16]"},
    {kRealParent, "task_struct", "real_parent", 8, "struct task_struct *"},
    {kParent, "task_struct", "parent", 8, "struct task_struct *"},
    {kMm, "task_struct", "mm", 8, "struct mm_struct *"},
    {kActiveMm, "task_struct", "active_mm", 8, "struct mm_struct *"},
    {kFlags, "task_struct", "flags", 4, "unsigned int"},
    {kState, "task_struct", "__state", 4, "unsigned int"},
    {kStateOld, "task_struct", "state", 8, "long int"},
    {kSignal, "task_struct", "signal", 8, "struct signal_struct *"},
    {kThreadNode, "task_struct", "thread_node", 16, "struct list_head"},
    {kStack, "task_struct", "stack", 8, "void *"},
    {kThreadSp, "task_struct", "thread.sp", 8, "long unsigned int"},
    {kCpu, "task_struct", "thread_info.cpu", 4, "u32"},
    {kCpuOld, "task_struct", "cpu", 4, "unsigned int"},
    {kOnCpu, "task_struct", "on_cpu", 4, "int"},
    {kPgd, "mm_struct", "pgd", 8, "pgd_t *"},
    {kThreadHead, "signal_struct", "thread_head", 16, "struct list_head"},
    // kernel/printk/printk_ringbuffer.h (5.11-6.12)
    {kPkCountBits, "printk_ringbuffer", "desc_ring.count_bits", 4, "unsigned int"},
    {kPkDescs, "printk_ringbuffer", "desc_ring.descs", 8, "struct prb_desc *"},
    {kPkInfos, "printk_ringbuffer", "desc_ring.infos", 8, "struct printk_info *"},
    {kPkHeadId, "printk_ringbuffer", "desc_ring.head_id", 8, "atomic_long_t"},
    {kPkTailId, "printk_ringbuffer", "desc_ring.tail_id", 8, "atomic_long_t"},
    {kPkSizeBits, "printk_ringbuffer", "text_data_ring.size_bits", 4, "unsigned int"},
    {kPkData, "printk_ringbuffer", "text_data_ring.data", 8, "char *"},
    {kPkHeadLpos, "printk_ringbuffer", "text_data_ring.head_lpos", 8, "atomic_long_t"},
    {kPkTailLpos, "printk_ringbuffer", "text_data_ring.tail_lpos", 8, "atomic_long_t"},
    {kPkStateVar, "prb_desc", "state_var", 8, "atomic_long_t"},
    {kPkBegin, "prb_desc", "text_blk_lpos.begin", 8, "long unsigned int"},
    {kPkNext, "prb_desc", "text_blk_lpos.next", 8, "long unsigned int"},
    {kPkSeq, "printk_info", "seq", 8, "u64"},
    {kPkTsNsec, "printk_info", "ts_nsec", 8, "u64"},
    {kPkTextLen, "printk_info", "text_len", 2, "u16"},
    {kPkFacility, "printk_info", "facility", 1, "u8"},
    {kPkFlags, "printk_info", "flags", 1, "u8", 0, 5},
    {kPkLevel, "printk_info", "level", 1, "u8", 5, 3},
    {kPkCallerId, "printk_info", "caller_id", 4, "u32"},
};

const Symbol* infer_symbol(const SymbolTable& t, std::string_view name) {
  return t.find_address(name);
}

// Bytes from `va` to the next symbol above it, capped at `cap`; `cap` when the next symbol is
// closer than `floor` (an alias or a label inside the object).
std::uint64_t infer_window_to_next(const SymbolTable& t, std::uint64_t va, std::uint64_t cap,
                             std::uint64_t floor) {
  std::uint64_t next = ~0ull;
  for (const Symbol& s : t.symbols())
    if (!s.percpu && s.address > va && s.address < next) next = s.address;
  if (next == ~0ull || next - va < floor) return cap;
  return std::min(cap, next - va);
}

std::pair<int, int> infer_release_version(const std::string& release) {
  int major = 0, minor = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &major, &minor) != 2) return {0, 0};
  return {major, minor};
}

}  // namespace

std::string InferredMember::source() const {
  if (data && code) return "inference (data+code agree)";
  if (code && data_consistent) return "inference (code; data allows it)";
  return data ? "inference (data)" : "inference (code)";
}

std::size_t InferenceReport::found_count() const {
  return std::count_if(members.begin(), members.end(),
                       [](const InferredMember& m) { return m.found(); });
}

Result<InferenceReport> infer_offsets(PhysicalMemory& memory, const KernelImage& img,
                                      const SymbolTable& symbols) {
  const auto t0 = std::chrono::steady_clock::now();
  CountingMemory mem(memory);
  InferenceReport rep;
  const Symbol* init_task = infer_symbol(symbols, "init_task");
  if (!init_task)
    return std::unexpected(Error{Errc::not_found, "offset inference: no init_task symbol", 0});

  // Objects and functions in the image, read in one physical batch (the image is physically
  // contiguous: image_pa, no page walk).
  struct ImageObject {
    const char* name;
    std::uint64_t cap, floor;
    const Symbol* sym = nullptr;
    std::vector<std::uint8_t> bytes;
  };
  ImageObject objs[] = {{"init_task", kInitTaskWindow, 4096, nullptr, {}},
                        {"init_signals", kSmallWindow, 64, nullptr, {}},
                        {"init_mm", kSmallWindow, 256, nullptr, {}},
                        {"__switch_to_asm", kFunctionWindow, 16, nullptr, {}},
                        {"get_task_mm", kFunctionWindow, 16, nullptr, {}},
                        {"kick_process", kFunctionWindow, 16, nullptr, {}},
                        {"task_call_func", kFunctionWindow, 16, nullptr, {}}};
  std::vector<ReadRange> ranges;
  for (ImageObject& o : objs) {
    o.sym = infer_symbol(symbols, o.name);
    if (!o.sym) {
      rep.notes.push_back(fmt::format("no symbol {}", o.name));
      continue;
    }
    o.bytes.resize(infer_window_to_next(symbols, o.sym->address, o.cap, o.floor));
    ranges.push_back({PhysAddr(img.image_pa(o.sym->address)), o.bytes});
  }
  std::vector<ReadStatus> st(ranges.size());
  mem.read(ranges, st);
  for (std::size_t i = 0, k = 0; i < std::size(objs); ++i) {
    if (!objs[i].sym) continue;
    if (!st[k++]) {
      rep.notes.push_back(fmt::format("{} unreadable", objs[i].name));
      objs[i].bytes.clear();
    }
  }
  if (objs[0].bytes.empty())
    return std::unexpected(Error{Errc::unbacked, "offset inference: init_task unreadable",
                                 init_task->address});

  const auto [major, minor] = infer_release_version(img.release);
  DataInputs din;
  din.init_task_va = init_task->address;
  din.init_task = objs[0].bytes;
  if (objs[1].sym) din.init_signals_va = objs[1].sym->address, din.init_signals = objs[1].bytes;
  if (objs[2].sym) din.init_mm_va = objs[2].sym->address, din.init_mm = objs[2].bytes;
  if (const Symbol* s = infer_symbol(symbols, "init_stack")) {
    din.init_stack_va = s->address;
    const Symbol* e = infer_symbol(symbols, "__end_init_task");
    din.init_stack_end = e && e->address > s->address && e->address - s->address <= 2 * kThreadSize
                             ? e->address
                             : s->address + kThreadSize;
  }
  din.top_pgt_va = img.top_va;
  if (const Symbol* s = infer_symbol(symbols, "init_top_pgt"); s && !din.top_pgt_va)
    din.top_pgt_va = s->address;
  // __state (unsigned int) replaced state (long) in 5.14 (commit 2f064a59a11f).
  din.state_is_u32 = major == 0 || major > 5 || (major == 5 && minor >= 14);

  PageWalker walker(mem, img.levels, img.sme_mask);
  const VirtualReader reader = [&](std::span<const VirtualRead> r) {
    return read_virtual_batch(mem, walker, img.top, r);
  };
  DataOutcome data = infer_from_data(din, reader);
  rep.tasks_seen = data.tasks_seen;

  auto addr = [&](const char* n) -> std::uint64_t {
    const Symbol* s = infer_symbol(symbols, n);
    return s ? s->address : 0;
  };
  // on_cpu and the task's CPU, from each CPU's running task.
  CpuInputs cpu_in;
  cpu_in.nr_cpu_ids_va = addr("nr_cpu_ids");
  cpu_in.per_cpu_offset_va = addr("__per_cpu_offset");
  // Per-CPU symbols: current_task (up to 6.1), pcpu_hot.current_task (6.2+, offset 0).
  for (const char* n : {"current_task", "pcpu_hot"}) {
    const auto found = symbols.find(n);
    if (!cpu_in.current_known && !found.empty()) {
      cpu_in.current_off = found.front()->address;
      cpu_in.current_known = true;
    }
  }
  cpu_in.init_task_va = init_task->address;
  cpu_in.init_task = objs[0].bytes;
  cpu_in.sample_vas = data.sample_vas;
  cpu_in.sample = data.sample;
  // task_struct.cpu moved into thread_info in 5.16 (commit bcf9033e5449).
  cpu_in.cpu_in_thread_info = major == 0 || major > 5 || (major == 5 && minor >= 16);
  for (auto& [key, f] : infer_cpu_from_data(cpu_in, reader)) data.findings[key] = std::move(f);

  // The printk ring buffer (5.10+: `prb`).
  PrintkInputs pin;
  auto end_of = [&](std::uint64_t va) -> std::uint64_t {  // the next symbol above, or 0
    const std::uint64_t w = va ? infer_window_to_next(symbols, va, 1ull << 30, 1) : 0;
    return w && w < (1ull << 30) ? va + w : 0;
  };
  pin.prb_va = addr("prb");
  pin.static_rb_va = addr("printk_rb_static");
  pin.static_descs_va = addr("_printk_rb_static_descs");
  pin.static_descs_end = end_of(pin.static_descs_va);
  pin.static_infos_va = addr("_printk_rb_static_infos");
  pin.static_infos_end = end_of(pin.static_infos_va);
  pin.log_buf_va = addr("log_buf");
  pin.log_buf_len_va = addr("log_buf_len");
  PrintkOutcome printk;
  if (pin.prb_va)
    printk = infer_printk(pin, reader);
  else
    for (const char* k : kPrintkKeys)
      printk.findings[k] = Finding{std::nullopt, "no `prb` symbol (a kernel before 5.10)"};
  for (const auto& [key, f] : printk.findings) data.findings[key] = f;
  for (const auto& [name, f] : printk.sizes) {
    if (f.offset)
      rep.sizes.push_back({name, *f.offset, "inference (data)", f.why});
    else
      rep.notes.push_back(fmt::format("sizeof({}) not inferred: {}", name, f.why));
  }

  CodeInputs cin;
  if (objs[3].sym) cin.switch_to_asm_va = objs[3].sym->address, cin.switch_to_asm = objs[3].bytes;
  if (objs[4].sym) cin.get_task_mm_va = objs[4].sym->address, cin.get_task_mm = objs[4].bytes;
  if (objs[5].sym) cin.kick_process_va = objs[5].sym->address, cin.kick_process = objs[5].bytes;
  if (objs[6].sym)
    cin.task_call_func_va = objs[6].sym->address, cin.task_call_func = objs[6].bytes;
  // task_struct.cpu moved into thread_info in 5.16 (commit bcf9033e5449).
  cin.cpu_in_thread_info = major == 0 || major > 5 || (major == 5 && minor >= 16);
  Findings code = infer_from_code(cin);

  for (const InferMemberMeta& m : kInferMeta) {
    auto d = data.findings.find(m.key);
    auto c = code.find(m.key);
    const bool has_d = d != data.findings.end(), has_c = c != code.end();
    if (!has_d && !has_c) continue;  // not this kernel's alternative
    InferredMember im{m.struct_name, m.path, m.size, m.type_name, {}, {}, {}, {}, m.bit_shift,
                      m.bit_size};
    std::vector<std::string> why;
    if (has_d) {
      im.data = d->second.offset;
      why.push_back("data: " + d->second.why);
    }
    if (has_c) {
      im.code = c->second.offset;
      why.push_back("code: " + c->second.why);
    }
    for (const std::string& w : why) im.evidence += (im.evidence.empty() ? "" : "; ") + w;
    if (im.data && im.code && *im.data != *im.code)
      im.conflict = fmt::format("data says {}, code says {}", *im.data, *im.code);
    // The data allowed several offsets: the code's must be one of them.
    if (has_d && !im.data && im.code && !d->second.candidates.empty()) {
      const auto& c = d->second.candidates;
      if (std::find(c.begin(), c.end(), *im.code) != c.end())
        im.data_consistent = true;
      else
        im.conflict = fmt::format("code says {}, which the data rules out", *im.code);
    }
    if (im.found() || !im.conflict.empty())
      rep.members.push_back(std::move(im));
    else
      rep.missing.push_back({m.struct_name, m.path, "inference: " + im.evidence});
  }
  // Wanted members no method looks for.
  for (const WantedMember& w : wanted_members()) {
    bool known = false;
    for (std::string_view p : w.paths)
      for (const InferMemberMeta& m : kInferMeta)
        known = known || (m.struct_name == w.struct_name && m.path == p);
    if (!known)
      rep.missing.push_back({std::string(w.struct_name), std::string(w.paths[0]),
                             "no inference method for it"});
  }
  const MemoryCounters cnt = mem.counters();
  rep.cost = {cnt.ranges, cnt.bytes,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
  return rep;
}

void add_inferred(const InferenceReport& r, TypeInfo& ti) {
  for (const InferredSize& s : r.sizes) ti.add_size(s.struct_name, s.size, s.source);
  for (const InferenceMissing& m : r.missing) ti.add_missing(m.struct_name, m.path, m.why);
  for (const InferredMember& m : r.members) {
    if (!m.found()) {
      ti.add_missing(m.struct_name, m.path, "inference: methods disagree: " + m.conflict);
      continue;
    }
    FieldInfo f;
    f.offset = m.offset();
    f.size = m.size;
    f.bit_offset = f.offset * 8 + m.bit_shift;
    f.bit_size = m.bit_size;
    f.type_name = m.type_name;
    f.source = m.source();
    ti.add_member(m.struct_name, m.path, std::move(f));
  }
}

}  // namespace tlpstub::kernel
