#include "app/commands/commands.hpp"

namespace tlpstub::app::commands {

void register_all(stub::MonitorRegistry& r, SessionState& s) {
  r.add(phys_command(s));
  r.add(v2p_command(s));
  r.add(cr3_command(s));
  r.add(info_command(s));
  r.add(version_command(s));
  r.add(stats_command(s));
  r.add(type_command(s));
  r.add(offsets_command(s));
  r.add(profile_command(s));
  r.add(sym_command(s));
  r.add(modules_command(s));
  r.add(dmesg_command(s));
  r.add(kconfig_command(s));
  r.add(ps_command(s));
  r.add(task_command(s));
  r.add(bt_command(s));
  r.add(symbol_file_monitor_command(s));
  r.add(dump_command(s));
  // One message per missing requirement, whichever command needed it.
  r.provide(std::string(kNeedsSpace), [&s]() -> std::optional<Error> {
    if (s.snapshot().space) return std::nullopt;
    return s.no_space_error(0);
  });
  r.provide(std::string(kNeedsKernel), [&s]() -> std::optional<Error> {
    if (s.snapshot().discovery.image) return std::nullopt;
    return s.no_space_error(0);
  });
  // Types come after discovery, from a background recovery; wait for it within the request's
  // budget, as for discovery.
  r.provide(std::string(kNeedsTypes), [&s]() -> std::optional<Error> {
    if (!s.snapshot().discovery.image) return s.no_space_error(0);
    const TypesStatus t = s.context().wait_for_types(s.deadline());
    switch (t.state) {
      case TypesState::done: return std::nullopt;
      case TypesState::running:
        return Error{Errc::busy, "kernel types: BTF recovery still running; try again", 0};
      case TypesState::failed: return Error{Errc::not_found, "kernel types: " + t.message, 0};
      case TypesState::not_run: break;
    }
    return Error{Errc::not_found, "kernel types: not recovered", 0};
  });
  r.provide(std::string(kNeedsSymbols), [&s]() -> std::optional<Error> {
    if (!s.snapshot().discovery.image) return s.no_space_error(0);
    const SymbolsStatus& st = s.symbols();
    switch (st.state) {
      case DiscoveryState::done: return std::nullopt;
      case DiscoveryState::running:
        return Error{Errc::busy, "kernel symbols are still being recovered; try again shortly"};
      case DiscoveryState::failed:
        return Error{Errc::not_found, "kernel symbols could not be recovered: " + st.message};
      case DiscoveryState::not_run: break;
    }
    return Error{Errc::not_found, "kernel symbols not recovered (yet): 'monitor cr3 discover' "
                                  "recovers them with the kernel"};
  });
}

}  // namespace tlpstub::app::commands
