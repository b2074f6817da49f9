// monitor kconfig [PATTERN] [--out FILE] [--json]: the running kernel's config, from IKCONFIG
// when built in (exact), else from a config file in the page cache that matches the running
// kernel, plus what memory itself proves (marked inferred); kernel/linux/kconfig.hpp says how.
// PATTERN: a glob on the option name (CONFIG_ optional: 'X86_*'), or a substring ('BTF').
// --out FILE writes the config (the whole file, or the matching lines) on the host running
// tlpstub. The page-cache probe reads 64 bytes of every page, with no request deadline, and
// streams progress (with --json as {"progress": "..."} lines before the result object).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "app/commands/commands.hpp"
#include "kernel/address_space.hpp"
#include "kernel/linux/kconfig.hpp"
#include "kernel/symbols/symbol_table.hpp"

namespace tlpstub::app::commands {

namespace {

struct KconfigRow {
  kernel::KernelConfig cfg;
  std::optional<std::string> pattern;
  std::vector<const kernel::ConfigOption*> shown;
  std::optional<std::string> out_file;
  std::size_t written = 0;
};

std::string by_source_text(const std::map<std::string, std::size_t>& m) {
  std::string s;
  for (const auto& [src, n] : m) s += fmt::format("{}{} {}", s.empty() ? "" : ", ", n, src);
  return s.empty() ? "none" : s;
}

std::string to_text(const KconfigRow& r) {
  std::string s;
  auto out = std::back_inserter(s);
  for (const kernel::ConfigOption* o : r.shown) {
    s += kernel::config_line(*o);
    if (o->source == kernel::kSourceInferred) fmt::format_to(out, "  # inferred: {}", o->why);
    s += "\n";
  }
  const kernel::ConfigReport& p = r.cfg.report;
  if (r.pattern)
    fmt::format_to(out, "-- {} of {} options match '{}'\n", r.shown.size(), r.cfg.options.size(),
                   *r.pattern);
  fmt::format_to(out, "-- {} options ({}); source: {}\n", r.cfg.options.size(),
                 by_source_text(p.by_source), p.source);
  for (const kernel::ConfigCopy& c : p.copies)
    fmt::format_to(out, "-- copy at physical {:#x}: {}, {} pages, {} options ({}): {}\n", c.phys,
                   c.header.empty() ? "no header" : c.header, c.pages, c.options, c.ordered_by,
                   c.verdict);
  if (p.pages_probed)
    fmt::format_to(out, "-- probed {} pages; {} read batches, {} bytes, {:.3f} s\n",
                   p.pages_probed, p.reads, p.bytes, p.seconds);
  for (const std::string& n : p.notes) s += "-- note: " + n + "\n";
  if (r.out_file) fmt::format_to(out, "-- wrote {} bytes to {}\n", r.written, *r.out_file);
  return s;
}

void to_json(JsonWriter& j, const KconfigRow& r) {
  const kernel::ConfigReport& p = r.cfg.report;
  j.begin_object().field("source", p.source).field("total", r.cfg.options.size());
  j.key("by_source").begin_object();
  for (const auto& [src, n] : p.by_source) j.field(src, n);
  j.end_object().key("options").begin_array();
  for (const kernel::ConfigOption* o : r.shown) {
    j.begin_object().field("name", o->name).field("value", o->value).field("source", o->source);
    if (!o->why.empty()) j.field("why", o->why);
    j.end_object();
  }
  j.end_array().key("inferred").begin_array();
  for (const kernel::ConfigOption& o : p.inferred)
    j.begin_object().field("name", o.name).field("value", o.value).field("why", o.why).end_object();
  j.end_array().key("copies").begin_array();
  for (const kernel::ConfigCopy& c : p.copies)
    j.begin_object()
        .hex_field("phys", c.phys)
        .field("bytes", c.bytes)
        .field("pages", c.pages)
        .field("missing_pages", c.missing_pages)
        .field("options", c.options)
        .field("header", c.header)
        .field("cc_version", c.cc_version)
        .field("ordered_by", c.ordered_by)
        .field("matches", c.matches)
        .field("chosen", c.chosen)
        .field("verdict", c.verdict)
        .end_object();
  j.end_array()
      .field("pages_probed", p.pages_probed)
      .field("reads", p.reads)
      .field("bytes", p.bytes)
      .field("seconds", p.seconds);
  j.key("notes").begin_array();
  for (const std::string& n : p.notes) j.value(n);
  j.end_array().key("out");
  if (r.out_file) j.value(*r.out_file); else j.null();
  j.end_object();
}

bool matches(std::string_view pattern, const std::string& name) {
  if (kernel::is_glob(pattern))
    return kernel::glob_match(pattern, name) ||
           kernel::glob_match(pattern, std::string_view(name).substr(7));
  std::string up(pattern);
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name.find(up) != std::string::npos;
}

Result<void> run_kconfig(SessionState& s, const stub::MonitorArgs& a, const stub::OutputFn& out) {
  const auto img = s.snapshot().discovery.image;
  // Symbols and types help (IKCONFIG's symbol, struct page, inference); wait for them within
  // this request's budget, and go on without them if they are not there.
  const SymbolsStatus& syms = s.symbols();
  const TypesStatus types = s.context().wait_for_types(s.deadline());
  // No deadline for the reads: the probe is a long command that streams its progress.
  PhysicalMemory& mem = s.context().memory();
  kernel::PageWalker walker(mem, img->levels, img->sme_mask);
  kernel::AddressSpace as(mem, walker, img->top);
  kernel::ConfigInputs in{mem, as, *img, nullptr, nullptr, {}, true};
  if (syms.state == DiscoveryState::done && syms.symbols) in.symbols = &syms.symbols->table;
  in.types = types.types.get();
  // Progress keeps gdb's remotetimeout from expiring during the probe (seconds over NetTLP):
  // text lines, or with --json one {"progress": ...} object per line before the result.
  in.progress = [&](std::string_view line) {
    if (!a.json) {
      out(fmt::format("{}\n", line));
      return;
    }
    JsonWriter j;
    j.begin_object().field("progress", line).end_object();
    out(j.str() + "\n");
  };
  auto cfg = kernel::recover_config(in);
  if (!cfg) return std::unexpected(cfg.error());
  KconfigRow row;
  row.cfg = std::move(*cfg);
  // gdb passes `monitor kconfig 'X86_*'` on with the quotes.
  if (a.pattern) {
    std::string_view p = *a.pattern;
    if (p.size() >= 2 && (p.front() == '\'' || p.front() == '"') && p.back() == p.front())
      p = p.substr(1, p.size() - 2);
    row.pattern = std::string(p);
  }
  for (const kernel::ConfigOption& o : row.cfg.options)
    if (!row.pattern || matches(*row.pattern, o.name)) row.shown.push_back(&o);
  if (auto f = a.values.find("--out"); f != a.values.end()) {
    std::string text = row.cfg.text;
    if (row.pattern) {
      text.clear();
      for (const kernel::ConfigOption* o : row.shown) text += kernel::config_line(*o) + "\n";
    }
    std::ofstream file{std::string(f->second), std::ios::binary | std::ios::trunc};
    if (!file || !file.write(text.data(), static_cast<std::streamsize>(text.size())))
      return fail(Errc::io, fmt::format("kconfig: cannot write {}", f->second));
    row.out_file = std::string(f->second);
    row.written = text.size();
  }
  emit(a, row, out);
  return {};
}

}  // namespace

stub::MonitorCommand kconfig_command(SessionState& s) {
  stub::MonitorCommand c{
      "kconfig", "kconfig [PATTERN] [--out FILE]",
      "the kernel's config: IKCONFIG, else a matching config file in the page cache, plus "
      "options memory proves (inferred)",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) {
        return run_kconfig(s, a, out);
      },
      0, 1};
  c.takes_pattern = true;
  c.value_options = {{"--out", "FILE", "write the config (or the matching lines) to FILE"}};
  c.needs = kNeedsKernel;
  // The page-cache probe takes seconds over NetTLP: its progress goes out only while gdb is
  // known to wait (stub/long_request.hpp), so a Ctrl-C in gdb leaves nothing stale behind.
  c.long_running = true;
  return c;
}

}  // namespace tlpstub::app::commands
