// monitor info: what discovery found (kernel, KASLR, page table, region bases), where, by
// which method, how it was confirmed, what it cost, and the gdb command that loads a vmlinux
// at the right addresses. The text lines are scraped by qemu-test and gdbinit: keep them.
#include <fmt/format.h>

#include "app/commands/commands.hpp"

namespace tlpstub::app::commands {

namespace {

struct InfoRow {
  std::string memory;
  std::optional<SpaceConfig> space;
  bool space_is_override = false;
  DiscoveryStatus discovery;
  TypesStatus types;
  SymbolsStatus symbols;
};

std::string_view types_state_name(TypesState s) {
  switch (s) {
    case TypesState::not_run: return "not_run";
    case TypesState::running: return "running";
    case TypesState::done: return "done";
    case TypesState::failed: return "failed";
  }
  return "?";
}

std::string types_source_text(const TypesStatus& t);

// The --profile added over BTF or inference, if any.
std::string profile_text(const TypesStatus& t) {
  if (!t.profile) return "";
  return fmt::format("  profile {}: {} members, {} struct sizes override BTF and inference{}\n",
                     t.profile->path, t.profile->members, t.profile->sizes,
                     t.profile->note.empty() ? "" : " (" + t.profile->note + ")");
}

std::string types_text(const TypesStatus& t) {
  if (t.state == TypesState::done) return types_source_text(t) + profile_text(t);
  return types_source_text(t);
}

void profile_json(JsonWriter& j, const TypesStatus& t) {
  j.key("profile");
  if (!t.profile) {
    j.null();
    return;
  }
  j.begin_object()
      .field("path", t.profile->path)
      .field("members", t.profile->members)
      .field("sizes", t.profile->sizes)
      .field("note", t.profile->note)
      .end_object();
}

std::string types_source_text(const TypesStatus& t) {
  switch (t.state) {
    case TypesState::not_run: return "types: not recovered\n";
    case TypesState::running: return "types: recovering BTF...\n";
    case TypesState::failed: return "types: failed: " + t.message + "\n";
    case TypesState::done: break;
  }
  if (t.inference) {
    const kernel::InferenceReport& r = *t.inference;
    std::size_t both = 0;
    for (const kernel::InferredMember& m : r.members) both += m.found() && m.data && m.code;
    return fmt::format("types: offsets inferred from memory (no BTF: {})\n  {} members found ({} "
                       "confirmed by data and code), {} missing, {} tasks on the ring, in {:.3f} "
                       "s, {} reads, {} bytes\n  (monitor offsets lists each with its method)\n",
                       t.btf_error, r.found_count(), both, r.missing.size(), r.tasks_seen,
                       r.cost.seconds, r.cost.reads, r.cost.bytes);
  }
  if (!t.btf) return "types: done\n";
  const kernel::BtfFound& b = *t.btf;
  return fmt::format("types: BTF at {:#x} (physical {:#x}), {} bytes, {} types\n  located by: {} "
                     "in {:.3f} s, {} reads, {} bytes\n",
                     b.va, b.pa, b.size, b.btf->type_count(), b.how, b.cost.seconds,
                     b.cost.reads, b.cost.bytes);
}

void types_json(JsonWriter& j, const TypesStatus& t) {
  j.key("types").begin_object().field("state", types_state_name(t.state));
  profile_json(j, t);
  if (t.state == TypesState::done && t.inference) {
    const kernel::InferenceReport& r = *t.inference;
    j.field("source", "inference")
        .field("btf_error", t.btf_error)
        .field("found", r.found_count())
        .field("missing", r.missing.size())
        .field("tasks", r.tasks_seen)
        .field("seconds", r.cost.seconds)
        .field("reads", r.cost.reads)
        .field("bytes", r.cost.bytes)
        .end_object();
    return;
  }
  if (t.state != TypesState::done || !t.btf) {
    j.field("message", t.message).end_object();
    return;
  }
  const kernel::BtfFound& b = *t.btf;
  j.field("source", "BTF")
      .hex_field("btf", b.va)
      .hex_field("btf_phys", b.pa)
      .field("size", b.size)
      .field("type_count", b.btf->type_count())
      .field("how", b.how)
      .field("seconds", b.cost.seconds)
      .field("reads", b.cost.reads)
      .field("bytes", b.cost.bytes)
      .end_object();
}

std::string_view state_name(DiscoveryState s) {
  switch (s) {
    case DiscoveryState::not_run: return "not_run";
    case DiscoveryState::running: return "running";
    case DiscoveryState::done: return "done";
    case DiscoveryState::failed: return "failed";
  }
  return "?";
}

std::string symbols_text(const SymbolsStatus& st) {
  switch (st.state) {
    case DiscoveryState::not_run: return "";
    case DiscoveryState::running: return "kallsyms: recovering\n";
    case DiscoveryState::failed: return "kallsyms: failed: " + st.message + "\n";
    case DiscoveryState::done: break;
  }
  const kernel::KallsymsReport& k = st.symbols->report;
  std::string s = fmt::format("kallsyms: {} symbols ({} per-CPU) found by {} in {:.3f} s, {} "
                              "reads, {} bytes\n  layout: {}\n",
                              k.count, k.percpu, k.method, k.seconds, k.reads, k.bytes, k.layout);
  for (const std::string& n : k.notes) s += "  - " + n + "\n";
  return s;
}

void symbols_json(JsonWriter& j, const SymbolsStatus& st) {
  j.key("kallsyms");
  if (st.state == DiscoveryState::not_run) {
    j.null();
    return;
  }
  j.begin_object().field("state", state_name(st.state));
  if (st.state == DiscoveryState::failed) j.field("message", st.message);
  if (st.state == DiscoveryState::done) {
    const kernel::KallsymsReport& k = st.symbols->report;
    j.field("count", k.count)
        .field("percpu", k.percpu)
        .field("method", k.method)
        .field("layout", k.layout)
        .hex_field("names", k.names_va)
        .hex_field("token_table", k.token_table_va)
        .hex_field("addresses", k.addresses_va)
        .field("seconds", k.seconds)
        .field("reads", k.reads)
        .field("bytes", k.bytes);
    j.key("notes").begin_array();
    for (const std::string& n : k.notes) j.value(n);
    j.end_array();
  }
  j.end_object();
}

std::string kernel_text(const InfoRow& r) {
  std::string s = fmt::format("memory: {}\n", r.memory);
  auto out = std::back_inserter(s);
  if (r.space)
    fmt::format_to(out, "page table: {:#x} ({}-level) from {}{}\n", r.space->top.value,
                   r.space->levels, r.space->source, r.space_is_override ? " (this session)" : "");
  const DiscoveryStatus& st = r.discovery;
  switch (st.state) {
    case DiscoveryState::not_run: return s + "discovery: not run (--cr3 given)\n";
    case DiscoveryState::running: return s + "discovery: running: " + st.message + "\n";
    case DiscoveryState::failed: return s + "discovery: failed: " + st.message + "\n";
    case DiscoveryState::done: break;
  }
  const kernel::KernelImage& k = *st.image;
  fmt::format_to(out, "kernel: {}\n", k.release);
  fmt::format_to(out, "  banner: {}\n", k.banner);
  if (!k.build_id.empty()) fmt::format_to(out, "  build id: {}\n", k.build_id);
  fmt::format_to(out, "  found by: {} in {:.3f} s, {} reads, {} bytes\n", k.method,
                 k.cost.seconds, k.cost.reads, k.cost.bytes);
  fmt::format_to(out, "  _text {:#x}, KASLR slide {:#x}, phys_base {:#x}\n", k.text_va,
                 k.kaslr_slide, k.phys_base);
  fmt::format_to(out, "  linux_banner {:#x} (physical {:#x})\n", k.banner_va, k.banner_pa);
  fmt::format_to(out, "  init_top_pgt {:#x} (physical {:#x}), {}-level paging{}\n", k.top_va,
                 k.top.value, k.levels,
                 k.sme_mask ? fmt::format(", SME mask {:#x}", k.sme_mask) : std::string());
  auto opt = [](std::uint64_t v) { return v ? fmt::format("{:#x}", v) : std::string("unknown"); };
  fmt::format_to(out, "  page_offset_base {}, vmalloc_base {}, vmemmap_base {}\n",
                 opt(k.page_offset_base), opt(k.vmalloc_base), opt(k.vmemmap_base));
  if (k.vmcoreinfo_pa)
    fmt::format_to(out, "  VMCOREINFO at physical {:#x} ({} entries)\n", k.vmcoreinfo_pa,
                   k.vmcoreinfo.size());
  for (const std::string& n : k.notes) fmt::format_to(out, "  - {}\n", n);
  fmt::format_to(out,
                 "symbols: qOffsets relocates only .text/.data/.bss of a vmlinux loaded "
                 "before connecting;\n  load it instead with (after 'symbol-file' with no "
                 "argument if gdb already has one):\n  {}\n",
                 symbol_file_command(k));
  return s + types_text(r.types);
}

std::string to_text(const InfoRow& r) { return kernel_text(r) + symbols_text(r.symbols); }

void kernel_json(JsonWriter& j, const InfoRow& r) {
  j.begin_object().field("memory", r.memory);
  j.key("page_table");
  if (r.space)
    j.begin_object()
        .hex_field("table", r.space->top.value)
        .field("levels", r.space->levels)
        .field("source", r.space->source)
        .field("this_session", r.space_is_override)
        .end_object();
  else
    j.null();
  const DiscoveryStatus& st = r.discovery;
  j.key("discovery").begin_object().field("state", state_name(st.state));
  if (st.state != DiscoveryState::done) j.field("message", st.message);
  j.end_object();
  j.key("kernel");
  if (st.state != DiscoveryState::done || !st.image) {
    j.null();
    return;
  }
  const kernel::KernelImage& k = *st.image;
  auto known = [](std::uint64_t v) { return v ? std::optional(v) : std::nullopt; };
  j.begin_object()
      .field("release", k.release)
      .field("banner", k.banner)
      .field("build_id", k.build_id)
      .field("method", k.method)
      .field("seconds", k.cost.seconds)
      .field("reads", k.cost.reads)
      .field("bytes", k.cost.bytes)
      .hex_field("text", k.text_va)
      .hex_field("kaslr_slide", k.kaslr_slide)
      .hex_field("phys_base", k.phys_base)
      .hex_field("linux_banner", k.banner_va)
      .hex_field("linux_banner_phys", k.banner_pa)
      .hex_field("init_top_pgt", k.top_va)
      .hex_field("init_top_pgt_phys", k.top.value)
      .field("levels", k.levels)
      .hex_field("sme_mask", k.sme_mask)
      .hex_field("page_offset_base", known(k.page_offset_base))
      .hex_field("vmalloc_base", known(k.vmalloc_base))
      .hex_field("vmemmap_base", known(k.vmemmap_base))
      .hex_field("vmcoreinfo_phys", known(k.vmcoreinfo_pa))
      .field("vmcoreinfo_entries", k.vmcoreinfo.size());
  j.key("notes").begin_array();
  for (const std::string& n : k.notes) j.value(n);
  j.end_array();
  j.field("symbol_file_command", symbol_file_command(k)).end_object();
}

void to_json(JsonWriter& j, const InfoRow& r) {
  kernel_json(j, r);
  types_json(j, r.types);
  symbols_json(j, r.symbols);
  j.end_object();
}

}  // namespace

stub::MonitorCommand info_command(SessionState& s) {
  return {"info", "info",
          "what discovery found (kernel, KASLR, page table), where, how, and its cost",
          [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) {
            const Snapshot& snap = s.snapshot();
            emit(a,
                 InfoRow{s.context().memory().info().name, snap.space, snap.space_is_override,
                         snap.discovery, s.context().types(), s.context().symbols()},
                 out);
            return Result<void>{};
          }};
}

}  // namespace tlpstub::app::commands
