// Test support: lays out kallsyms tables byte by byte as facts/linux.md §4 describes them
// (scripts/kallsyms.c's output), independently of the decoder under test: its own token
// table (every character used maps to itself, a few multi-character tokens), its own
// compression (greedy longest token), lengths as 1 byte or ULEB128, markers of 4 or 8 bytes,
// seqs_of_names, both table orders, the three address encodings. Header-only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tlpstub::test {

struct FakeSym {
  std::string name;
  char type;
  std::uint64_t address;  // per-CPU offset when percpu
  bool percpu = false;
};

struct KallsymsLayoutSpec {
  enum Enc { absolute_percpu, relative_615, absolute } enc = absolute_percpu;
  bool uleb = true;        // 6.1+ name lengths
  unsigned width = 4;      // num_syms / markers: 8 up to 4.19
  bool seqs = false;       // kallsyms_seqs_of_names
  bool order_64 = false;   // 6.4+ order
};

struct BuiltKallsyms {
  std::vector<std::uint8_t> bytes;                // starts at `base_va`
  std::map<std::string, std::uint64_t> symbol_va; // kallsyms_names -> VA, ...
};

class KallsymsBuilder {
 public:
  static constexpr const char* kMultiTokens[] = {"kallsyms_", "linux_", "_text", "sym_", "per",
                                                 "__", "ex", "in"};

  // relative_base: the runtime _text (the lowest non-per-CPU address).
  static BuiltKallsyms build(const std::vector<FakeSym>& syms, const KallsymsLayoutSpec& spec,
                             std::uint64_t base_va, std::uint64_t relative_base) {
    // Token table: used characters map to themselves; free slots take multi-char tokens.
    std::vector<std::string> tok(256);
    std::vector<bool> used(256, false);
    for (char c = '0'; c <= '9'; ++c) used[static_cast<unsigned char>(c)] = true;
    for (const auto& s : syms) {
      used[static_cast<unsigned char>(s.type)] = true;
      for (char c : s.name) used[static_cast<unsigned char>(c)] = true;
    }
    std::size_t next_multi = 0;
    for (int i = 0; i < 256; ++i) {
      if (used[i]) tok[i] = std::string(1, static_cast<char>(i));
      else if (next_multi < std::size(kMultiTokens)) tok[i] = kMultiTokens[next_multi++];
      else tok[i] = "zz";  // unused filler (never emitted: a single 'z' would be used first)
    }
    // Names, compressed greedily.
    std::vector<std::vector<std::uint8_t>> enc;
    for (const auto& s : syms) {
      const std::string full = std::string(1, s.type) + s.name;
      std::vector<std::uint8_t> e;
      for (std::size_t p = 0; p < full.size();) {
        int best = static_cast<unsigned char>(full[p]);
        std::size_t best_len = 1;
        for (int i = 0; i < 256; ++i)
          if (!used[i] && tok[i] != "zz" && tok[i].size() > best_len &&
              full.compare(p, tok[i].size(), tok[i]) == 0) {
            best = i;
            best_len = tok[i].size();
          }
        e.push_back(static_cast<std::uint8_t>(best));
        p += best_len;
      }
      enc.push_back(std::move(e));
    }
    BuiltKallsyms out;
    auto& b = out.bytes;
    auto align = [&] { while (b.size() % 8) b.push_back(0); };
    auto put = [&](std::uint64_t v, unsigned n) {
      for (unsigned i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    };
    auto label = [&](const std::string& name) {
      align();
      out.symbol_va[name] = base_va + b.size();
    };
    const std::uint64_t n = syms.size();
    auto addresses = [&] {
      if (spec.enc == KallsymsLayoutSpec::absolute) {
        label("kallsyms_addresses");
        for (const auto& s : syms) put(s.address, 8);
        return;
      }
      label("kallsyms_offsets");
      for (const auto& s : syms) {
        std::uint32_t off;
        if (spec.enc == KallsymsLayoutSpec::relative_615)
          off = static_cast<std::uint32_t>(s.address - relative_base);
        else if (s.percpu)
          off = static_cast<std::uint32_t>(s.address);
        else  // relative_base - addr - 1, a negative s32
          off = static_cast<std::uint32_t>(relative_base - s.address - 1);
        put(off, 4);
      }
      label("kallsyms_relative_base");
      put(relative_base, 8);
    };
    auto num_syms = [&] {
      label("kallsyms_num_syms");
      put(n, spec.width);
    };
    std::vector<std::uint64_t> marker_values;
    auto names = [&] {
      label("kallsyms_names");
      const std::size_t start = b.size();
      for (std::size_t i = 0; i < enc.size(); ++i) {
        if (i % 256 == 0) marker_values.push_back(b.size() - start);
        const std::size_t len = enc[i].size();
        if (len > 0x7f) {
          if (!spec.uleb) throw std::logic_error("name too long for 1-byte lengths");
          b.push_back(static_cast<std::uint8_t>((len & 0x7f) | 0x80));
          b.push_back(static_cast<std::uint8_t>(len >> 7));
        } else {
          b.push_back(static_cast<std::uint8_t>(len));
        }
        b.insert(b.end(), enc[i].begin(), enc[i].end());
      }
    };
    auto markers = [&] {
      label("kallsyms_markers");
      for (std::uint64_t m : marker_values) put(m, spec.width);
    };
    auto seqs = [&] {
      if (!spec.seqs) return;
      label("kallsyms_seqs_of_names");
      std::vector<std::uint32_t> order(n);
      for (std::uint32_t i = 0; i < n; ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(),
                       [&](std::uint32_t a, std::uint32_t c) { return syms[a].name < syms[c].name; });
      for (std::uint32_t i : order) {
        b.push_back(static_cast<std::uint8_t>(i >> 16));
        b.push_back(static_cast<std::uint8_t>(i >> 8));
        b.push_back(static_cast<std::uint8_t>(i));
      }
    };
    auto tokens = [&] {
      label("kallsyms_token_table");
      std::vector<std::uint16_t> idx;
      const std::size_t start = b.size();
      for (const auto& t : tok) {
        idx.push_back(static_cast<std::uint16_t>(b.size() - start));
        b.insert(b.end(), t.begin(), t.end());
        b.push_back(0);
      }
      label("kallsyms_token_index");
      for (std::uint16_t i : idx) put(i, 2);
    };
    if (spec.order_64) {
      num_syms(); names(); markers(); tokens(); addresses(); seqs();
    } else {
      addresses(); num_syms(); names(); markers(); seqs(); tokens();
    }
    align();
    return out;
  }
};

}  // namespace tlpstub::test
