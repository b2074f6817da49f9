// The strict JSON reader of common/json.hpp. Recursive descent, depth-bounded by
// JsonLimits::max_depth, so the recursion cannot exhaust the stack.
#include <fmt/format.h>

#include <charconv>

#include "common/json.hpp"

namespace tlpstub {

namespace {

class JsonReader {
 public:
  JsonReader(std::string_view in, const JsonLimits& lim) : in_(in), lim_(lim) {}

  Result<JsonValue> document() {
    if (in_.size() > lim_.max_bytes)
      return fail(Errc::invalid_argument,
                  fmt::format("JSON: input is {} bytes, more than the {} allowed", in_.size(),
                              lim_.max_bytes));
    JsonValue v;
    skip_space();
    if (!value(v, 0)) return std::unexpected(*err_);
    skip_space();
    if (pos_ != in_.size()) return std::unexpected(error("end of input after the value"));
    return v;
  }

 private:
  // "JSON: line 2, column 7 (byte 12): expected ..."
  Error error(std::string_view expected) const {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < pos_ && i < in_.size(); ++i) {
      if (in_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    const std::string found =
        pos_ >= in_.size() ? "end of input" : fmt::format("byte {:#04x}", std::uint8_t(in_[pos_]));
    return Error{Errc::malformed,
                 fmt::format("JSON: line {}, column {} (byte {}): expected {}, found {}", line,
                             col, pos_, expected, found),
                 pos_};
  }
  bool failed(std::string_view expected) {
    err_ = error(expected);
    return false;
  }

  int peek() const { return pos_ < in_.size() ? std::uint8_t(in_[pos_]) : -1; }
  void skip_space() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\t' || in_[pos_] == '\n' || in_[pos_] == '\r'))
      ++pos_;
  }
  bool literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return failed(fmt::format("'{}'", word));
    pos_ += word.size();
    return true;
  }

  bool value(JsonValue& v, int depth) {
    if (++values_ > lim_.max_values)
      return failed(fmt::format("at most {} values in the document", lim_.max_values));
    switch (peek()) {
      case '{': return object(v, depth + 1);
      case '[': return array(v, depth + 1);
      case '"': v.type = JsonValue::Type::string; return string(v.text);
      case 't': v.type = JsonValue::Type::boolean; v.boolean = true; return literal("true");
      case 'f': v.type = JsonValue::Type::boolean; return literal("false");
      case 'n': v.type = JsonValue::Type::null; return literal("null");
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return number(v);
        return failed("a value");
    }
  }

  bool open(int depth) {
    if (depth > lim_.max_depth)
      return failed(fmt::format("at most {} nested arrays and objects", lim_.max_depth));
    ++pos_;
    skip_space();
    return true;
  }

  bool array(JsonValue& v, int depth) {
    v.type = JsonValue::Type::array;
    if (!open(depth)) return false;
    if (peek() == ']') return ++pos_, true;
    for (;;) {
      v.items.emplace_back();
      if (!value(v.items.back(), depth)) return false;
      skip_space();
      if (peek() == ']') return ++pos_, true;
      if (peek() != ',') return failed("',' or ']' in an array");
      ++pos_;
      skip_space();
    }
  }

  bool object(JsonValue& v, int depth) {
    v.type = JsonValue::Type::object;
    if (!open(depth)) return false;
    if (peek() == '}') return ++pos_, true;
    for (;;) {
      if (peek() != '"') return failed("a string key in an object");
      const std::size_t key_at = pos_;
      std::string key;
      if (!string(key)) return false;
      for (const std::string& k : v.keys)
        if (k == key) {
          pos_ = key_at;
          return failed(fmt::format("a key not seen before in this object ('{}' repeats)", key));
        }
      v.keys.push_back(std::move(key));
      skip_space();
      if (peek() != ':') return failed("':' after an object key");
      ++pos_;
      skip_space();
      v.items.emplace_back();
      if (!value(v.items.back(), depth)) return false;
      skip_space();
      if (peek() == '}') return ++pos_, true;
      if (peek() != ',') return failed("',' or '}' in an object");
      ++pos_;
      skip_space();
    }
  }

  bool digits() {
    if (peek() < '0' || peek() > '9') return failed("a digit");
    while (peek() >= '0' && peek() <= '9') ++pos_;
    return true;
  }

  // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
  bool number(JsonValue& v) {
    const std::size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
      if (peek() >= '0' && peek() <= '9') return failed("no leading zero in a number");
    } else if (!digits()) {
      return false;
    }
    if (peek() == '.') {
      ++pos_;
      if (!digits()) return false;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digits()) return false;
    }
    v.type = JsonValue::Type::number;
    v.text = std::string(in_.substr(start, pos_ - start));
    return true;
  }

  bool hex4(std::uint32_t& out) {
    out = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      const int c = peek();
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0) return failed("4 hex digits after \\u");
      out = out << 4 | static_cast<std::uint32_t>(d);
    }
    return true;
  }

  static void put_utf8(std::string& s, std::uint32_t cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xc0 | cp >> 6);
      s += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xe0 | cp >> 12);
      s += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      s += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      s += static_cast<char>(0xf0 | cp >> 18);
      s += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
      s += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      s += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  // \uXXXX, with a UTF-16 surrogate pair as two escapes; pos_ is after the 'u'.
  bool unicode_escape(std::string& s) {
    std::uint32_t cp;
    if (!hex4(cp)) return false;
    if (cp >= 0xdc00 && cp <= 0xdfff) return pos_ -= 6, failed("no lone low surrogate");
    if (cp >= 0xd800 && cp <= 0xdbff) {
      std::uint32_t lo;
      if (in_.substr(pos_, 2) != "\\u") return failed("a low surrogate \\uDC00-\\uDFFF");
      pos_ += 2;
      if (!hex4(lo)) return false;
      if (lo < 0xdc00 || lo > 0xdfff) return pos_ -= 6, failed("a low surrogate \\uDC00-\\uDFFF");
      cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    put_utf8(s, cp);
    return true;
  }

  // One UTF-8 sequence of 2-4 bytes starting at pos_ (RFC 3629: no overlongs, no surrogates,
  // nothing above U+10FFFF).
  bool utf8(std::string& s) {
    const std::uint8_t b0 = std::uint8_t(in_[pos_]);
    int n;
    std::uint32_t cp, min;
    if (b0 >= 0xc2 && b0 <= 0xdf) n = 1, cp = b0 & 0x1f, min = 0x80;
    else if (b0 >= 0xe0 && b0 <= 0xef) n = 2, cp = b0 & 0x0f, min = 0x800;
    else if (b0 >= 0xf0 && b0 <= 0xf4) n = 3, cp = b0 & 0x07, min = 0x10000;
    else return failed("valid UTF-8");
    for (int i = 1; i <= n; ++i) {
      const int c = pos_ + i < in_.size() ? std::uint8_t(in_[pos_ + i]) : -1;
      if ((c & 0xc0) != 0x80) return failed("valid UTF-8");
      cp = cp << 6 | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return failed("valid UTF-8");
    s.append(in_.substr(pos_, n + 1));
    pos_ += n + 1;
    return true;
  }

  bool string(std::string& s) {
    ++pos_;  // the opening quote
    for (;;) {
      if (s.size() > lim_.max_string)
        return failed(fmt::format("at most {} bytes in a string", lim_.max_string));
      const int c = peek();
      if (c < 0) return failed("'\"' closing the string");
      if (c == '"') return ++pos_, true;
      if (c < 0x20) return failed("no control character in a string (escape it)");
      if (c >= 0x80) {
        if (!utf8(s)) return false;
        continue;
      }
      ++pos_;
      if (c != '\\') {
        s += static_cast<char>(c);
        continue;
      }
      const int e = peek();
      ++pos_;
      switch (e) {
        case '"': s += '"'; break;
        case '\\': s += '\\'; break;
        case '/': s += '/'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'n': s += '\n'; break;
        case 'r': s += '\r'; break;
        case 't': s += '\t'; break;
        case 'u':
          if (!unicode_escape(s)) return false;
          break;
        default: --pos_; return failed("an escape: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX");
      }
    }
  }

  std::string_view in_;
  const JsonLimits& lim_;
  std::size_t pos_ = 0, values_ = 0;
  std::optional<Error> err_;
};

}  // namespace

const JsonValue* JsonValue::find(std::string_view key) const {
  if (type != Type::object) return nullptr;
  for (std::size_t i = 0; i < keys.size() && i < items.size(); ++i)
    if (keys[i] == key) return &items[i];
  return nullptr;
}

std::optional<std::uint64_t> JsonValue::as_u64() const {
  if (type != Type::number || text.empty() || text[0] == '-') return std::nullopt;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

Result<JsonValue> parse_json(std::string_view text, const JsonLimits& limits) {
  return JsonReader(text, limits).document();
}

}  // namespace tlpstub
