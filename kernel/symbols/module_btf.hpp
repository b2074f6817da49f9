// Loaded modules' own types: the split BTF the kernel keeps for each module
// (CONFIG_DEBUG_INFO_BTF_MODULES, 5.11+), parsed over vmlinux's BTF so that a type defined only
// in a module (and referring to vmlinux's types) can be looked up.
//
// Where it is: struct module's btf_data points to the module file's .BTF only while the module
// loads; do_init_module sets it to NULL ("not SHF_ALLOC and will get removed",
// kernel/module/main.c, 6.1 and 6.12), and a live module shows btf_data 0 [obs: 6.12 guest].
// The kernel's copy lives in kernel/bpf/btf.c: the static list `btf_modules` of struct
// btf_module { list, module, btf, ... }, whose struct btf keeps the raw blob in `data`
// (`data_size` bytes; what /sys/kernel/btf/MODULE serves). Layouts come from TypeInfo.
//
// All of it is target memory: the list walk is capped and stops at a broken back link or a
// cycle (with a warning), sizes are capped, and each blob is parsed by btf.hpp's bounded parser.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "kernel/address_space.hpp"
#include "kernel/symbols/btf.hpp"
#include "kernel/symbols/symbol_table.hpp"
#include "kernel/symbols/type_info.hpp"

namespace tlpstub::kernel {

// No module's BTF is near this (dummy.ko's is 330 bytes, large drivers' a few hundred KiB).
inline constexpr std::uint64_t kMaxModuleBtf = 16u << 20;

// One entry of btf_modules.
struct ModuleBtfRef {
  std::uint64_t module = 0;       // its struct module (match with LoadedModule::address)
  std::uint64_t data = 0, size = 0;  // the raw split BTF
};

struct ModuleBtfList {
  std::vector<ModuleBtfRef> entries;
  std::vector<std::string> warnings;  // where the list broke
};

// Whether `types` hold every member list_module_btf reads (for the wanted-list test).
Result<void> check_module_btf_types(const TypeInfo& types);

// Walks btf_modules (`core` gives its address).
Result<ModuleBtfList> list_module_btf(AddressSpace& as, const SymbolTable& core,
                                      const TypeInfo& types);

// The module's split BTF on top of `vmlinux`; `name` for messages.
Result<btf::Btf> read_module_btf(AddressSpace& as, const ModuleBtfRef& ref,
                                 const std::string& name, const btf::Btf& vmlinux);

}  // namespace tlpstub::kernel
