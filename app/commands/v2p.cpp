// monitor v2p ADDR: translates ADDR in this session's address space and shows every level's
// entry (table, index, raw value, flags), then the outcome, or where the walk stopped.
#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "common/parse.hpp"
#include "kernel/page_walker.hpp"

namespace tlpstub::app::commands {

namespace {

struct V2pRow {
  std::uint64_t va = 0;
  int levels = 4;
  std::uint64_t top = 0;
  std::uint64_t sme_mask = 0;
  kernel::Walk walk;
};

std::string_view page_size_name(std::uint64_t size) {
  switch (size) {
    case kernel::kPageSize4K: return "4K";
    case kernel::kPageSize2M: return "2M";
    case kernel::kPageSize1G: return "1G";
  }
  return "?";
}

std::string to_text(const V2pRow& r) {
  std::string s = fmt::format("{:#018x} in the {}-level table at {:#x}\n", r.va, r.levels, r.top);
  auto out = std::back_inserter(s);
  for (const kernel::WalkStep& st : r.walk.steps)
    fmt::format_to(out, "{:<5} [{:#05x}] in table {:#x}: {}\n", kernel::entry_name(st.level),
                   st.index, st.table.value,
                   entry_text(kernel::view_entry(st.entry, st.level, r.sme_mask)));
  if (!r.walk.result) return s + r.walk.result.error().message + "\n";
  const kernel::Translation& t = *r.walk.result;
  fmt::format_to(out, "{:#x} -> phys {:#x} ({} page, {}, {}{})\n", t.va.value, t.phys.value,
                 page_size_name(t.page_size), t.writable ? "RW" : "RO",
                 t.user ? "user" : "kernel", t.nx ? ", NX" : "");
  return s;
}

void to_json(JsonWriter& j, const V2pRow& r) {
  j.begin_object().hex_field("va", r.va).field("levels", r.levels).hex_field("table", r.top);
  j.key("steps").begin_array();
  for (const kernel::WalkStep& st : r.walk.steps) {
    const kernel::EntryView e = kernel::view_entry(st.entry, st.level, r.sme_mask);
    j.begin_object()
        .field("level", st.level)
        .field("name", kernel::entry_name(st.level))
        .hex_field("table", st.table.value)
        .field("index", st.index)
        .hex_field("entry", st.entry)
        .field("present", e.present);
    j.key("flags").begin_array();
    for (std::string_view f : e.flags) j.value(f);
    j.end_array();
    if (e.sme) j.field("sme", true);
    if (e.present) j.hex_field("frame", e.frame);
    j.end_object();
  }
  j.end_array();
  if (r.walk.result) {
    const kernel::Translation& t = *r.walk.result;
    j.hex_field("phys", t.phys.value)
        .field("page_size", t.page_size)
        .field("writable", t.writable)
        .field("user", t.user)
        .field("nx", t.nx);
  } else {
    j.field("error", r.walk.result.error().message);
  }
  j.end_object();
}

}  // namespace

std::string entry_text(const kernel::EntryView& e) {
  std::string s = fmt::format("{:#x} ", e.raw);
  if (!e.present) return s + " not present";
  for (std::string_view f : e.flags) fmt::format_to(std::back_inserter(s), " {}", f);
  if (e.sme) s += " SME";
  fmt::format_to(std::back_inserter(s), " frame {:#x}", e.frame);
  return s;
}

stub::MonitorCommand v2p_command(SessionState& s) {
  stub::MonitorCommand c{
      "v2p", "v2p ADDR", "translate a virtual address, showing every level's entry",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) -> Result<void> {
        auto va = parse_u64(a.words[0], 0);
        if (!va)
          return fail(Errc::invalid_argument,
                      fmt::format("v2p: '{}' is not an address", a.words[0]));
        const SpaceConfig& sc = *s.snapshot().space;
        V2pRow row{*va, sc.levels, sc.top.value, sc.sme_mask,
                   s.walker_for(sc).walk(sc.top, VirtAddr(*va))};
        emit(a, row, out);
        // Text: the walk, then "error: <why>". JSON: the error is inside the object.
        if (!row.walk.result && !a.json) return std::unexpected(row.walk.result.error());
        return {};
      },
      1, 1};
  c.needs = kNeedsSpace;
  return c;
}

}  // namespace tlpstub::app::commands
