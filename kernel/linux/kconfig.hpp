// The running kernel's build configuration, from memory (design.md, discovery step 5).
//
// Sources, best first:
//  1. IKCONFIG (kernel/configs.c, 5.1+): the gzip'd .config built into .rodata between the
//     markers "IKCFG_ST" and "IKCFG_ED", the stream between the symbols kernel_config_data and
//     kernel_config_data_end. Exact. (Debian builds `# CONFIG_IKCONFIG is not set`.)
//  2. The page cache: a booted system reads /boot/config-$(uname -r) (dracut, DKMS, perf,
//     systemd...), and the file's pages stay cached. Kconfig writes every .config starting with
//     "#\n# Automatically generated file; DO NOT EDIT.\n" (scripts/kconfig/confdata.c), so the
//     first page of such a file is found by probing the first 64 bytes of every page (1/64 of
//     RAM read, never all of it). The file's other pages are found among the probed pages that
//     look like config text, and ordered by their struct page (mapping = the file, index = the
//     page's place in it; mm_types.h, layout from BTF); where that is unknown, by physical
//     adjacency. Copies of other kernels' configs are told apart by the header
//     ("# Linux/x86 6.12.117 Kernel Configuration") and CONFIG_CC_VERSION_TEXT, which must
//     both appear in the running kernel's banner.
//     The kernel image's own strings hold no config text without IKCONFIG, so they are not
//     scanned.
//  3. Inference: options the memory itself proves (paging depth, KASLR, BTF, ORC, SMP, ...),
//     marked "inferred" with the fact behind each.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "kernel/address_space.hpp"
#include "kernel/kernel_image.hpp"
#include "kernel/symbols/symbol_table.hpp"
#include "kernel/symbols/type_info.hpp"
#include "transport/physical_memory.hpp"

namespace tlpstub::kernel {

inline constexpr std::string_view kSourceIkconfig = "ikconfig";
inline constexpr std::string_view kSourcePageCache = "page cache";
inline constexpr std::string_view kSourceInferred = "inferred";

struct ConfigOption {
  std::string name;   // "CONFIG_SMP"
  std::string value;  // "y", "m", "n" (for "# ... is not set"), "\"text\"", "0x1000000", "64"
  std::string source;
  std::string why;    // inferred: the fact in memory
};

// One config file found in memory.
struct ConfigCopy {
  std::uint64_t phys = 0;    // its first page
  std::uint64_t bytes = 0;
  std::size_t pages = 0, options = 0;
  std::size_t missing_pages = 0;  // gaps in the file (lines there are lost)
  std::string header;        // "Linux/x86 6.12.117 Kernel Configuration"
  std::string cc_version;    // CONFIG_CC_VERSION_TEXT
  std::string ordered_by;    // "struct page index" or "physical adjacency"
  bool matches = false;      // header version and compiler both in the running kernel's banner
  bool chosen = false;
  std::string verdict;
  std::string text;          // the file as assembled
};

struct ConfigReport {
  std::string source;  // where the options came from, in words
  std::vector<ConfigCopy> copies;
  std::map<std::string, std::size_t> by_source;
  // Every option memory proves, also those a file sets too (the file's value is the one in
  // KernelConfig::options; a disagreement is in notes).
  std::vector<ConfigOption> inferred;
  std::uint64_t pages_probed = 0, reads = 0, bytes = 0;
  double seconds = 0;
  std::vector<std::string> notes;
};

struct KernelConfig {
  std::vector<ConfigOption> options;  // file order, inferred ones last
  std::string text;  // the exact file (ikconfig, page cache) or the options written as one
  ConfigReport report;
};

using ConfigProgress = std::function<void(std::string_view)>;

struct ConfigInputs {
  PhysicalMemory& mem;  // read with no deadline: the scan is a long command
  AddressSpace& as;     // the kernel's address space over `mem`
  const KernelImage& img;
  const SymbolTable* symbols = nullptr;
  const TypeInfo* types = nullptr;
  ConfigProgress progress;
  bool scan_page_cache = true;  // tests of the other paths turn it off
};

Result<KernelConfig> recover_config(const ConfigInputs& in);

// ---- pieces, pure ------------------------------------------------------------------------

// "CONFIG_X=v" and "# CONFIG_X is not set" lines; everything else is skipped.
std::vector<ConfigOption> parse_config(std::string_view text, std::string_view source);
// A gzip stream (RFC 1952) inflated with zlib, at most `max_out` bytes.
Result<std::string> gunzip(std::span<const std::uint8_t> gz, std::size_t max_out);
// The config text from IKCFG_ST + gzip + IKCFG_ED (markers checked).
Result<std::string> ikconfig_text(std::span<const std::uint8_t> blob);
// "Linux/x86 6.12.117 Kernel Configuration" from the file's header comment ("" if none).
std::string config_header(std::string_view text);
// Does a copy belong to the kernel with this banner? Why not, in words, when it does not.
bool config_matches(const ConfigCopy& c, std::string_view banner, std::string* why);
// Options memory proves. `btf`: BTF was found in the image.
std::vector<ConfigOption> infer_options(const KernelImage& img, const SymbolTable* symbols,
                                        bool btf);
// The .config line of an option ("CONFIG_X=y", "# CONFIG_X is not set").
std::string config_line(const ConfigOption& o);

// Assembling files from probed pages (kconfig_harvest.cpp), exposed for tests.
struct ProbedPage {
  std::uint64_t pa = 0;
  std::vector<std::uint8_t> bytes;  // the whole 4 KiB page
  std::uint64_t mapping = 0, index = 0;
  bool has_page_info = false;      // mapping/index read from its struct page
};
// True when the first bytes of a page could be a piece of a config file.
bool looks_like_config(std::span<const std::uint8_t> head);
bool is_config_header(std::span<const std::uint8_t> head);
// The config files the pages hold: each starts with a header page and continues by struct page
// index (when known) or physical adjacency.
std::vector<ConfigCopy> assemble_copies(const std::vector<ProbedPage>& pages);

}  // namespace tlpstub::kernel
