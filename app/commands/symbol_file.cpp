// monitor symbol-file PATH [--json]: writes the symbol file tlpstub serves to gdb (ELF with
// kallsyms symbols and DWARF from BTF, kernel/export/symbol_file.hpp) to PATH on the host that
// runs tlpstub, for gdb sessions elsewhere or later. Its addresses are link-time ones: load it
// before `target remote`, and gdb relocates it by qOffsets (README, "Symbols and types with no
// vmlinux").
#include <fmt/format.h>

#include <fstream>

#include "app/commands/commands.hpp"

namespace tlpstub::app::commands {

namespace {

struct SymbolFileRow {
  std::string path;
  std::shared_ptr<const ServedSymbolFile> file;
  std::uint64_t slide = 0;
};

std::string to_text(const SymbolFileRow& r) {
  const ServedSymbolFile& f = *r.file;
  return fmt::format(
      "wrote {} bytes to {}: {} symbols, {} type DIEs, {} variables{}\n"
      "gdb (not connected): file {}   then target remote (qOffsets relocates it by {:#x})\n",
      f.bytes->size(), r.path, f.symbols, f.type_dies, f.variables,
      f.has_dwarf ? "" : " (no BTF: symbols only)", r.path, r.slide);
}

void to_json(JsonWriter& j, const SymbolFileRow& r) {
  const ServedSymbolFile& f = *r.file;
  j.begin_object()
      .field("path", r.path)
      .field("served_as", f.path)
      .field("bytes", static_cast<std::uint64_t>(f.bytes->size()))
      .field("symbols", f.symbols)
      .field("type_dies", f.type_dies)
      .field("variables", f.variables)
      .field("dwarf", f.has_dwarf)
      .field("kaslr_slide", r.slide)
      .end_object();
}

}  // namespace

stub::MonitorCommand symbol_file_monitor_command(SessionState& s) {
  stub::MonitorCommand c{
      "symbol-file", "symbol-file PATH",
      "write the ELF symbol file served to gdb (kallsyms + DWARF from BTF) to PATH on this host",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) -> Result<void> {
        auto f = s.context().symbol_file(s.deadline());
        if (!f) return std::unexpected(f.error());
        const std::string path(a.words[0]);
        std::ofstream os(path, std::ios::binary | std::ios::trunc);
        if (os)
          os.write(reinterpret_cast<const char*>((*f)->bytes->data()),
                   static_cast<std::streamsize>((*f)->bytes->size()));
        if (!os) return fail(Errc::io, fmt::format("cannot write {}", path));
        const auto& img = s.snapshot().discovery.image;
        emit(a, SymbolFileRow{path, *f, img ? img->kaslr_slide : 0}, out);
        return {};
      },
      1, 1};
  c.needs = kNeedsSymbols;
  return c;
}

}  // namespace tlpstub::app::commands
