// The qRcmd ("monitor ...") framework: commands are registered together with their help text;
// output streams to gdb as `O` packets while a command runs.
//
// The registry does what every command would otherwise repeat: it splits the line, parses the
// common flags (`--json`, `-n N`, a pattern), checks the number of arguments against the
// command's usage, checks what the command needs (e.g. a discovered kernel) and prints the one
// shared message when that is missing, and answers `help [CMD]`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "stub/target.hpp"

namespace tlpstub::stub {

// A command line after the common flags were taken out.
struct MonitorArgs {
  std::vector<std::string_view> words;    // positional arguments, in order
  bool json = false;                      // --json: one JSON object per result row
  std::optional<std::uint64_t> count;     // -n N (only for commands with takes_count)
  std::optional<std::string_view> pattern;  // the first word, for commands with takes_pattern
  // Values of the command's own options (MonitorCommand::value_options): {"--out", "F"}.
  std::map<std::string, std::string_view, std::less<>> values;
  std::vector<std::string_view> switches;   // the command's own --flags that were given
  // A long command's stop check (Target::monitor_long); unset: never stops early.
  StopFn stop;

  // True once gdb moved on: a long command checks it between steps and ends.
  bool stop_requested() const { return stop && stop(); }

  bool has(std::string_view sw) const {
    for (std::string_view s : switches)
      if (s == sw) return true;
    return false;
  }
};

struct MonitorCommand {
  using RunFn = std::function<Result<void>(const MonitorArgs& args, const OutputFn& out)>;
  MonitorCommand(std::string name_, std::string usage_, std::string help_, RunFn run_,
                 std::size_t min_words_ = 0, std::size_t max_words_ = 0)
      : name(std::move(name_)), usage(std::move(usage_)), help(std::move(help_)),
        run(std::move(run_)), min_words(min_words_), max_words(max_words_) {}

  std::string name;   // first word
  std::string usage;  // "v2p ADDR"
  std::string help;   // one line
  RunFn run;
  std::size_t min_words = 0, max_words = 0;  // positional arguments accepted
  bool takes_count = false;                  // -n N
  bool takes_pattern = false;                // first word is a pattern
  // Options of this command that take one value ("--out" FILE), with their help lines.
  struct ValueOption {
    std::string name, value_name, help;
  };
  std::vector<ValueOption> value_options;
  std::vector<std::string> switches;         // --flags of its own ("--threads"), with no value
  // A requirement the target provides (MonitorRegistry::provide), checked before run; empty:
  // none.
  std::string needs;
  // Runs with no reply deadline for as long as it takes (stub/long_request.hpp), checking
  // MonitorArgs::stop_requested() between steps.
  bool long_running = false;
};

class MonitorRegistry {
 public:
  using Check = std::function<std::optional<Error>()>;

  // Registers `help [CMD]` itself on construction.
  MonitorRegistry();
  // Two commands with one name are a programming error: std::logic_error.
  void add(MonitorCommand cmd);
  // Declares requirement `need`: `check` says why it is not met (nullopt: met).
  void provide(std::string need, Check check);
  // Splits the line on blanks and runs the named command; unknown names, bad flags and a wrong
  // number of arguments are errors that name the usage.
  Result<void> run(std::string_view line, const OutputFn& out, const StopFn& stop = {}) const;
  // Whether the line names a long-running command.
  bool is_long(std::string_view line) const;
  // Called when a long command starts, after its requirements were checked within the
  // request's budget (the target lifts the reply deadline there).
  void on_long_start(std::function<void()> f) { long_start_ = std::move(f); }
  // "usage  - help" lines, aligned.
  std::string help_text() const;
  // `help CMD`: usage, help line, flags and needs of one command.
  Result<std::string> help_text(std::string_view name) const;
  // Every command, `help` first, in registration order (the generated reference).
  const std::vector<MonitorCommand>& commands() const { return commands_; }

 private:
  const MonitorCommand* find(std::string_view name) const;
  Result<MonitorArgs> parse(const MonitorCommand& c, std::vector<std::string_view> words) const;

  std::vector<MonitorCommand> commands_;
  std::map<std::string, Check, std::less<>> needs_;
  std::function<void()> long_start_;
};

}  // namespace tlpstub::stub
