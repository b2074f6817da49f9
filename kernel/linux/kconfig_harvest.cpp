// Config files in the page cache (kconfig.hpp, source 2): a sparse probe of every page's first
// bytes, full reads of the pages that look like config text, their struct pages (which file,
// which page of it), and the files assembled from them.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "common/bytes.hpp"
#include "kernel/linux/kconfig_detail.hpp"

namespace tlpstub::kernel {

namespace {

constexpr std::uint64_t kPage = 4096;
// Bytes probed at the start of every page: enough for the header's first two lines, and for a
// config page's first "CONFIG_" or "#" in practice (Kconfig lines are short).
constexpr std::size_t kProbe = 64;
constexpr std::size_t kProbeBatch = 8192;   // ranges per read batch
constexpr std::size_t kPageBatch = 1024;    // whole pages per read batch
constexpr std::size_t kMaxCandidates = 1u << 16;  // 256 MiB of text pages: more is not configs
constexpr std::size_t kMaxFilePages = 1024;       // 4 MiB per config file
constexpr std::string_view kHeader = "#\n# Automatically generated file; DO NOT EDIT.\n";

// Default vmemmap bases (arch/x86/include/asm/pgtable_64_types.h), before KASLR's
// RANDOMIZE_MEMORY moves them; used only when neither VMCOREINFO nor the symbol says.
constexpr std::uint64_t kVmemmap4 = 0xffffea0000000000ull, kVmemmap5 = 0xffd4000000000000ull;

bool texty(std::uint8_t c) { return (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t'; }

// A struct page's mapping of a page-cache page: a kernel pointer with neither
// PAGE_MAPPING_ANON (1) nor PAGE_MAPPING_MOVABLE (2) set (include/linux/page-flags.h).
bool file_mapping(std::uint64_t m) { return m >= 0xff00000000000000ull && (m & 3) == 0; }

bool ends_file(const ProbedPage& p) {
  return std::find(p.bytes.begin(), p.bytes.end(), 0) != p.bytes.end();
}

std::string page_text(const ProbedPage& p) {
  auto nul = std::find(p.bytes.begin(), p.bytes.end(), 0);
  return std::string(p.bytes.begin(), nul);
}

void cut_after_last_newline(std::string& t) {
  const auto nl = t.rfind('\n');
  t.resize(nl == std::string::npos ? 0 : nl + 1);
}

struct Reads {
  const ConfigInputs& in;
  ConfigReport& rep;

  // Reads every range (one batch per `per_batch`); failed ranges come back false.
  std::vector<bool> batch(std::vector<ReadRange>& ranges, std::size_t per_batch) {
    std::vector<bool> ok(ranges.size());
    for (std::size_t i = 0; i < ranges.size(); i += per_batch) {
      const std::size_t n = std::min(per_batch, ranges.size() - i);
      std::vector<ReadStatus> st(n);
      in.mem.read(std::span(ranges).subspan(i, n), st);
      ++rep.reads;
      for (std::size_t k = 0; k < n; ++k) {
        ok[i + k] = st[k].has_value();
        rep.bytes += ranges[i + k].out.size();
      }
    }
    return ok;
  }
};

// Where RAM ends: the transport knows (a RAM file, --ram-size), or the kernel does: max_pfn
// (mm/memblock.c), one past the highest page frame it manages, a KALLSYMS_ALL symbol.
std::uint64_t ram_top(const ConfigInputs& in, ConfigReport& rep) {
  if (const std::uint64_t m = in.mem.info().max_address) return m;
  if (!in.symbols) return 0;
  for (const Symbol* s : in.symbols->find("max_pfn")) {
    auto v = in.as.read_u64(VirtAddr(s->address));
    if (!v || *v == 0 || *v > (1ull << (52 - 12))) continue;  // beyond x86-64's 52-bit PAs
    rep.notes.push_back(fmt::format("page cache: RAM size from the kernel's max_pfn ({:#x}): "
                                    "{} MiB", *v, (*v * kPage) >> 20));
    return *v * kPage;
  }
  return 0;
}

// Pages whose first bytes look like config text, with the whole page read.
std::vector<ProbedPage> probe(const ConfigInputs& in, ConfigReport& rep,
                              const ConfigProgress& progress) {
  std::vector<ProbedPage> found;
  const std::uint64_t max = ram_top(in, rep);
  if (max == 0) {
    rep.notes.push_back("page cache: the memory's size is unknown (no --ram-size, no max_pfn); "
                        "not probed");
    return found;
  }
  Reads rd{in, rep};
  std::vector<std::uint8_t> heads(kProbeBatch * kProbe);
  std::vector<std::uint64_t> cand;
  std::uint64_t next_report = 32ull << 20;
  for (std::uint64_t base = 0; base < max; base += kProbeBatch * kPage) {
    std::vector<ReadRange> r;
    for (std::uint64_t pa = base; pa < max && r.size() < kProbeBatch; pa += kPage)
      r.push_back({PhysAddr(pa), std::span(heads).subspan(r.size() * kProbe, kProbe)});
    const std::vector<bool> ok = rd.batch(r, r.size());
    rep.pages_probed += r.size();
    for (std::size_t i = 0; i < r.size(); ++i)
      if (ok[i] && (is_config_header(r[i].out) || looks_like_config(r[i].out)))
        cand.push_back(r[i].addr.value);
    if (cand.size() > kMaxCandidates) {
      rep.notes.push_back(fmt::format("page cache: more than {} text pages; stopped probing at "
                                      "{:#x}", kMaxCandidates, base));
      cand.resize(kMaxCandidates);
      break;
    }
    if (base + kProbeBatch * kPage >= next_report) {
      progress(fmt::format("kconfig: probed {} of {} MiB, {} pages look like config text",
                           std::min(base + kProbeBatch * kPage, max) >> 20, max >> 20,
                           cand.size()));
      next_report += 32ull << 20;
    }
  }
  found.resize(cand.size());
  std::vector<ReadRange> r;
  for (std::size_t i = 0; i < cand.size(); ++i) {
    found[i].pa = cand[i];
    found[i].bytes.resize(kPage);
    r.push_back({PhysAddr(cand[i]), found[i].bytes});
  }
  const std::vector<bool> ok = rd.batch(r, kPageBatch);
  std::vector<ProbedPage> kept;
  for (std::size_t i = 0; i < found.size(); ++i)
    if (ok[i]) kept.push_back(std::move(found[i]));
  return kept;
}

// Which file and which page of it: page->mapping and page->index from each page's struct page
// in vmemmap (include/linux/mm_types.h; offsets from BTF). One translation batch per level and
// one read batch for all of them.
void add_page_info(const ConfigInputs& in, std::vector<ProbedPage>& pages, ConfigReport& rep) {
  if (pages.empty()) return;
  if (!in.types) {
    rep.notes.push_back("page cache: no kernel types, so pages are ordered by physical adjacency");
    return;
  }
  auto size = in.types->struct_size("page");
  auto mapping = in.types->member("page", "mapping");
  auto index = in.types->member("page", "index");
  if (!size || !mapping || !index || *size < 32 || *size > 256 || mapping->size != 8 ||
      index->size != 8) {
    rep.notes.push_back("page cache: struct page.mapping/index unknown; pages ordered by "
                        "physical adjacency");
    return;
  }
  std::uint64_t vmemmap = in.img.vmemmap_base;
  std::string from = "discovery";
  if (!vmemmap && in.symbols) {
    for (const Symbol* s : in.symbols->find("vmemmap_base"))
      if (auto v = in.as.read_u64(VirtAddr(s->address))) {
        vmemmap = *v;
        from = "the vmemmap_base variable";
      }
  }
  if (!vmemmap) {
    vmemmap = in.img.levels == 5 ? kVmemmap5 : kVmemmap4;
    from = "the default (no KASLR of memory regions)";
  }
  std::vector<VirtAddr> vas;
  for (const ProbedPage& p : pages) vas.push_back(VirtAddr(vmemmap + (p.pa / kPage) * *size));
  auto tr = in.as.walker().translate_many(in.as.top(), vas);
  std::vector<std::vector<std::uint8_t>> raw(pages.size(), std::vector<std::uint8_t>(*size));
  std::vector<ReadRange> r;
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < pages.size(); ++i)
    if (tr[i] && (tr[i]->phys.value & (kPage - 1)) + *size <= kPage) {
      r.push_back({tr[i]->phys, raw[i]});
      which.push_back(i);
    }
  const std::vector<bool> ok = Reads{in, rep}.batch(r, kPageBatch);
  std::size_t known = 0;
  for (std::size_t k = 0; k < which.size(); ++k) {
    if (!ok[k]) continue;
    ProbedPage& p = pages[which[k]];
    p.mapping = load_le64(raw[which[k]].data() + mapping->offset);
    p.index = load_le64(raw[which[k]].data() + index->offset);
    p.has_page_info = true;
    known += file_mapping(p.mapping);
  }
  rep.notes.push_back(fmt::format("page cache: {} of {} text pages belong to a file (struct page "
                                  "in vmemmap at {:#x}, from {})",
                                  known, pages.size(), vmemmap, from));
}

}  // namespace

bool is_config_header(std::span<const std::uint8_t> head) {
  return head.size() >= kHeader.size() &&
         std::equal(kHeader.begin(), kHeader.end(), head.begin());
}

bool looks_like_config(std::span<const std::uint8_t> head) {
  std::size_t n = 0;
  while (n < head.size() && head[n] != 0) {
    if (!texty(head[n])) return false;
    ++n;
  }
  for (std::size_t i = n; i < head.size(); ++i)
    if (head[i] != 0) return false;  // text, then only the zeros after a file's end
  const std::string_view s(reinterpret_cast<const char*>(head.data()), n);
  return s.find('\n') != std::string_view::npos &&
         (s.find("CONFIG_") != std::string_view::npos || s.find('#') != std::string_view::npos);
}

std::vector<ConfigCopy> assemble_copies(const std::vector<ProbedPage>& pages) {
  std::map<std::uint64_t, const ProbedPage*> by_pa;
  std::map<std::uint64_t, std::map<std::uint64_t, const ProbedPage*>> by_file;
  for (const ProbedPage& p : pages) {
    by_pa[p.pa] = &p;
    if (p.has_page_info && file_mapping(p.mapping)) by_file[p.mapping][p.index] = &p;
  }
  std::vector<ConfigCopy> out;
  for (const ProbedPage& head : pages) {
    if (!is_config_header(head.bytes)) continue;
    ConfigCopy c;
    c.phys = head.pa;
    const bool by_index = head.has_page_info && file_mapping(head.mapping) && head.index == 0;
    c.ordered_by = by_index ? "struct page index" : "physical adjacency";
    std::string text = page_text(head);
    const ProbedPage* cur = &head;
    std::uint64_t idx = 0;
    std::size_t pages_used = 1;
    while (!ends_file(*cur) && pages_used < kMaxFilePages) {
      const ProbedPage* next = nullptr;
      bool gap = false;
      auto adj = by_pa.find(cur->pa + kPage);
      // A physically following page of no file of its own: the tail of a large folio, or
      // (ordered by adjacency) simply the next page.
      const bool adj_free = adj != by_pa.end() &&
                            !(adj->second->has_page_info && file_mapping(adj->second->mapping));
      if (by_index) {
        const auto& f = by_file[head.mapping];
        auto it = f.upper_bound(idx);
        if (it != f.end() && it->first == idx + 1) {
          next = it->second;
          idx = it->first;
        } else if (adj_free) {
          next = adj->second;
          ++idx;
        } else if (it != f.end()) {
          next = it->second;
          c.missing_pages += it->first - idx - 1;
          idx = it->first;
          gap = true;
        }
      } else if (adj != by_pa.end()) {
        next = adj->second;
      }
      if (!next || is_config_header(next->bytes)) break;  // another file starts there
      std::string t = page_text(*next);
      if (gap) {  // lines cut by the missing pages are dropped, not spliced
        cut_after_last_newline(text);
        const auto nl = t.find('\n');
        t.erase(0, nl == std::string::npos ? t.size() : nl + 1);
      }
      text += t;
      cur = next;
      ++pages_used;
    }
    if (!ends_file(*cur)) cut_after_last_newline(text);  // the end was not found
    c.pages = pages_used;
    c.bytes = text.size();
    c.header = config_header(text);
    const std::vector<ConfigOption> opts = parse_config(text, kSourcePageCache);
    c.options = opts.size();
    for (const ConfigOption& o : opts)
      if (o.name == "CONFIG_CC_VERSION_TEXT") c.cc_version = o.value;
    c.text = std::move(text);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<ConfigCopy> harvest_page_cache(const ConfigInputs& in, ConfigReport& rep,
                                           const ConfigProgress& progress) {
  std::vector<ProbedPage> pages = probe(in, rep, progress);
  const auto headers = std::count_if(pages.begin(), pages.end(), [](const ProbedPage& p) {
    return is_config_header(p.bytes);
  });
  rep.notes.push_back(fmt::format("page cache: probed {} pages ({} bytes each), {} look like "
                                  "config text, {} start a config file",
                                  rep.pages_probed, kProbe, pages.size(), headers));
  if (headers == 0) return {};
  add_page_info(in, pages, rep);
  return assemble_copies(pages);
}

}  // namespace tlpstub::kernel
