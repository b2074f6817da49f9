// Feeds arbitrary bytes to the RSP decoder and to a whole Session over a small in-memory
// target. Must never crash, hang or grow without bound. The input is split into chunks at
// positions taken from its first byte, so packet boundaries across feed() calls get covered.
// When the first byte is odd, the rest is also taken as newline-separated packet payloads
// that are framed with valid checksums, so that random payloads reach the handlers.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "stub/monitor.hpp"
#include "stub/packet_codec.hpp"
#include "stub/session.hpp"
#include "stub/target.hpp"

namespace {

using namespace tlpstub;
using namespace tlpstub::stub;

class FuzzTarget : public Target {
 public:
  FuzzTarget() {
    monitor_.add(
        {"say", "say WORDS", "echo",
         [](const MonitorArgs& args, const OutputFn& out) -> Result<void> {
           for (auto a : args.words) out(a);
           if (args.words.size() > 3) return fail(Errc::invalid_argument, "too many words");
           return {};
         },
         0, 8});
  }

  // 64 KiB readable at 0x1000, nothing elsewhere.
  MemoryReadResult read_memory(std::uint64_t addr, std::span<std::uint8_t> out) override {
    MemoryReadResult r;
    if (out.empty()) return r;
    constexpr std::uint64_t kBase = 0x1000, kSize = 0x10000;
    if (addr < kBase || addr >= kBase + kSize) {
      r.fault = Error{Errc::unbacked, "unbacked", addr};
      return r;
    }
    r.bytes_read =
        static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), kBase + kSize - addr));
    std::memset(out.data(), static_cast<int>(addr & 0xff), r.bytes_read);
    if (r.bytes_read < out.size()) r.fault = Error{Errc::unbacked, "unbacked", kBase + kSize};
    return r;
  }

  std::vector<ThreadInfo> threads() override {
    return {{1, "init", "pid 1"}, {2, "a<&>\"b", "x"}, {0x10000, "swapper/0", "pid 0"}};
  }

  Result<RegisterSet> registers(std::int64_t id) override {
    if (id == 2) return fail(Errc::not_found, "no frame");
    RegisterSet r;
    r.set(Reg::rip, 0xffffffff81000000ull + static_cast<std::uint64_t>(id));
    r.set(Reg::eflags, 0x246);
    return r;
  }

  std::optional<SectionOffsets> offsets() override { return SectionOffsets{1, 2, 3}; }

  Result<void> monitor(std::string_view command, const OutputFn& out) override {
    return monitor_.run(command, out);
  }

 private:
  MonitorRegistry monitor_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> in(data, size);
  const std::size_t step = size ? 1 + data[0] % 64 : 1;

  Decoder decoder(512);
  for (std::size_t off = 0; off < size; off += step)
    decoder.feed(in.subspan(off, std::min(step, size - off)));

  FuzzTarget target;
  std::size_t sent = 0;
  Session session(
      target, [&](std::string_view bytes) { sent += bytes.size(); },
      SessionOptions{.packet_size = 0x1000, .peer = "fuzz"});
  for (std::size_t off = 0; off < size && !session.closed(); off += step)
    session.feed(in.subspan(off, std::min(step, size - off)));

  if (size > 1 && (data[0] & 1)) {
    FuzzTarget t2;
    Session framed(
        t2, [](std::string_view) {}, SessionOptions{.packet_size = 0x1000, .peer = "fuzz"});
    std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
    for (std::size_t start = 0; start <= rest.size() && !framed.closed();) {
      std::size_t end = std::min(rest.find('\n', start), rest.size());
      std::string frame = rsp_frame(rest.substr(start, end - start));
      framed.feed(std::span(reinterpret_cast<const std::uint8_t*>(frame.data()), frame.size()));
      start = end + 1;
    }
  }

  // The framer must produce what gdb can parse, whatever the payload.
  std::string_view text(reinterpret_cast<const char*>(data), std::min<std::size_t>(size, 512));
  std::string frame = rsp_frame(text, true);
  if (frame.substr(1, frame.size() - 4).find_first_of("$#") != std::string::npos) __builtin_trap();
  return 0;
}
