// Command-line options of tlpstub.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "stub/cidr.hpp"
#include "transport/memory_file.hpp"

namespace tlpstub::app {

struct Options {
  // Where physical memory comes from: a file (raw image / QEMU RAM file) ...
  std::string memory_file;
  std::vector<MapEntry> map;
  // ... or a NetTLP adapter.
  std::string nettlp_adapter;
  std::string nettlp_local;
  std::string requester = "00:00.0";
  unsigned tags = 256;
  unsigned mrrs = 512;
  std::string pcap_file;
  std::uint64_t ram_size = 0;  // highest physical address + 1 for NetTLP; 0 = unknown

  // Address space. Without --cr3, discovery finds the kernel page table.
  std::optional<std::uint64_t> cr3;
  int levels = 0;  // 0 = auto
  std::uint64_t sme_mask = 0;

  // Types: a profile (kernel/symbols/profile.hpp) that overrides BTF and inference; refused
  // for another release or build id unless forced.
  std::string profile_file;
  bool profile_force = false;

  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 1234;
  std::vector<stub::Cidr> allow;  // empty: anyone who can reach the listen address
  std::size_t max_clients = 32;
  std::size_t packet_size = 0x20000;
  int verbosity = 0;

  // --make-profile VMLINUX --out FILE: write the vmlinux's profile and exit.
  std::string make_profile, out_file;
  std::string make_profile_from;  // --from: "btf", "dwarf", or "" (BTF when the vmlinux has it)

  // --run 'COMMAND' (repeatable): run monitor commands, print their output and exit instead of
  // serving gdb.
  std::vector<std::string> run_commands;

  // --dump PATH: write a vmcore and exit instead of serving gdb.
  std::string dump_path;
  std::optional<unsigned> dump_level;  // default: 1 (zero pages)  // 0 info, 1 (-v) trace packets, 2 (-vv) everything
};

// Parses argv. On --help (message "help"), --help-markdown ("help-markdown") or --version
// ("version") returns an Error with Errc::not_found as a signal to print that and exit 0; other
// errors say what is wrong.
Result<Options> parse_options(int argc, char** argv);
std::string usage_text();

}  // namespace tlpstub::app
