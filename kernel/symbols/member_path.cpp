#include "kernel/symbols/member_path.hpp"

#include <fmt/format.h>

namespace tlpstub::kernel {

Result<std::vector<std::string_view>> split_member_path(std::string_view path) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    if (parts.size() >= kMaxMemberPathParts)
      return std::unexpected(Error{Errc::invalid_argument, "member path too long", 0});
    const std::size_t dot = path.find('.', start);
    const std::string_view part =
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty())
      return std::unexpected(
          Error{Errc::invalid_argument, fmt::format("bad member path '{}'", path), 0});
    parts.push_back(part);
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

}  // namespace tlpstub::kernel
