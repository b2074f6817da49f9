// The qRcmd ("monitor ...") framework: commands are registered together with their help text;
// output streams to gdb as `O` packets while a command runs.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "stub/target.hpp"

namespace tlpstub::stub {

struct MonitorCommand {
  std::string name;   // first word
  std::string usage;  // "v2p ADDR"
  std::string help;   // one line
  std::function<Result<void>(const std::vector<std::string_view>& args, const OutputFn& out)>
      run;
};

class MonitorRegistry {
 public:
  // Registers `help` itself on construction.
  MonitorRegistry();
  void add(MonitorCommand cmd);
  // Splits the line on blanks and runs the named command; unknown names are an error that
  // points at `monitor help`.
  Result<void> run(std::string_view line, const OutputFn& out) const;
  // "usage  - help" lines, aligned.
  std::string help_text() const;

 private:
  std::vector<MonitorCommand> commands_;
};

}  // namespace tlpstub::stub
