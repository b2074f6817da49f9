// monitor type NAME: the layout of a struct or union as the kernel's types give it (BTF), like
// pahole: offset, size, type and name of every member, anonymous structs and unions expanded
// in place, bitfields as offset:bit and :bits. NAME may be "task_struct", "struct task_struct",
// "union NAME" or a typedef of a struct.
#include <fmt/format.h>

#include "app/commands/commands.hpp"
#include "kernel/symbols/type_info.hpp"

namespace tlpstub::app::commands {

namespace {

struct TypeRow {
  kernel::StructLayout layout;
};

std::string to_text(const TypeRow& r) {
  const kernel::StructLayout& L = r.layout;
  std::string s = fmt::format("{} {} {{ /* size {}, from {} */\n", L.kind, L.name, L.size,
                              L.source);
  auto out = std::back_inserter(s);
  for (const kernel::LayoutRow& m : L.members) {
    const std::string indent(2 + 4 * m.depth, ' ');
    if (m.bit_size)
      fmt::format_to(out, "  /* {:>6}:{:<2} {:>5} */{}{} {}:{};\n", m.offset,
                     m.bit_offset - m.offset * 8, m.size, indent, m.type_name, m.name, m.bit_size);
    else
      fmt::format_to(out, "  /* {:>6}    {:>5} */{}{}{}{};\n", m.offset, m.size, indent,
                     m.type_name, m.name.empty() ? "" : " ", m.name);
  }
  return s + "};\n";
}

void to_json(JsonWriter& j, const TypeRow& r) {
  const kernel::StructLayout& L = r.layout;
  j.begin_object()
      .field("kind", L.kind)
      .field("name", L.name)
      .field("size", L.size)
      .field("source", L.source);
  j.key("members").begin_array();
  for (const kernel::LayoutRow& m : L.members)
    j.begin_object()
        .field("offset", m.offset)
        .field("size", m.size)
        .field("type", m.type_name)
        .field("name", m.name)
        .field("depth", m.depth)
        .field("bit_offset", m.bit_offset)
        .field("bit_size", m.bit_size)
        .end_object();
  j.end_array().end_object();
}

}  // namespace

stub::MonitorCommand type_command(SessionState& s) {
  stub::MonitorCommand c{
      "type", "type NAME",
      "layout of a struct or union from the kernel's BTF (offset, size, type, bitfields)",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) -> Result<void> {
        std::string name;
        for (std::string_view w : a.words) name += (name.empty() ? "" : " ") + std::string(w);
        auto layout = s.context().types().types->describe_struct(name);
        if (!layout) return std::unexpected(layout.error());
        emit(a, TypeRow{std::move(*layout)}, out);
        return {};
      },
      1, 2};
  c.needs = kNeedsTypes;
  return c;
}

}  // namespace tlpstub::app::commands
