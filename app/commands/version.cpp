// monitor version: the kernel's linux_banner, as discovery found and confirmed it.
#include "app/commands/commands.hpp"

namespace tlpstub::app::commands {

namespace {

struct VersionRow {
  std::string banner;
  std::string release;
};

std::string to_text(const VersionRow& r) { return r.banner + "\n"; }

void to_json(JsonWriter& j, const VersionRow& r) {
  j.begin_object().field("banner", r.banner).field("release", r.release).end_object();
}

}  // namespace

stub::MonitorCommand version_command(SessionState& s) {
  stub::MonitorCommand c{"version", "version", "the kernel's banner (linux_banner)",
                         [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) {
                           const auto& img = *s.snapshot().discovery.image;
                           emit(a, VersionRow{img.banner, img.release}, out);
                           return Result<void>{};
                         }};
  c.needs = kNeedsKernel;
  return c;
}

}  // namespace tlpstub::app::commands
