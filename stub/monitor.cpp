#include "stub/monitor.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "common/parse.hpp"

namespace tlpstub::stub {

MonitorRegistry::MonitorRegistry() {
  add({"help", "help", "list monitor commands",
       [this](const std::vector<std::string_view>&, const OutputFn& out) -> Result<void> {
         out(help_text());
         return {};
       }});
}

void MonitorRegistry::add(MonitorCommand cmd) {
  auto it = std::find_if(commands_.begin(), commands_.end(),
                         [&](const MonitorCommand& c) { return c.name == cmd.name; });
  if (it != commands_.end())
    *it = std::move(cmd);
  else
    commands_.push_back(std::move(cmd));
}

Result<void> MonitorRegistry::run(std::string_view line, const OutputFn& out) const {
  std::vector<std::string_view> words;
  for (std::string_view w : split(trim(line), ' '))
    if (!trim(w).empty()) words.push_back(trim(w));
  if (words.empty()) {
    out(help_text());
    return {};
  }
  for (const MonitorCommand& c : commands_)
    if (c.name == words[0]) {
      words.erase(words.begin());
      return c.run(words, out);
    }
  return fail(Errc::invalid_argument,
              fmt::format("unknown monitor command '{}'; try 'monitor help'", words[0]));
}

std::string MonitorRegistry::help_text() const {
  std::size_t width = 0;
  for (const MonitorCommand& c : commands_) width = std::max(width, c.usage.size());
  std::string out;
  for (const MonitorCommand& c : commands_)
    out += fmt::format("{:<{}}  {}\n", c.usage, width, c.help);
  return out;
}

}  // namespace tlpstub::stub
