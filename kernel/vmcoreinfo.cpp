#include "kernel/vmcoreinfo.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

namespace tlpstub::kernel {

namespace {

constexpr std::size_t kMaxProblems = 16;
// Page starts probed per PhysicalMemory::read: big enough that the NetTLP client keeps all its
// tags busy, small enough that a hit early in the order stops the scan early.
constexpr std::size_t kProbeBatch = 4096;
constexpr std::size_t kProbeBytes = 16;

bool key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '(' || c == ')' || c == '.' || c == '-';
}

bool text_char(std::uint8_t c) { return c == '\n' || (c >= 0x20 && c < 0x7f); }

void add_problem(Vmcoreinfo& v, std::string p) {
  if (v.problems.size() < kMaxProblems) v.problems.push_back(std::move(p));
}

std::optional<std::uint64_t> parse_unsigned(std::string_view s, int base) {
  if (base == 16 && s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) s.remove_prefix(2);
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string keyed(std::string_view kind, std::string_view name) {
  std::string k(kind);
  k += '(';
  k += name;
  k += ')';
  return k;
}

}  // namespace

const std::string* Vmcoreinfo::get(std::string_view key) const {
  auto it = entries.find(std::string(key));
  return it == entries.end() ? nullptr : &it->second;
}

std::string Vmcoreinfo::osrelease() const {
  const std::string* v = get("OSRELEASE");
  return v ? *v : std::string();
}

std::string Vmcoreinfo::build_id() const {
  const std::string* v = get("BUILD-ID");
  return v ? *v : std::string();
}

std::optional<std::uint64_t> Vmcoreinfo::symbol(std::string_view name) const {
  const std::string* v = get(keyed("SYMBOL", name));
  return v ? parse_unsigned(*v, 16) : std::nullopt;
}

std::optional<std::uint64_t> Vmcoreinfo::number(std::string_view name) const {
  const std::string* v = get(keyed("NUMBER", name));
  if (!v) return std::nullopt;
  std::string_view s = *v;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) return parse_unsigned(s, 16);
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  auto mag = parse_unsigned(s, 10);
  if (!mag) return std::nullopt;
  if (negative) {
    if (*mag > (1ull << 63)) return std::nullopt;  // below INT64_MIN: not something %ld prints
    return ~*mag + 1;
  }
  return mag;
}

std::optional<std::uint64_t> Vmcoreinfo::offset(std::string_view type_field) const {
  const std::string* v = get(keyed("OFFSET", type_field));
  return v ? parse_unsigned(*v, 10) : std::nullopt;
}

std::optional<std::uint64_t> Vmcoreinfo::size(std::string_view type) const {
  const std::string* v = get(keyed("SIZE", type));
  return v ? parse_unsigned(*v, 10) : std::nullopt;
}

std::optional<std::uint64_t> Vmcoreinfo::kerneloffset() const {
  const std::string* v = get("KERNELOFFSET");
  return v ? parse_unsigned(*v, 16) : std::nullopt;
}

bool starts_like_vmcoreinfo(std::span<const std::uint8_t> head) {
  if (head.size() < kVmcoreinfoMagic.size()) return false;
  return std::equal(kVmcoreinfoMagic.begin(), kVmcoreinfoMagic.end(), head.begin(),
                    [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; });
}

Result<Vmcoreinfo> parse_vmcoreinfo(std::span<const std::uint8_t> page) {
  Vmcoreinfo v;
  const std::size_t limit = std::min(page.size(), kVmcoreinfoMaxBytes);
  std::size_t n = 0;
  while (n < limit && page[n] != 0 && text_char(page[n])) ++n;
  v.text_length = n;
  v.ended_by_nul = n < limit && page[n] == 0;
  if (n < limit && page[n] != 0)
    add_problem(v, fmt::format("text ends at byte {} with {:#04x} (not text)", n, page[n]));
  const std::string_view text(reinterpret_cast<const char*>(page.data()), n);

  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) {
      add_problem(v, fmt::format("incomplete last line at byte {} dropped: '{}'", pos,
                                 text.substr(pos, 40)));
      break;
    }
    const std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty()) continue;
    const std::size_t eq = line.find('=');
    const std::string_view key = line.substr(0, eq);
    if (eq == std::string_view::npos || key.empty() ||
        !std::all_of(key.begin(), key.end(), key_char)) {
      add_problem(v, fmt::format("malformed line '{}'", line.substr(0, 60)));
      continue;
    }
    auto [it, inserted] = v.entries.emplace(std::string(key), std::string(line.substr(eq + 1)));
    if (!inserted) add_problem(v, fmt::format("duplicate key {} ignored", key));
  }

  // crash_save_vmcoreinfo_init writes OSRELEASE first, at offset 0 of the page.
  if (!text.starts_with(kVmcoreinfoMagic) || !v.get("OSRELEASE") || v.osrelease().empty())
    return fail(Errc::not_found, "no complete OSRELEASE= line at the start: not VMCOREINFO");
  return v;
}

std::optional<VmcoreinfoHit> scan_for_vmcoreinfo(
    PhysicalMemory& mem, std::span<const PhysRange> order, std::uint64_t max_pages,
    const std::function<bool(const VmcoreinfoHit&)>& accept, VmcoreinfoScanStats* stats) {
  VmcoreinfoScanStats local;
  VmcoreinfoScanStats& st = stats ? *stats : local;

  // The pages to probe, in order, each once.
  std::vector<PhysRange> todo;
  for (const PhysRange& r : order) {
    const std::uint64_t b = r.begin & ~kPageMask;
    const std::uint64_t e = (r.end + kPageMask) & ~kPageMask;
    if (e <= b) continue;
    // Subtract what earlier ranges already cover (few ranges: quadratic is fine).
    std::vector<PhysRange> pieces{{b, e, r.downward}};
    for (const PhysRange& done : todo) {
      std::vector<PhysRange> next;
      for (const PhysRange& p : pieces) {
        if (done.end <= p.begin || done.begin >= p.end) {
          next.push_back(p);
          continue;
        }
        if (p.begin < done.begin) next.push_back({p.begin, done.begin, p.downward});
        if (done.end < p.end) next.push_back({done.end, p.end, p.downward});
      }
      pieces = std::move(next);
    }
    if (r.downward) std::reverse(pieces.begin(), pieces.end());  // the highest piece first
    todo.insert(todo.end(), pieces.begin(), pieces.end());
  }

  std::vector<std::uint64_t> pages;
  std::vector<std::array<std::uint8_t, kProbeBytes>> heads;
  std::vector<ReadRange> ranges;
  std::vector<ReadStatus> results;
  std::array<std::uint8_t, kPageSize> page{};

  auto flush = [&]() -> std::optional<VmcoreinfoHit> {
    heads.resize(pages.size());
    ranges.clear();
    for (std::size_t i = 0; i < pages.size(); ++i)
      ranges.push_back({PhysAddr(pages[i]), std::span<std::uint8_t>(heads[i])});
    results.assign(ranges.size(), ReadStatus{});
    mem.read(ranges, results);
    st.pages_probed += pages.size();
    for (std::size_t i = 0; i < pages.size(); ++i) {
      if (!results[i] || !starts_like_vmcoreinfo(heads[i])) continue;
      ++st.hits;
      if (!mem.read_one(PhysAddr(pages[i]), page)) {
        ++st.rejected;
        continue;
      }
      auto parsed = parse_vmcoreinfo(page);
      if (!parsed) {
        ++st.rejected;
        continue;
      }
      VmcoreinfoHit hit{PhysAddr(pages[i]), std::move(*parsed)};
      if (accept(hit)) return hit;
      ++st.rejected;
    }
    pages.clear();
    return std::nullopt;
  };

  for (const PhysRange& r : todo) {
    const std::uint64_t n = (r.end - r.begin) / kPageSize;
    for (std::uint64_t k = 0; k < n; ++k) {
      const std::uint64_t p = r.downward ? r.end - (k + 1) * kPageSize : r.begin + k * kPageSize;
      if (st.pages_probed + pages.size() >= max_pages) {
        st.budget_exhausted = true;
        return flush();
      }
      pages.push_back(p);
      if (pages.size() == kProbeBatch)
        if (auto hit = flush()) return hit;
    }
  }
  return flush();
}

}  // namespace tlpstub::kernel
