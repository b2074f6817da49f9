#include "kernel/linux/read_plan.hpp"

#include <algorithm>

namespace tlpstub::kernel {

namespace {
constexpr std::uint64_t kPlanRequestBytes = 512, kPlanCompletionBytes = 256,
                        kPlanCompletionBoundary = 64, kPlanPage = 4096;
}  // namespace

std::uint64_t read_datagrams(std::uint64_t va, std::uint64_t size) {
  std::uint64_t n = 0;
  for (std::uint64_t a = va, end = va + size; a < end;) {
    const std::uint64_t req_end = std::min(end, (a | (kPlanRequestBytes - 1)) + 1);
    ++n;  // the request
    for (std::uint64_t c = a; c < req_end; ++n) {
      // A completion carries dwords from the aligned start, up to 256 bytes, ending on the RCB.
      const std::uint64_t next =
          ((c & ~std::uint64_t{3}) + kPlanCompletionBytes) & ~(kPlanCompletionBoundary - 1);
      c = std::min(req_end, next > c ? next : c + kPlanCompletionBytes);
    }
    a = req_end;
  }
  return n;
}

ReadPlan::ReadPlan(std::vector<Field> fields, std::vector<Field> if_free) {
  auto absent = [](const Field& f) { return !f.present || f.size == 0; };
  std::erase_if(fields, absent);
  std::erase_if(if_free, absent);
  std::vector<std::pair<Field, bool>> all;  // (field, needed)
  for (const Field& f : fields) all.push_back({f, true});
  for (const Field& f : if_free) all.push_back({f, false});
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.first.offset < b.first.offset; });
  for (const auto& [f, need] : all) {
    if (!pieces_.empty() && f.offset <= pieces_.back().first + pieces_.back().second) {
      pieces_.back().second = std::max(pieces_.back().first + pieces_.back().second, f.end()) -
                              pieces_.back().first;
      needed_.back() = needed_.back() || need;
    } else {
      pieces_.push_back({f.offset, f.size});
      needed_.push_back(need);
    }
  }
  if (pieces_.empty()) return;
  base = pieces_.front().first;
  extent = pieces_.back().first + pieces_.back().second - base;
}

const ReadSpans& ReadPlan::spans(std::uint64_t addr) {
  auto [it, fresh] = memo_.try_emplace(addr % kPlanPage);
  if (fresh) it->second = group(addr);
  return it->second;
}

bool ReadPlan::reads(std::uint64_t addr, const Field& f) {
  if (!f.present) return false;
  for (auto [off, size] : spans(addr))
    if (f.offset >= off && f.end() <= off + size) return true;
  return false;
}

ReadSpans ReadPlan::group(std::uint64_t addr) const {
  // best[i]: the cheapest reads of pieces [0, i); from[i]: where the last group of those
  // starts, or kSkip when piece i - 1 is left out (only "if free" ones may be). Ties prefer a
  // group (reading more for the same cost), so a free optional piece is read.
  constexpr std::size_t kSkip = ~std::size_t{0};
  const std::size_t n = pieces_.size();
  std::vector<std::uint64_t> best(n + 1, 0);
  std::vector<std::size_t> from(n + 1, 0);
  auto end = [&](std::size_t i) { return pieces_[i].first + pieces_[i].second; };
  for (std::size_t i = 1; i <= n; ++i) {
    best[i] = ~std::uint64_t{0};
    for (std::size_t j = 0; j < i; ++j) {
      const std::uint64_t c =
          best[j] + read_datagrams(addr + pieces_[j].first, end(i - 1) - pieces_[j].first);
      if (c < best[i]) best[i] = c, from[i] = j;
    }
    if (!needed_[i - 1] && best[i - 1] < best[i]) best[i] = best[i - 1], from[i] = kSkip;
  }
  ReadSpans out;
  for (std::size_t i = n; i > 0;) {
    if (from[i] == kSkip) {
      --i;
      continue;
    }
    out.push_back({pieces_[from[i]].first, end(i - 1) - pieces_[from[i]].first});
    i = from[i];
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace tlpstub::kernel
