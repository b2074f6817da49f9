#include "kernel/linux/printk.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/bytes.hpp"

namespace tlpstub::kernel {

namespace {

constexpr unsigned kStateShift = kPrbStateShift;
constexpr std::uint64_t kIdMask = kPrbIdMask;
enum DescState : unsigned { reserved = 0, committed = 1, finalized = 2, reusable = 3 };
// Bounds for values read from the target: CONFIG_LOG_BUF_SHIFT is at most 25 and log_buf_len=
// can ask for more, so allow a 256 MiB text ring and 2^22 descriptors; more is corruption.
constexpr unsigned kMaxSizeBits = 28, kMaxCountBits = 22;
// Data blocks are aligned to the size of their id (unsigned long).
constexpr std::uint64_t kBlockIdSize = 8;

// A little-endian field of `size` bytes at `off` in `b`; nullopt when it does not fit.
std::optional<std::uint64_t> load(std::span<const std::uint8_t> b, std::uint64_t off,
                                  std::uint64_t size) {
  if (size == 0 || size > 8 || off > b.size() || b.size() - off < size) return std::nullopt;
  std::uint64_t v = 0;
  for (std::uint64_t i = size; i-- > 0;) v = v << 8 | b[off + i];
  return v;
}

std::uint64_t load_or0(std::span<const std::uint8_t> b, std::uint64_t off, std::uint64_t size) {
  return load(b, off, size).value_or(0);
}

std::uint64_t bitfield(std::span<const std::uint8_t> b, std::uint64_t bit_off, unsigned width) {
  const std::uint64_t bytes = (bit_off % 8 + width + 7) / 8;  // 1 or 2 for widths up to 8
  return (load_or0(b, bit_off / 8, bytes) >> (bit_off % 8)) & ((1u << width) - 1);
}

std::string text_of(std::span<const std::uint8_t> b) {
  std::string s(b.begin(), b.end());
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

struct Field {
  std::uint64_t offset = 0, size = 0, bit_offset = 0;
  std::uint32_t bit_size = 0;
};

Result<Field> field(const TypeInfo& t, std::string_view s, std::string_view path) {
  auto f = t.member(s, path);
  if (!f)
    return fail(Errc::not_found, fmt::format("printk ring buffer: {}.{}: {}", s, path,
                                             f.error().message));
  return Field{f->offset, f->size, f->bit_offset, f->bit_size};
}

}  // namespace

Result<PrbLayout> prb_layout(const TypeInfo& t) {
  PrbLayout L;
  auto size = [&](std::string_view s, std::uint64_t& out) -> Result<void> {
    auto z = t.struct_size(s);
    if (!z) return fail(Errc::not_found, fmt::format("printk ring buffer: sizeof({}): {}", s,
                                                     z.error().message));
    out = *z;
    return {};
  };
  // Each wanted member: where it lands, and the smallest size it may have.
  struct Want {
    std::string_view s, path;
    std::uint64_t* out;
    std::uint64_t min_size;
  };
  const Want wants[] = {
      {"printk_ringbuffer", "desc_ring.count_bits", &L.count_bits, 4},
      {"printk_ringbuffer", "desc_ring.descs", &L.descs, 8},
      {"printk_ringbuffer", "desc_ring.infos", &L.infos, 8},
      {"printk_ringbuffer", "desc_ring.head_id", &L.head_id, 8},
      {"printk_ringbuffer", "desc_ring.tail_id", &L.tail_id, 8},
      {"printk_ringbuffer", "text_data_ring.size_bits", &L.size_bits, 4},
      {"printk_ringbuffer", "text_data_ring.data", &L.data, 8},
      {"printk_ringbuffer", "text_data_ring.head_lpos", &L.head_lpos, 8},
      {"printk_ringbuffer", "text_data_ring.tail_lpos", &L.tail_lpos, 8},
      {"prb_desc", "state_var", &L.state_var, 8},
      {"prb_desc", "text_blk_lpos.begin", &L.blk_begin, 8},
      {"prb_desc", "text_blk_lpos.next", &L.blk_next, 8},
      {"printk_info", "seq", &L.seq, 8},
      {"printk_info", "ts_nsec", &L.ts_nsec, 8},
      {"printk_info", "text_len", &L.text_len, 2},
      {"printk_info", "facility", &L.facility, 1},
  };
  // Without BTF (offset inference) sizeof(printk_ringbuffer) may be unknown: then the header
  // read ends with the last member used (the reader needs no more).
  const bool rb_sized = t.struct_size("printk_ringbuffer").has_value();
  if (rb_sized) (void)size("printk_ringbuffer", L.rb_size);
  if (auto r = size("prb_desc", L.desc_size); !r) return std::unexpected(r.error());
  if (auto r = size("printk_info", L.info_size); !r) return std::unexpected(r.error());
  for (const Want& w : wants) {
    auto f = field(t, w.s, w.path);
    if (!f) return std::unexpected(f.error());
    if (f->size < w.min_size || f->bit_size)
      return fail(Errc::malformed, fmt::format("printk ring buffer: {}.{} has size {}, want {}",
                                               w.s, w.path, f->size, w.min_size));
    *w.out = f->offset;
  }
  auto flags = field(t, "printk_info", "flags");
  auto level = field(t, "printk_info", "level");
  if (!flags) return std::unexpected(flags.error());
  if (!level) return std::unexpected(level.error());
  L.flags_bit = flags->bit_offset;
  L.flags_bits = flags->bit_size ? flags->bit_size : 8;
  L.level_bit = level->bit_offset;
  L.level_bits = level->bit_size ? level->bit_size : 8;
  if (auto c = field(t, "printk_info", "caller_id")) {
    L.caller_id = c->offset;
    L.has_caller_id = true;
  }
  if (!rb_sized)
    for (std::uint64_t end : {L.count_bits + 4, L.descs + 8, L.infos + 8, L.head_id + 8,
                              L.tail_id + 8, L.size_bits + 4, L.data + 8, L.head_lpos + 8,
                              L.tail_lpos + 8})
      L.rb_size = std::max(L.rb_size, end);
  if (L.desc_size < std::max(L.state_var, std::max(L.blk_begin, L.blk_next)) + 8 ||
      L.info_size < L.ts_nsec + 8 || L.rb_size < L.tail_lpos + 8 || L.flags_bits > 8 ||
      L.level_bits > 8)
    return fail(Errc::malformed, "printk ring buffer: BTF sizes do not hold their members");
  return L;
}

Result<PrbHeader> parse_prb_header(const PrbLayout& L, std::span<const std::uint8_t> rb) {
  if (rb.size() < L.rb_size) return fail(Errc::malformed, "printk ring buffer header cut short");
  PrbHeader h;
  h.count_bits = static_cast<unsigned>(load_or0(rb, L.count_bits, 4));
  h.size_bits = static_cast<unsigned>(load_or0(rb, L.size_bits, 4));
  h.descs = load_or0(rb, L.descs, 8);
  h.infos = load_or0(rb, L.infos, 8);
  h.data = load_or0(rb, L.data, 8);
  h.head_id = load_or0(rb, L.head_id, 8) & kIdMask;
  h.tail_id = load_or0(rb, L.tail_id, 8) & kIdMask;
  h.head_lpos = load_or0(rb, L.head_lpos, 8);
  h.tail_lpos = load_or0(rb, L.tail_lpos, 8);
  if (h.count_bits == 0 || h.count_bits > kMaxCountBits || h.size_bits < 3 ||
      h.size_bits > kMaxSizeBits)
    return fail(Errc::malformed,
                fmt::format("printk ring buffer: implausible sizes (count_bits {}, size_bits {})",
                            h.count_bits, h.size_bits));
  for (std::uint64_t p : {h.descs, h.infos, h.data})
    if (p < 0xffff800000000000ull)
      return fail(Errc::malformed,
                  fmt::format("printk ring buffer: array pointer {:#x} is not a kernel address", p));
  return h;
}

std::vector<LogRecord> decode_prb(const PrbLayout& L, const PrbHeader& h, std::uint64_t first_id,
                                  std::span<const std::uint8_t> descs,
                                  std::span<const std::uint8_t> infos,
                                  std::span<const std::uint8_t> data, LogReport& rep,
                                  std::span<const std::uint8_t> descs_after) {
  std::vector<LogRecord> out;
  const std::uint64_t dsize = 1ull << h.size_bits;
  const std::uint64_t n = L.desc_size ? descs.size() / L.desc_size : 0;
  auto wraps = [&](std::uint64_t lpos) { return lpos >> h.size_bits; };
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t id = (first_id + i) & kIdMask;
    auto d = descs.subspan(i * L.desc_size, L.desc_size);
    const std::uint64_t sv = load_or0(d, L.state_var, 8);
    const unsigned state = static_cast<unsigned>(sv >> kStateShift);
    // A slot holding another id was recycled for a newer record (or never used).
    if ((sv & kIdMask) != id || (state != committed && state != finalized)) {
      ++rep.skipped_state;
      continue;
    }
    if (!descs_after.empty() && load(descs_after, i * L.desc_size + L.state_var, 8) != sv) {
      ++rep.changed_during_read;
      continue;
    }
    if ((i + 1) * L.info_size > infos.size()) {
      ++rep.skipped_invalid;
      continue;
    }
    auto info = infos.subspan(i * L.info_size, L.info_size);
    LogRecord r;
    r.seq = load_or0(info, L.seq, 8);
    r.ts_nsec = load_or0(info, L.ts_nsec, 8);
    const std::uint64_t text_len = load_or0(info, L.text_len, 2);
    r.facility = static_cast<std::uint8_t>(load_or0(info, L.facility, 1));
    r.flags = static_cast<std::uint8_t>(bitfield(info, L.flags_bit, L.flags_bits));
    r.level = static_cast<std::uint8_t>(bitfield(info, L.level_bit, L.level_bits));
    if (L.has_caller_id) r.caller_id = static_cast<std::uint32_t>(load_or0(info, L.caller_id, 4));

    const std::uint64_t begin = load_or0(d, L.blk_begin, 8), next = load_or0(d, L.blk_next, 8);
    if ((begin & 1) && (next & 1)) {  // data-less record (empty, or its text was lost)
      out.push_back(std::move(r));
      continue;
    }
    // get_data() in printk_ringbuffer.c: a regular block lies in one wrap; a wrapping block
    // has its text at the start of the ring, begin one wrap behind next.
    std::uint64_t off = 0, size = 0;
    if (wraps(begin) == wraps(next) && begin < next) {
      off = begin & (dsize - 1);
      size = next - begin;
    } else if (wraps(begin + dsize) == wraps(next)) {
      off = 0;
      size = next & (dsize - 1);
    } else {
      ++rep.skipped_invalid;
      continue;
    }
    const std::uint64_t begin_off = begin & (dsize - 1);
    if (begin % kBlockIdSize || next % kBlockIdSize || size < kBlockIdSize || size > dsize ||
        off + size > dsize || data.size() < dsize ||
        // The block starts with the id of its descriptor (data_alloc() writes it, at the
        // wrapped copy too): anything else is a block already reused by a newer record.
        load(data, begin_off, 8) != id || load(data, off, 8) != id ||
        text_len > size - kBlockIdSize) {
      ++rep.skipped_invalid;
      continue;
    }
    r.text = text_of(data.subspan(off + kBlockIdSize, text_len));
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<LogRecord> decode_log_buf(const LogBufLayout& L, std::span<const std::uint8_t> buf,
                                      std::uint64_t first_idx, std::uint64_t first_seq,
                                      std::uint64_t count, LogReport& rep) {
  std::vector<LogRecord> out;
  std::uint64_t idx = first_idx, seq = first_seq;
  int wraps = 0;
  while (out.size() + rep.skipped_invalid < count) {
    if (idx > buf.size() || buf.size() - idx < 2 + L.len) {
      ++rep.skipped_invalid;
      rep.notes.push_back(fmt::format("log_buf: record index {} outside the buffer", idx));
      break;
    }
    const std::uint64_t len = load_or0(buf, idx + L.len, 2);
    if (len == 0) {  // the wrap marker: the next record is at the start (log_from_idx())
      if (idx == 0 || ++wraps > 1) {
        rep.notes.push_back("log_buf: wrap marker loops; stopped");
        break;
      }
      idx = 0;
      continue;
    }
    if (len < L.header || buf.size() - idx < len) {
      ++rep.skipped_invalid;
      rep.notes.push_back(fmt::format("log_buf: record at {} has length {}; stopped", idx, len));
      break;
    }
    auto rec = buf.subspan(idx, len);
    const std::uint64_t text_len = load_or0(rec, L.text_len, 2);
    const std::uint64_t dict_len = load_or0(rec, L.dict_len, 2);
    if (L.header + text_len + dict_len > len) {
      ++rep.skipped_invalid;
    } else {
      LogRecord r;
      r.seq = seq;
      r.ts_nsec = load_or0(rec, L.ts_nsec, 8);
      r.facility = static_cast<std::uint8_t>(load_or0(rec, L.facility, 1));
      const auto fl = static_cast<std::uint8_t>(load_or0(rec, L.flags_level, 1));
      r.flags = fl & 0x1f;
      r.level = fl >> 5;
      if (L.caller_id) r.caller_id = static_cast<std::uint32_t>(load_or0(rec, *L.caller_id, 4));
      r.text = text_of(rec.subspan(L.header, text_len));
      out.push_back(std::move(r));
    }
    idx += len;
    ++seq;
  }
  return out;
}

std::string format_record(const LogRecord& r) {
  const std::string prefix =
      fmt::format("[{:5}.{:06}] ", r.ts_nsec / 1000000000u, r.ts_nsec % 1000000000u / 1000u);
  std::string s;
  std::size_t start = 0;
  do {
    const std::size_t nl = r.text.find('\n', start);
    s += prefix;
    s.append(r.text, start, nl == std::string::npos ? std::string::npos : nl - start);
    s += '\n';
    start = nl == std::string::npos ? std::string::npos : nl + 1;
  } while (start != std::string::npos && start < r.text.size());
  return s;
}

}  // namespace tlpstub::kernel
