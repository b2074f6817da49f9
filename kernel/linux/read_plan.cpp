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

ReadPlan::ReadPlan(std::vector<Field> fields) {
  std::erase_if(fields, [](const Field& f) { return !f.present || f.size == 0; });
  std::sort(fields.begin(), fields.end(),
            [](const Field& a, const Field& b) { return a.offset < b.offset; });
  for (const Field& f : fields) {
    if (!pieces_.empty() && f.offset <= pieces_.back().first + pieces_.back().second)
      pieces_.back().second = std::max(pieces_.back().first + pieces_.back().second, f.end()) -
                              pieces_.back().first;
    else
      pieces_.push_back({f.offset, f.size});
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

ReadSpans ReadPlan::group(std::uint64_t addr) const {
  // best[i]: the cheapest reads of pieces [0, i); from[i]: where the last group of those starts.
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
  }
  ReadSpans out;
  for (std::size_t i = n; i > 0; i = from[i])
    out.push_back({pieces_[from[i]].first, end(i - 1) - pieces_[from[i]].first});
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace tlpstub::kernel
