// monitor offsets: the structure members the Linux views use (kernel/symbols/wanted_offsets.hpp)
// and, for each, its offset, size and where it came from ("BTF", "inference (data)", ...,
// "profile"); members no source knows are listed as missing, with the view that wants them
// and the kernels that have them, never guessed.
#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "kernel/symbols/wanted_offsets.hpp"

namespace tlpstub::app::commands {

namespace {

struct OffsetsRow {
  std::vector<kernel::WantedResult> members;
  std::vector<kernel::WantedSize> sizes;
};

std::string to_text(const OffsetsRow& r) {
  std::string s;
  auto out = std::back_inserter(s);
  for (const kernel::WantedSize& z : r.sizes) {
    if (z.size)
      fmt::format_to(out, "sizeof({}) = {} ({})\n", z.struct_name, *z.size, z.source);
    else
      fmt::format_to(out, "sizeof({}) missing\n", z.struct_name);
  }
  std::size_t missing = 0;
  for (const kernel::WantedResult& m : r.members) {
    if (!m.field) {
      ++missing;
      fmt::format_to(out, "{:<36} missing ({}{}): {}\n", m.struct_name + "." + m.wanted, m.user,
                     m.when.empty() ? "" : ", " + m.when, m.why_missing);
      continue;
    }
    const kernel::FieldInfo& f = *m.field;
    const std::string bits =
        f.bit_size ? fmt::format(" bits {}:{}", f.bit_offset - f.offset * 8, f.bit_size) : "";
    fmt::format_to(out, "{:<36} {:>6} size {:<4} {}{} ({})\n", m.struct_name + "." + m.path,
                   f.offset, f.size, f.type_name, bits, f.source);
  }
  fmt::format_to(out, "{} of {} members found, {} missing\n", r.members.size() - missing,
                 r.members.size(), missing);
  return s;
}

void to_json(JsonWriter& j, const OffsetsRow& r) {
  j.begin_object().key("sizes").begin_array();
  for (const kernel::WantedSize& z : r.sizes) {
    j.begin_object().field("struct", z.struct_name).key("size");
    if (z.size) j.value(*z.size); else j.null();
    j.key("source");
    if (z.size) j.value(z.source); else j.null();
    j.end_object();
  }
  j.end_array().key("offsets").begin_array();
  for (const kernel::WantedResult& m : r.members) {
    j.begin_object().field("struct", m.struct_name).field("wanted", m.wanted)
        .field("user", m.user).field("when", m.when);
    if (!m.field) {
      j.key("member").null().key("offset").null().key("size").null().key("bit_offset").null()
          .key("bit_size").null().key("type").null().key("source").null()
          .field("missing", m.why_missing).end_object();
      continue;
    }
    const kernel::FieldInfo& f = *m.field;
    j.field("member", m.path)
        .field("offset", f.offset)
        .field("size", f.size)
        .field("bit_offset", f.bit_offset)
        .field("bit_size", f.bit_size)
        .field("type", f.type_name)
        .field("source", f.source)
        .end_object();
  }
  j.end_array().end_object();
}

}  // namespace

stub::MonitorCommand offsets_command(SessionState& s) {
  stub::MonitorCommand c{
      "offsets", "offsets",
      "the structure offsets the Linux views use, and where each came from",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) -> Result<void> {
        const kernel::TypeInfo& ti = *s.context().types().types;
        emit(a, OffsetsRow{kernel::resolve_wanted(ti), kernel::resolve_sizes(ti)}, out);
        return {};
      }};
  c.needs = kNeedsTypes;
  return c;
}

}  // namespace tlpstub::app::commands
