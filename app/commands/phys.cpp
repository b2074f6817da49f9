// monitor phys [on|off]: gdb's memory accesses use physical or kernel virtual addresses, like
// QEMU's PhyMemMode.
#include "app/commands/commands.hpp"

namespace tlpstub::app::commands {

namespace {

struct PhysRow {
  bool on = false;
};

std::string to_text(const PhysRow& r) {
  return r.on ? "memory accesses use physical addresses\n"
              : "memory accesses use kernel virtual addresses\n";
}

void to_json(JsonWriter& j, const PhysRow& r) { j.begin_object().field("phys", r.on).end_object(); }

}  // namespace

stub::MonitorCommand phys_command(SessionState& s) {
  return {"phys", "phys [on|off]",
          "gdb memory accesses use physical (on) or kernel virtual (off) addresses",
          [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) -> Result<void> {
            if (!a.words.empty()) {
              if (a.words[0] != "on" && a.words[0] != "off")
                return fail(Errc::invalid_argument, "usage: monitor phys [on|off]");
              s.set_phys_mode(a.words[0] == "on");
            }
            emit(a, PhysRow{s.phys_mode()}, out);
            return {};
          },
          0, 1};
}

}  // namespace tlpstub::app::commands
