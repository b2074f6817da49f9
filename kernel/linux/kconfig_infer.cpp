// Options the memory itself proves (kconfig.hpp, source 3). Only positive facts: the absence
// of a symbol or flag proves little (IKCONFIG=m, symbols renamed across versions).
#include <fmt/format.h>

#include <cstdio>

#include "kernel/linux/kconfig.hpp"

namespace tlpstub::kernel {

namespace {

bool has(const SymbolTable* s, std::string_view name) { return s && !s->find(name).empty(); }

// The build flags in UTS_VERSION: "#1 SMP PREEMPT_DYNAMIC Debian ..." (scripts/mkcompile_h
// up to 6.0, init/Makefile's utsversion from 6.1: SMP, then one of PREEMPT_RT,
// PREEMPT_DYNAMIC, PREEMPT since 5.18, commit "sched/preempt: Tell about PREEMPT_DYNAMIC on
// kernel headers").
std::vector<std::string_view> uts_flags(std::string_view banner) {
  std::vector<std::string_view> flags;
  std::size_t at = banner.rfind(") #");
  if (at == std::string_view::npos) return flags;
  std::size_t p = banner.find(' ', at + 3);  // after "#<build number>"
  while (p != std::string_view::npos && p + 1 < banner.size()) {
    const std::size_t e = banner.find(' ', p + 1);
    const std::string_view w =
        banner.substr(p + 1, e == std::string_view::npos ? std::string_view::npos : e - p - 1);
    if (w != "SMP" && w != "PREEMPT" && w != "PREEMPT_DYNAMIC" && w != "PREEMPT_RT") break;
    flags.push_back(w);
    p = e;
  }
  return flags;
}

}  // namespace

std::vector<ConfigOption> infer_options(const KernelImage& img, const SymbolTable* symbols,
                                        bool btf) {
  std::vector<ConfigOption> out;
  auto add = [&](std::string name, std::string value, std::string why) {
    for (const ConfigOption& o : out)
      if (o.name == name) return;
    out.push_back({std::move(name), std::move(value), std::string(kSourceInferred), std::move(why)});
  };
  for (std::string_view f : uts_flags(img.banner)) {
    const std::string why = fmt::format("\"{}\" in the banner's UTS_VERSION", f);
    if (f == "SMP") add("CONFIG_SMP", "y", why);
    if (f == "PREEMPT_RT") add("CONFIG_PREEMPT_RT", "y", why);
    if (f == "PREEMPT_DYNAMIC") {
      add("CONFIG_PREEMPT_DYNAMIC", "y", why);
      add("CONFIG_PREEMPT_BUILD", "y", why + " (PREEMPT_DYNAMIC selects it)");
    }
    if (f == "PREEMPT") add("CONFIG_PREEMPT_BUILD", "y", why);
  }
  // 5-level paging in use needs X86_5LEVEL; the variable exists only with it
  // (arch/x86/kernel/head64.c, 4.17 to 6.15), even on a 4-level CPU.
  if (img.levels == 5)
    add("CONFIG_X86_5LEVEL", "y", "the kernel runs with 5-level page tables");
  else if (has(symbols, "__pgtable_l5_enabled"))
    add("CONFIG_X86_5LEVEL", "y", "symbol __pgtable_l5_enabled exists only with X86_5LEVEL");
  if (img.levels == 5 || has(symbols, "__pgtable_l5_enabled"))
    add("CONFIG_PGTABLE_LEVELS", "5", "X86_5LEVEL sets PGTABLE_LEVELS to 5 (arch/x86/Kconfig)");
  if (img.kaslr_slide != 0)
    add("CONFIG_RANDOMIZE_BASE", "y",
        fmt::format("_text at {:#x}, not the link address {:#x}", img.text_va, kDefaultTextVa));
  if (img.page_offset_base && img.page_offset_base != 0xffff888000000000ull &&
      img.page_offset_base != 0xff11000000000000ull)
    add("CONFIG_RANDOMIZE_MEMORY", "y",
        fmt::format("page_offset_base {:#x} is not the default", img.page_offset_base));
  if (img.sme_mask)
    add("CONFIG_AMD_MEM_ENCRYPT", "y", fmt::format("SME mask {:#x} in use", img.sme_mask));
  if (btf) add("CONFIG_DEBUG_INFO_BTF", "y", "vmlinux BTF found in the image");
  if (symbols && !symbols->empty()) {
    add("CONFIG_KALLSYMS", "y", "kallsyms tables decoded from memory");
    if (has(symbols, "init_task"))
      add("CONFIG_KALLSYMS_ALL", "y", "kallsyms lists data symbols (init_task)");
  }
  if (has(symbols, "__start_orc_unwind_ip"))
    add("CONFIG_UNWINDER_ORC", "y", "symbol __start_orc_unwind_ip (ORC tables)");
  if (has(symbols, "__per_cpu_offset"))
    add("CONFIG_SMP", "y", "symbol __per_cpu_offset (an array only with SMP)");
  if (has(symbols, "prb") || has(symbols, "log_buf"))
    add("CONFIG_PRINTK", "y", "the printk buffer's symbols");
  if (has(symbols, "kernel_config_data"))
    add("CONFIG_IKCONFIG", "y", "symbol kernel_config_data");
  // VMCOREINFO is built by kernel/crash_core.c (CRASH_CORE, 4.12 to 6.8) or
  // kernel/vmcore_info.c (VMCORE_INFO, 6.9+).
  if (!img.vmcoreinfo.empty()) {
    unsigned major = 0, minor = 0;
    if (std::sscanf(img.release.c_str(), "%u.%u", &major, &minor) == 2 &&
        (major > 4 || (major == 4 && minor >= 12)))
      add(major > 6 || (major == 6 && minor >= 9) ? "CONFIG_VMCORE_INFO" : "CONFIG_CRASH_CORE",
          "y", "VMCOREINFO in memory");
  }
  return out;
}

}  // namespace tlpstub::kernel
