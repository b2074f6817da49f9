#include "stub/monitor.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <stdexcept>

#include "common/json.hpp"
#include "common/parse.hpp"

namespace tlpstub::stub {

MonitorRegistry::MonitorRegistry() {
  // The listing is byte-for-byte what gdb sessions recorded (tests/stub/transcript_test.cpp);
  // `help help` tells of `help CMD` and --json.
  add({"help", "help", "list monitor commands",
       [this](const MonitorArgs& a, const OutputFn& out) -> Result<void> {
         if (a.words.empty() && a.json) {
           std::string s = "[";
           for (const MonitorCommand& c : commands_)
             s += fmt::format("{}{{\"name\":{},\"usage\":{},\"help\":{}}}",
                              s.size() > 1 ? "," : "", json_quote(c.name),
                              json_quote(c.usage), json_quote(c.help));
           out(s + "]\n");
           return {};
         }
         if (a.words.empty()) {
           out(help_text());
           return {};
         }
         auto h = help_text(a.words[0]);
         if (!h) return std::unexpected(h.error());
         out(*h);
         return {};
       },
       0, 1});
}

void MonitorRegistry::add(MonitorCommand cmd) {
  if (find(cmd.name))
    throw std::logic_error(fmt::format("monitor command '{}' registered twice", cmd.name));
  commands_.push_back(std::move(cmd));
}

void MonitorRegistry::provide(std::string need, Check check) {
  needs_[std::move(need)] = std::move(check);
}

const MonitorCommand* MonitorRegistry::find(std::string_view name) const {
  auto it = std::find_if(commands_.begin(), commands_.end(),
                         [&](const MonitorCommand& c) { return c.name == name; });
  return it == commands_.end() ? nullptr : &*it;
}

Result<MonitorArgs> MonitorRegistry::parse(const MonitorCommand& c,
                                           std::vector<std::string_view> words) const {
  MonitorArgs a;
  auto usage = [&] {
    return fail(Errc::invalid_argument, fmt::format("usage: monitor {}", c.usage));
  };
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string_view w = words[i];
    if (w == "--json") {
      a.json = true;
    } else if (w == "-n" && c.takes_count) {
      if (i + 1 == words.size()) return usage();
      auto n = parse_u64(words[++i], 0);
      if (!n)
        return fail(Errc::invalid_argument, fmt::format("{}: -n takes a number, not '{}'",
                                                        c.name, words[i]));
      a.count = *n;
    } else if (auto o = std::find_if(c.value_options.begin(), c.value_options.end(),
                                      [&](const auto& v) { return v.name == w; });
               o != c.value_options.end()) {
      if (i + 1 == words.size())
        return fail(Errc::invalid_argument,
                    fmt::format("{}: {} takes a {}", c.name, w, o->value_name));
      a.values[o->name] = words[++i];
    } else if (w.starts_with("--") &&
               std::find(c.switches.begin(), c.switches.end(), w) != c.switches.end()) {
      a.switches.push_back(w);
    } else if (w.starts_with("--")) {
      return fail(Errc::invalid_argument,
                  fmt::format("{}: unknown option '{}'; try 'monitor help {}'", c.name, w,
                              c.name));
    } else {
      a.words.push_back(w);
    }
  }
  if (a.words.size() < c.min_words || a.words.size() > c.max_words) return usage();
  if (c.takes_pattern && !a.words.empty()) a.pattern = a.words[0];
  return a;
}

namespace {

std::vector<std::string_view> monitor_words(std::string_view line) {
  std::vector<std::string_view> words;
  for (std::string_view w : split(trim(line), ' '))
    if (!trim(w).empty()) words.push_back(trim(w));
  return words;
}

}  // namespace

bool MonitorRegistry::is_long(std::string_view line) const {
  const std::vector<std::string_view> words = monitor_words(line);
  const MonitorCommand* c = words.empty() ? nullptr : find(words[0]);
  return c && c->long_running;
}

Result<void> MonitorRegistry::run(std::string_view line, const OutputFn& out,
                                  const StopFn& stop) const {
  std::vector<std::string_view> words = monitor_words(line);
  if (words.empty()) {
    out(help_text());
    return {};
  }
  const MonitorCommand* c = find(words[0]);
  if (!c)
    return fail(Errc::invalid_argument,
                fmt::format("unknown monitor command '{}'; try 'monitor help'", words[0]));
  words.erase(words.begin());
  auto args = parse(*c, std::move(words));
  if (!args) return std::unexpected(args.error());
  if (!c->needs.empty()) {
    auto it = needs_.find(c->needs);
    if (it == needs_.end())
      throw std::logic_error(fmt::format("monitor command '{}' needs '{}', which nothing provides",
                                         c->name, c->needs));
    if (auto missing = it->second()) return std::unexpected(std::move(*missing));
  }
  args->stop = stop;
  if (c->long_running && long_start_) long_start_();
  return c->run(*args, out);
}

std::string MonitorRegistry::help_text() const {
  std::size_t width = 0;
  for (const MonitorCommand& c : commands_) width = std::max(width, c.usage.size());
  std::string out;
  for (const MonitorCommand& c : commands_)
    out += fmt::format("{:<{}}  {}\n", c.usage, width, c.help);
  return out;
}

Result<std::string> MonitorRegistry::help_text(std::string_view name) const {
  const MonitorCommand* c = find(name);
  if (!c)
    return fail(Errc::invalid_argument,
                fmt::format("unknown monitor command '{}'; try 'monitor help'", name));
  std::string out = fmt::format("monitor {}\n  {}\n", c->usage, c->help);
  if (c->name == "help") out += "  help CMD  describes one command\n";
  if (c->takes_count) out += "  -n N    at most N results\n";
  for (const MonitorCommand::ValueOption& o : c->value_options)
    out += fmt::format("  {} {}  {}\n", o.name, o.value_name, o.help);
  out += "  --json  the result as JSON, for scripts\n";
  if (!c->needs.empty()) out += fmt::format("  needs {}\n", c->needs);
  return out;
}

}  // namespace tlpstub::stub
