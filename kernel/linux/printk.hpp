// The kernel log (what `dmesg` prints), read from the printk buffer in memory.
//
// Two formats, chosen by which symbols kallsyms has:
//  - 5.10+ lockless ring buffer (`prb`, kernel/printk/printk_ringbuffer.{h,c}): a descriptor
//    ring (prb_desc: state_var, text_blk_lpos), a parallel array of printk_info (seq, ts_nsec,
//    text_len, facility, flags:5, level:3, caller_id) and a text data ring of blocks
//    {unsigned long id; char text[]}. Layouts come from BTF (TypeInfo), never from constants.
//  - 3.5-5.9 `log_buf` of struct printk_log records (kernel/printk/printk.c before 5.10),
//    walked from log_first_idx for log_next_seq - log_first_seq records; len 0 = wrap to 0.
//
// Reads are batched: the ring header, then the descriptor and info arrays and the whole data
// ring in a few large AddressSpace reads (each is one translation batch plus one read batch),
// then the descriptors again: a record whose descriptor changed meanwhile (the live kernel
// reused or reopened it) is dropped, never printed half-overwritten. Everything read is
// untrusted: every id, index, lpos and length is bounds-checked; a record that fails a check
// is counted as skipped, never shown as garbage.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "kernel/address_space.hpp"
#include "kernel/symbols/symbol_table.hpp"
#include "kernel/symbols/type_info.hpp"

namespace tlpstub::kernel {

// kernel/printk/printk_ringbuffer.h (5.10 to 6.12 alike): the top two bits of a descriptor's
// state_var are its state, the rest its id.
inline constexpr unsigned kPrbStateShift = 62;
inline constexpr std::uint64_t kPrbIdMask = (1ull << kPrbStateShift) - 1;

struct LogRecord {
  std::uint64_t seq = 0;
  std::uint64_t ts_nsec = 0;
  std::uint8_t level = 0, facility = 0, flags = 0;
  std::uint32_t caller_id = 0;
  std::string text;  // without a trailing newline; may hold newlines of a multi-line record
};

struct LogReport {
  std::string format;           // "printk_ringbuffer (5.10+)" or "log_buf (before 5.10)"
  std::uint64_t buffer_va = 0;  // the ring (prb target) or log_buf
  std::uint64_t slots = 0;      // descriptors (5.10+) or bytes of log_buf
  std::uint64_t data_size = 0;  // bytes of the text ring
  std::uint64_t first_seq = 0, last_seq = 0;  // of the records shown (0 when none)
  std::size_t skipped_state = 0;     // reserved (being written) or reusable (being recycled)
  std::size_t skipped_invalid = 0;   // failed a bounds or consistency check
  std::size_t changed_during_read = 0;  // descriptor changed between the two reads
  std::uint64_t reads = 0, bytes = 0;   // AddressSpace reads and bytes asked for
  double seconds = 0;                   // wall time of read_kernel_log
  std::vector<std::string> notes;
};

struct KernelLog {
  std::vector<LogRecord> records;  // oldest first
  LogReport report;
};

// Offsets and sizes of the 5.10+ ring-buffer structures, from BTF.
struct PrbLayout {
  std::uint64_t rb_size = 0;
  // printk_ringbuffer members (absolute offsets inside it)
  std::uint64_t count_bits = 0, descs = 0, infos = 0, head_id = 0, tail_id = 0;
  std::uint64_t size_bits = 0, data = 0, head_lpos = 0, tail_lpos = 0;
  // prb_desc
  std::uint64_t desc_size = 0, state_var = 0, blk_begin = 0, blk_next = 0;
  // printk_info
  std::uint64_t info_size = 0, seq = 0, ts_nsec = 0, text_len = 0, facility = 0;
  std::uint64_t flags_bit = 0, level_bit = 0, caller_id = 0;  // bit offsets for the bitfields
  std::uint32_t flags_bits = 5, level_bits = 3;
  bool has_caller_id = false;
};

Result<PrbLayout> prb_layout(const TypeInfo& types);

// The ring's header as read from printk_ringbuffer (already range-checked).
struct PrbHeader {
  unsigned count_bits = 0, size_bits = 0;
  std::uint64_t descs = 0, infos = 0, data = 0;
  std::uint64_t head_id = 0, tail_id = 0, head_lpos = 0, tail_lpos = 0;
};

// Parses and checks the header bytes (count_bits and size_bits within the kernel's limits).
Result<PrbHeader> parse_prb_header(const PrbLayout& L, std::span<const std::uint8_t> rb);

// Decodes records with ids first_id, first_id+1, ... (n of them, n = descs.size()/desc_size):
// `descs` and `infos` hold their slots in that id order; `data` is the whole text ring.
// `descs_after`, when not empty, is the same slots read again after everything else: a record
// whose state_var differs there is dropped (counted in changed_during_read). Pure: no reads.
std::vector<LogRecord> decode_prb(const PrbLayout& L, const PrbHeader& h, std::uint64_t first_id,
                                  std::span<const std::uint8_t> descs,
                                  std::span<const std::uint8_t> infos,
                                  std::span<const std::uint8_t> data, LogReport& report,
                                  std::span<const std::uint8_t> descs_after = {});

// Pre-5.10: struct printk_log header layout. Without BTF the header size is taken from the
// first record (16 bytes, or 20 with CONFIG_PRINTK_CALLER's caller_id).
struct LogBufLayout {
  std::uint64_t header = 16;  // sizeof(struct printk_log)
  std::uint64_t ts_nsec = 0, len = 8, text_len = 10, dict_len = 12, facility = 14;
  std::uint64_t flags_level = 15;  // u8 flags:5, level:3 (level in the top 3 bits)
  std::optional<std::uint64_t> caller_id;
};

// Walks log_buf from first_idx for at most `count` records (pure).
std::vector<LogRecord> decode_log_buf(const LogBufLayout& L, std::span<const std::uint8_t> buf,
                                      std::uint64_t first_idx, std::uint64_t first_seq,
                                      std::uint64_t count, LogReport& report);

// Reads the log of the kernel whose symbols and types are given; `last_n`: only the newest N
// records are read and returned.
Result<KernelLog> read_kernel_log(AddressSpace& as, const SymbolTable& symbols,
                                  const TypeInfo* types, std::optional<std::uint64_t> last_n);

// One record as dmesg prints it: "[%5lu.%06lu] text", every line of a multi-line record with
// the same prefix (as the kernel's syslog output does).
std::string format_record(const LogRecord& r);

}  // namespace tlpstub::kernel
