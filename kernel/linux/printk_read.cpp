// read_kernel_log: the reads behind the decoders of printk.cpp. The ring arrays and the text
// ring are read whole (or, with -n, only the newest slots), each in one AddressSpace read.
#include <fmt/format.h>

#include <chrono>

#include "common/bytes.hpp"
#include "kernel/linux/printk.hpp"

namespace tlpstub::kernel {

namespace {

// log_buf_len is at most 2^31 (kernel/printk/printk.c LOG_BUF_LEN_MAX); more than 256 MiB we
// refuse to read, as for the 5.10+ ring.
constexpr std::uint64_t kMaxLogBuf = 1ull << 28;
constexpr std::uint64_t kMaxRecords = 1ull << 22;

struct Reader {
  AddressSpace& as;
  LogReport& rep;

  Result<std::vector<std::uint8_t>> bytes(std::uint64_t va, std::uint64_t n, std::string_view what) {
    std::vector<std::uint8_t> b(n);
    ++rep.reads;
    rep.bytes += n;
    ReadOutcome o = as.read(VirtAddr(va), b);
    if (o.fault)
      return fail(o.fault->code, fmt::format("reading {} at {:#x}: {}", what, va,
                                             o.fault->message), o.fault->address);
    return b;
  }
  Result<std::uint64_t> u64(std::uint64_t va, std::string_view what, std::uint64_t size = 8) {
    auto b = bytes(va, size, what);
    if (!b) return std::unexpected(b.error());
    std::uint64_t v = 0;
    for (std::uint64_t i = size; i-- > 0;) v = v << 8 | (*b)[i];
    return v;
  }
  // `n` slots of `elem` bytes of a ring of `count` slots at `base`, starting at slot `first`
  // (at most two reads: the slice may wrap past the end of the array).
  Result<std::vector<std::uint8_t>> slots(std::uint64_t base, std::uint64_t elem,
                                          std::uint64_t count, std::uint64_t first,
                                          std::uint64_t n, std::string_view what) {
    std::vector<std::uint8_t> out;
    out.reserve(n * elem);
    const std::uint64_t head = std::min(n, count - first);
    for (auto [slot, k] : {std::pair{first, head}, std::pair{std::uint64_t{0}, n - head}}) {
      if (k == 0) continue;
      auto b = bytes(base + slot * elem, k * elem, what);
      if (!b) return std::unexpected(b.error());
      out.insert(out.end(), b->begin(), b->end());
    }
    return out;
  }
};

std::optional<std::uint64_t> printk_symbol(const SymbolTable& s, std::string_view name) {
  const Symbol* sym = s.find_address(name);
  return sym ? std::optional(sym->address) : std::nullopt;
}

Result<KernelLog> read_prb(AddressSpace& as, std::uint64_t prb_sym, const TypeInfo* types,
                           std::optional<std::uint64_t> last_n) {
  KernelLog log;
  LogReport& rep = log.report;
  rep.format = "printk_ringbuffer (5.10+)";
  if (!types)
    return fail(Errc::not_found, "the printk ring buffer's layout needs the kernel's types (BTF)");
  auto L = prb_layout(*types);
  if (!L) return std::unexpected(L.error());
  Reader rd{as, rep};
  // `prb` is a pointer: to printk_rb_static at boot, to printk_rb_dynamic once setup_log_buf()
  // allocated the log_buf_len= buffer.
  auto rb_va = rd.u64(prb_sym, "prb");
  if (!rb_va) return std::unexpected(rb_va.error());
  rep.buffer_va = *rb_va;
  auto rb = rd.bytes(*rb_va, L->rb_size, "the printk ring buffer");
  if (!rb) return std::unexpected(rb.error());
  auto h = parse_prb_header(*L, *rb);
  if (!h) return std::unexpected(h.error());
  const std::uint64_t count = 1ull << h->count_bits, dsize = 1ull << h->size_bits;
  rep.slots = count;
  rep.data_size = dsize;

  // Ids tail..head (inclusive) are the records the ring holds, oldest first.
  std::uint64_t n = ((h->head_id - h->tail_id) & kPrbIdMask) + 1;
  if (n > count) {
    rep.notes.push_back(fmt::format("tail id {} and head id {} span {} records, more than the "
                                    "{} slots: reading the newest {}",
                                    h->tail_id, h->head_id, n, count, count));
    n = count;
  }
  if (last_n && *last_n < n) n = *last_n;
  if (n == 0) return log;
  const std::uint64_t first_id = (h->head_id - (n - 1)) & kPrbIdMask;
  const std::uint64_t first_slot = first_id & (count - 1);
  auto descs = rd.slots(h->descs, L->desc_size, count, first_slot, n, "printk descriptors");
  if (!descs) return std::unexpected(descs.error());
  auto infos = rd.slots(h->infos, L->info_size, count, first_slot, n, "printk infos");
  if (!infos) return std::unexpected(infos.error());
  auto data = rd.bytes(h->data, dsize, "the printk text ring");
  if (!data) return std::unexpected(data.error());
  // Again, last: a slot the live kernel recycled or reopened while we read shows a new
  // state_var here (ids only grow), and its record is dropped.
  auto after = rd.slots(h->descs, L->desc_size, count, first_slot, n, "printk descriptors");
  if (!after) return std::unexpected(after.error());
  log.records = decode_prb(*L, *h, first_id, *descs, *infos, *data, rep, *after);
  return log;
}

LogBufLayout log_buf_layout(const TypeInfo* types, std::span<const std::uint8_t> buf,
                            std::uint64_t first_idx, LogReport& rep) {
  LogBufLayout L;
  if (types) {
    auto size = types->struct_size("printk_log");
    auto len = types->member("printk_log", "len");
    auto tl = types->member("printk_log", "text_len");
    auto dl = types->member("printk_log", "dict_len");
    auto fac = types->member("printk_log", "facility");
    auto lvl = types->member("printk_log", "level");
    if (size && len && tl && dl && fac && lvl) {
      L.header = *size;
      L.len = len->offset;
      L.text_len = tl->offset;
      L.dict_len = dl->offset;
      L.facility = fac->offset;
      L.flags_level = lvl->offset;
      if (auto c = types->member("printk_log", "caller_id")) L.caller_id = c->offset;
      rep.notes.push_back("struct printk_log layout from BTF");
      return L;
    }
  }
  // No BTF: the layout is fixed but for CONFIG_PRINTK_CALLER's u32 caller_id (4.19+) after the
  // 16-byte header. Records are padded to 4 bytes (LOG_ALIGN on x86), so the first record's
  // len - text_len - dict_len is the header size plus at most 3.
  if (buf.size() >= first_idx + 16) {
    const std::uint64_t len = load_le32(buf.data() + first_idx + 8) & 0xffff;
    const std::uint64_t tl = load_le32(buf.data() + first_idx + 10) & 0xffff;
    const std::uint64_t dl = load_le32(buf.data() + first_idx + 12) & 0xffff;
    const std::uint64_t hdr = len - tl - dl;
    if (len >= tl + dl && hdr >= 20 && hdr < 24) {
      L.header = 20;
      L.caller_id = 16;
    }
  }
  rep.notes.push_back(fmt::format("struct printk_log layout: fixed {}-byte header (no BTF)",
                                  L.header));
  return L;
}

Result<KernelLog> read_log_buf(AddressSpace& as, const SymbolTable& syms, const TypeInfo* types,
                               std::optional<std::uint64_t> last_n) {
  KernelLog log;
  LogReport& rep = log.report;
  rep.format = "log_buf (before 5.10)";
  Reader rd{as, rep};
  std::uint64_t va[6];
  const char* names[6] = {"log_buf", "log_buf_len", "log_first_idx", "log_next_idx",
                          "log_first_seq", "log_next_seq"};
  for (int i = 0; i < 6; ++i) {
    auto a = printk_symbol(syms, names[i]);
    if (!a) return fail(Errc::not_found, fmt::format("kernel log: no symbol {}", names[i]));
    va[i] = *a;
  }
  auto buf_va = rd.u64(va[0], "log_buf");
  auto buf_len = rd.u64(va[1], "log_buf_len", 4);
  auto first_idx = rd.u64(va[2], "log_first_idx", 4);
  auto first_seq = rd.u64(va[4], "log_first_seq");
  auto next_seq = rd.u64(va[5], "log_next_seq");
  for (auto* r : {&buf_va, &buf_len, &first_idx, &first_seq, &next_seq})
    if (!*r) return std::unexpected(r->error());
  if (*buf_len == 0 || *buf_len > kMaxLogBuf || *first_idx >= *buf_len ||
      *next_seq < *first_seq)
    return fail(Errc::malformed,
                fmt::format("log_buf: implausible state (len {}, first_idx {}, seq {}..{})",
                            *buf_len, *first_idx, *first_seq, *next_seq));
  rep.buffer_va = *buf_va;
  rep.slots = rep.data_size = *buf_len;
  auto buf = rd.bytes(*buf_va, *buf_len, "log_buf");
  if (!buf) return std::unexpected(buf.error());
  const std::uint64_t count = std::min(*next_seq - *first_seq, kMaxRecords);
  const LogBufLayout L = log_buf_layout(types, *buf, *first_idx, rep);
  log.records = decode_log_buf(L, *buf, *first_idx, *first_seq, count, rep);
  // Records the live kernel overwrote while we read: log_first_seq moved past them.
  if (auto now = rd.u64(va[4], "log_first_seq"); now && *now > *first_seq) {
    const auto before = log.records.size();
    std::erase_if(log.records, [&](const LogRecord& r) { return r.seq < *now; });
    rep.changed_during_read += before - log.records.size();
  }
  if (last_n && log.records.size() > *last_n)
    log.records.erase(log.records.begin(),
                      log.records.end() - static_cast<std::ptrdiff_t>(*last_n));
  return log;
}

}  // namespace

Result<KernelLog> read_kernel_log(AddressSpace& as, const SymbolTable& symbols,
                                  const TypeInfo* types, std::optional<std::uint64_t> last_n) {
  const auto t0 = std::chrono::steady_clock::now();
  Result<KernelLog> log;
  if (auto prb = printk_symbol(symbols, "prb"))
    log = read_prb(as, *prb, types, last_n);
  else if (printk_symbol(symbols, "log_first_idx"))
    log = read_log_buf(as, symbols, types, last_n);
  else
    return fail(Errc::not_found, "kernel log: neither `prb` (5.10+) nor `log_first_idx` (before "
                                 "5.10) in the kernel's symbols");
  if (log && !log->records.empty()) {
    log->report.first_seq = log->records.front().seq;
    log->report.last_seq = log->records.back().seq;
  }
  if (log)
    log->report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return log;
}

}  // namespace tlpstub::kernel
