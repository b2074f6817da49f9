// Internal to kernel/linux/kconfig*.cpp: the page-cache harvest (kconfig_harvest.cpp).
#pragma once

#include "kernel/linux/kconfig.hpp"

namespace tlpstub::kernel {

// Probes every page of physical memory for config files and assembles them (kconfig.hpp,
// source 2). Reads are counted in `rep`; progress lines every 32 MiB probed.
std::vector<ConfigCopy> harvest_page_cache(const ConfigInputs& in, ConfigReport& rep,
                                           const ConfigProgress& progress);

}  // namespace tlpstub::kernel
