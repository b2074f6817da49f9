// Feeds arbitrary bytes to the kdump reader as a dump file (plain or flattened): the headers,
// bitmaps, descriptors and page data all come from the input. Opening and reading every page
// frame it claims (capped) must never crash, hang or read out of bounds.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "transport/kdump_file.hpp"

using namespace tlpstub;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = memfd_create("kdump_fuzz", MFD_CLOEXEC);
  if (fd < 0) return 0;
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  auto f = KdumpFile::open("/proc/self/fd/" + std::to_string(fd));
  if (f) {
    const std::uint64_t frames = (*f)->header().max_mapnr;
    std::vector<std::uint8_t> page(4096);
    for (std::uint64_t pfn = 0; pfn < frames && pfn < 4096; ++pfn)
      (void)(*f)->read_one(PhysAddr(pfn * 4096), page);
    (void)(*f)->read_one(PhysAddr(4096 - 8), std::span(page).subspan(0, 16));
    (void)(*f)->info();
  }
  ::close(fd);
  return 0;
}
