// The loaded modules as of this request (kernel/symbols/modules.hpp), for `monitor modules` and
// `monitor sym`: read live, since modules come and go, with the layout from the kernel's types.
#pragma once

#include <string>

#include "app/session_state.hpp"
#include "kernel/symbols/modules.hpp"

namespace tlpstub::app::commands {

// Reads the module list (and, with `with_symbols`, each module's symbols). Fails when there is
// no address space, no symbols or no types to read it with.
Result<kernel::ModuleList> modules_now(SessionState& s, bool with_symbols);

}  // namespace tlpstub::app::commands
