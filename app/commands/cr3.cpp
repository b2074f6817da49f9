// monitor cr3 [VALUE|discover]: shows the page table this session reads; switches this session
// to the table VALUE names; or re-runs discovery (the target may have rebooted), streaming its
// progress. The address space is resolved once per request (the snapshot), so this never
// waits for discovery more than once, and never past the request's deadline.
#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "common/parse.hpp"

namespace tlpstub::app::commands {

namespace {

struct Cr3Row {
  enum class Event { shown, set, discovered } event = Event::shown;
  std::optional<SpaceConfig> space;                  // in use after the command
  std::shared_ptr<const kernel::KernelImage> found;  // discovered
};

std::string to_text(const Cr3Row& r) {
  switch (r.event) {
    case Cr3Row::Event::shown:
      if (!r.space) return "no page table known (no --cr3 given)\n";
      return fmt::format("cr3 {:#x} -> top-level table {:#x}, {}-level paging, from {}\n",
                         r.space->raw_cr3, r.space->top.value, r.space->levels, r.space->source);
    case Cr3Row::Event::set:
      return fmt::format("this session now uses top-level table {:#x} ({}-level)\n",
                         r.space->top.value, r.space->levels);
    case Cr3Row::Event::discovered:
      return fmt::format("found {}: page table {:#x} ({}-level), KASLR slide {:#x}\n",
                         r.found->release, r.found->top.value, r.found->levels,
                         r.found->kaslr_slide);
  }
  return {};
}

void to_json(JsonWriter& j, const Cr3Row& r) {
  static constexpr std::string_view kEvents[] = {"shown", "set", "discovered"};
  j.begin_object().field("event", kEvents[static_cast<int>(r.event)]);
  j.key("space");
  if (r.space) {
    j.begin_object()
        .hex_field("cr3", r.space->raw_cr3)
        .hex_field("table", r.space->top.value)
        .field("levels", r.space->levels)
        .hex_field("sme_mask", r.space->sme_mask)
        .field("source", r.space->source)
        .end_object();
  } else {
    j.null();
  }
  if (r.found) j.field("release", r.found->release).hex_field("kaslr_slide", r.found->kaslr_slide);
  j.end_object();
}

}  // namespace

stub::MonitorCommand cr3_command(SessionState& s) {
  return {
      "cr3", "cr3 [VALUE|discover]",
      "show the page table in use; use VALUE for this session; or re-run discovery",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) -> Result<void> {
        Cr3Row row;
        if (a.words.empty()) {
          row.space = s.snapshot().space;
        } else if (a.words[0] == "discover") {
          // Progress is for a person; JSON output stays one object.
          auto img = s.context().discover([&](std::string_view line) {
            if (!a.json) out(fmt::format("{}\n", line));
          });
          if (!img) return std::unexpected(img.error());
          s.set_space_override(std::nullopt);
          row.event = Cr3Row::Event::discovered;
          row.found = *img;
          row.space = s.snapshot().space;
        } else {
          auto v = parse_u64(a.words[0], 0);
          if (!v)
            return fail(Errc::invalid_argument,
                        fmt::format("cr3: '{}' is not a number", a.words[0]));
          // Keep the depth and SME mask of the space in use; 4-level if none is known.
          SpaceConfig sc = s.snapshot().space.value_or(SpaceConfig{});
          sc.raw_cr3 = *v;
          sc.top = kernel::cr3_table(*v, sc.sme_mask);
          sc.source = "monitor cr3 (this session)";
          s.set_space_override(sc);
          row.event = Cr3Row::Event::set;
          row.space = sc;
        }
        emit(a, row, out);
        return {};
      },
      0, 1};
}

}  // namespace tlpstub::app::commands
