#include "kernel/linux/kconfig.hpp"

#include <zlib.h>

#include <cctype>
#include <chrono>
#include <optional>
#include <fmt/format.h>
#include <set>

#include "kernel/linux/kconfig_detail.hpp"

namespace tlpstub::kernel {

namespace {

constexpr std::string_view kIkcfgStart = "IKCFG_ST", kIkcfgEnd = "IKCFG_ED";
// Debian's 6.12 config is 283 KB; allyesconfig under 400 KB. More is not a config.
constexpr std::size_t kMaxConfigText = 4u << 20;
constexpr std::uint64_t kMaxIkconfigBlob = 1u << 20;

bool is_name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

bool valid_name(std::string_view n) {
  if (!n.starts_with("CONFIG_") || n.size() == 7) return false;
  for (char c : n)
    if (!is_name_char(c)) return false;
  return true;
}

std::string_view trim_cr(std::string_view l) {
  while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.remove_suffix(1);
  return l;
}

std::optional<std::uint64_t> kconfig_symbol(const SymbolTable* s, std::string_view name) {
  const Symbol* sym = s ? s->find_address(name) : nullptr;
  return sym ? std::optional(sym->address) : std::nullopt;
}

// The version in "Linux/x86 6.12.117 Kernel Configuration".
std::string header_version(std::string_view header) {
  const auto sp = header.find(' ');
  if (sp == std::string_view::npos) return {};
  const auto end = header.find(' ', sp + 1);
  return std::string(header.substr(sp + 1, end == std::string_view::npos ? end : end - sp - 1));
}

// `word` occurs in `s` not inside a longer version number ("6.1.19" is not in "6.1.192").
bool contains_version(std::string_view s, std::string_view word) {
  if (word.empty()) return false;
  for (std::size_t at = s.find(word); at != std::string_view::npos; at = s.find(word, at + 1)) {
    const bool left_ok = at == 0 || !(std::isdigit(static_cast<unsigned char>(s[at - 1])) ||
                                      s[at - 1] == '.');
    const std::size_t e = at + word.size();
    const bool right_ok =
        e == s.size() || !(std::isdigit(static_cast<unsigned char>(s[e])) || s[e] == '.');
    if (left_ok && right_ok) return true;
  }
  return false;
}

}  // namespace

std::vector<ConfigOption> parse_config(std::string_view text, std::string_view source) {
  std::vector<ConfigOption> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = trim_cr(text.substr(start, nl - start));
    start = nl + 1;
    if (line.starts_with("# CONFIG_") && line.ends_with(" is not set")) {
      const std::string_view name = line.substr(2, line.size() - 2 - 11);
      if (valid_name(name)) out.push_back({std::string(name), "n", std::string(source), {}});
    } else if (line.starts_with("CONFIG_")) {
      const auto eq = line.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view name = line.substr(0, eq);
      if (valid_name(name))
        out.push_back({std::string(name), std::string(line.substr(eq + 1)), std::string(source),
                       {}});
    }
  }
  return out;
}

std::string config_line(const ConfigOption& o) {
  if (o.value == "n") return "# " + o.name + " is not set";
  return o.name + "=" + o.value;
}

Result<std::string> gunzip(std::span<const std::uint8_t> gz, std::size_t max_out) {
  z_stream z{};
  // 16 + MAX_WBITS: a gzip wrapper, not zlib's.
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return fail(Errc::io, "zlib: inflateInit2 failed");
  std::string out;
  z.next_in = const_cast<Bytef*>(gz.data());
  z.avail_in = static_cast<uInt>(gz.size());
  int rc = Z_OK;
  char buf[16384];
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > max_out) {
      inflateEnd(&z);
      return fail(Errc::malformed, fmt::format("gzip: more than {} bytes inflated", max_out));
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // input ended before the stream did
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END)
    return fail(Errc::malformed, fmt::format("gzip: stream {} after {} bytes",
                                             rc == Z_DATA_ERROR ? "corrupt" : "cut short",
                                             out.size()));
  return out;
}

Result<std::string> ikconfig_text(std::span<const std::uint8_t> blob) {
  const std::string_view s(reinterpret_cast<const char*>(blob.data()), blob.size());
  if (!s.starts_with(kIkcfgStart) || !s.ends_with(kIkcfgEnd) ||
      blob.size() < kIkcfgStart.size() + kIkcfgEnd.size() + 18)
    return fail(Errc::malformed, "IKCONFIG: the IKCFG_ST/IKCFG_ED markers are not around the data");
  return gunzip(blob.subspan(kIkcfgStart.size(),
                             blob.size() - kIkcfgStart.size() - kIkcfgEnd.size()),
                kMaxConfigText);
}

std::string config_header(std::string_view text) {
  // "#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 6.12.117 Kernel Configuration"
  std::size_t start = 0;
  for (int line = 0; line < 6 && start < text.size(); ++line) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view l = text.substr(start, nl - start);
    if (l.starts_with("# Linux/") && l.ends_with(" Kernel Configuration"))
      return std::string(l.substr(2));
    start = nl + 1;
  }
  return {};
}

bool config_matches(const ConfigCopy& c, std::string_view banner, std::string* why) {
  const std::string v = header_version(c.header);
  if (v.empty()) {
    if (why) *why = "no \"# Linux/<arch> <version> Kernel Configuration\" header";
    return false;
  }
  if (!contains_version(banner, v)) {
    if (why) *why = fmt::format("built for Linux {}, not the running kernel", v);
    return false;
  }
  std::string cc = c.cc_version;
  if (cc.size() >= 2 && cc.front() == '"' && cc.back() == '"') cc = cc.substr(1, cc.size() - 2);
  if (!cc.empty() && banner.find(cc) == std::string_view::npos) {
    if (why) *why = fmt::format("compiler '{}' is not the running kernel's", cc);
    return false;
  }
  return true;
}

namespace {

Result<std::string> read_ikconfig(const ConfigInputs& in, std::uint64_t start, std::uint64_t end,
                                  ConfigReport& rep) {
  if (end < start || end - start > kMaxIkconfigBlob)
    return fail(Errc::malformed, fmt::format("IKCONFIG: kernel_config_data {:#x}..{:#x} is "
                                             "implausible", start, end));
  const std::uint64_t va = start - kIkcfgStart.size();
  std::vector<std::uint8_t> blob(end - start + kIkcfgStart.size() + kIkcfgEnd.size());
  ++rep.reads;
  rep.bytes += blob.size();
  ReadOutcome o = in.as.read(VirtAddr(va), blob);
  if (o.fault) return fail(o.fault->code, "IKCONFIG: " + o.fault->message, o.fault->address);
  return ikconfig_text(blob);
}

void choose_copy(std::vector<ConfigCopy>& copies, std::string_view banner) {
  ConfigCopy* best = nullptr;
  for (ConfigCopy& c : copies) {
    std::string why;
    c.matches = config_matches(c, banner, &why);
    c.verdict = c.matches ? "matches the running kernel" : why;
    if (!c.matches) continue;
    if (!best || c.missing_pages < best->missing_pages ||
        (c.missing_pages == best->missing_pages && c.options > best->options))
      best = &c;
  }
  if (!best) return;
  best->chosen = true;
  best->verdict = "matches the running kernel; used";
  for (ConfigCopy& c : copies)
    if (&c != best && c.matches)
      c.verdict = c.text == best->text ? "another copy of the one used" : "matches too; not used";
}

}  // namespace

Result<KernelConfig> recover_config(const ConfigInputs& in) {
  const auto t0 = std::chrono::steady_clock::now();
  KernelConfig kc;
  ConfigReport& rep = kc.report;
  auto progress = [&](std::string_view s) {
    if (in.progress) in.progress(s);
  };
  std::string_view base_source;

  // 1. IKCONFIG: exact, when built in.
  const auto cfg_start = kconfig_symbol(in.symbols, "kernel_config_data");
  const auto cfg_end = kconfig_symbol(in.symbols, "kernel_config_data_end");
  if (cfg_start && cfg_end) {
    auto text = read_ikconfig(in, *cfg_start, *cfg_end, rep);
    if (text) {
      kc.text = std::move(*text);
      kc.options = parse_config(kc.text, kSourceIkconfig);
      base_source = kSourceIkconfig;
      rep.source = fmt::format("IKCONFIG (kernel_config_data at {:#x}, exact)", *cfg_start);
    } else {
      rep.notes.push_back(text.error().message);
    }
  } else if (in.symbols) {
    rep.notes.push_back("no kernel_config_data symbol: IKCONFIG is not built into the image");
  }

  // 2. The page cache of a config file.
  if (base_source.empty() && in.scan_page_cache) {
    progress("kconfig: no IKCONFIG; looking for config files in the page cache");
    rep.copies = harvest_page_cache(in, rep, progress);
    choose_copy(rep.copies, in.img.banner);
    for (ConfigCopy& c : rep.copies)
      if (c.chosen) {
        kc.text = c.text;
        kc.options = parse_config(kc.text, kSourcePageCache);
        base_source = kSourcePageCache;
        rep.source = fmt::format("page cache: config file at physical {:#x} ({}, {} pages{})",
                                 c.phys, c.header, c.pages,
                                 c.missing_pages ? fmt::format(", {} missing", c.missing_pages)
                                                 : std::string());
      }
    if (base_source.empty())
      rep.notes.push_back(rep.copies.empty()
                              ? "no config file in the page cache"
                              : "config files in memory, none of the running kernel");
  }

  // 3. What memory proves; a file's value wins, a disagreement is reported.
  std::map<std::string, std::size_t> at;
  for (std::size_t i = 0; i < kc.options.size(); ++i) at.emplace(kc.options[i].name, i);
  rep.inferred = infer_options(in.img, in.symbols, in.types && in.types->has_btf());
  for (ConfigOption o : rep.inferred) {
    if (auto it = at.find(o.name); it != at.end()) {
      if (kc.options[it->second].value != o.value)
        rep.notes.push_back(fmt::format("{}: {} says {}, memory says {} ({})", o.name,
                                        base_source, kc.options[it->second].value, o.value,
                                        o.why));
      continue;
    }
    at.emplace(o.name, kc.options.size());
    kc.options.push_back(std::move(o));
  }
  if (base_source.empty()) {
    rep.source = "inferred from memory only";
    for (const ConfigOption& o : kc.options) kc.text += config_line(o) + "\n";
  }
  for (const ConfigOption& o : kc.options) ++rep.by_source[o.source];
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return kc;
}

}  // namespace tlpstub::kernel
