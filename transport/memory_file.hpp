// PhysicalMemory over a raw memory image: a dump, or the live RAM file of a QEMU guest
// (-object memory-backend-file,...,share=on). The file is mmap'd shared and read in place, so
// reads see what the guest writes. An optional map places file ranges at physical addresses,
// for RAM split around the PCI hole ("0:0:2G,4G:2G:1G"). Reads outside the map are errors.
// A file that starts with the ELF magic is read as an ELF core (transport/elf_core.hpp): its
// PT_LOADs are the map, and its VMCOREINFO note is kept for discovery.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transport/physical_memory.hpp"

namespace tlpstub {

struct MapEntry {
  std::uint64_t phys = 0;
  std::uint64_t offset = 0;  // in the file
  std::uint64_t length = 0;
  bool zero = false;  // no file bytes: reads as zeros (an ELF core's p_memsz past p_filesz)
};

// Parses "PHYS:OFFSET:LEN[,PHYS:OFFSET:LEN...]" with K/M/G suffixes. Entries must not overlap
// in physical space.
Result<std::vector<MapEntry>> parse_memory_map(std::string_view spec);

class MemoryFile final : public PhysicalMemory {
 public:
  // Opens `path` read-only. With an empty map, physical address == file offset.
  static Result<std::unique_ptr<MemoryFile>> open(const std::string& path,
                                                  std::vector<MapEntry> map = {});
  ~MemoryFile() override;
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

 protected:
  void do_read(std::span<const ReadRange> ranges, std::span<ReadStatus> results,
               Deadline deadline) override;

 public:
  MemoryInfo info() const override;

  const std::vector<MapEntry>& map() const { return map_; }
  // An ELF core's VMCOREINFO note text; empty for raw images and cores without one.
  const std::string& vmcoreinfo_note() const { return vmcoreinfo_; }
  bool is_elf_core() const { return elf_core_; }
  // Zero-copy view for local consumers (tlpsim): the bytes at [phys, phys+len) if they are all
  // backed by one map entry and inside the file as it is now; empty otherwise.
  std::span<const std::uint8_t> view(PhysAddr phys, std::size_t len) const;

 private:
  MemoryFile(std::string path, int fd, const std::uint8_t* base, std::uint64_t size,
             std::vector<MapEntry> map);
  std::uint64_t current_size() const;

  std::string path_;
  int fd_ = -1;
  const std::uint8_t* base_ = nullptr;
  std::uint64_t mapped_size_ = 0;
  std::vector<MapEntry> map_;  // sorted by phys
  bool elf_core_ = false;
  std::string vmcoreinfo_;
};

}  // namespace tlpstub
