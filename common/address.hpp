// Distinct types for physical and virtual addresses, so they cannot be mixed by accident.
#pragma once

#include <compare>
#include <cstdint>

namespace tlpstub {

struct PhysAddr {
  std::uint64_t value = 0;
  constexpr PhysAddr() = default;
  constexpr explicit PhysAddr(std::uint64_t v) : value(v) {}
  constexpr PhysAddr operator+(std::uint64_t d) const { return PhysAddr(value + d); }
  constexpr auto operator<=>(const PhysAddr&) const = default;
};

struct VirtAddr {
  std::uint64_t value = 0;
  constexpr VirtAddr() = default;
  constexpr explicit VirtAddr(std::uint64_t v) : value(v) {}
  constexpr VirtAddr operator+(std::uint64_t d) const { return VirtAddr(value + d); }
  constexpr auto operator<=>(const VirtAddr&) const = default;
};

inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t kPageMask = kPageSize - 1;

}  // namespace tlpstub
