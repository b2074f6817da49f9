// Errors as values, shared by every layer (design.md: "Errors are values").
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace tlpstub {

enum class Errc {
  unbacked,           // no memory behind this physical address (outside the map / file)
  completer_abort,    // the target answered CA
  unsupported_request,// the target answered UR
  timeout,            // no answer after bounded retries
  unreachable,        // the adapter does not answer at all
  not_present,        // a page-table entry on the way is not present
  non_canonical,      // virtual address is not canonical for the paging depth
  invalid_argument,   // caller error: bad flag, bad monitor argument
  malformed,          // a packet or structure that does not parse
  not_found,          // a lookup found nothing
  unsupported,        // the target cannot do this (writes, execution control)
  io,                 // local I/O failure (file, socket)
  busy,               // try again later (discovery still running)
  deadline,           // the request's time budget ran out before this could be read
};

std::string_view errc_name(Errc e);

struct Error {
  Errc code;
  std::string message;
  std::uint64_t address = 0;  // where it applies, when it applies to an address

  static Error make(Errc c, std::string msg, std::uint64_t addr = 0) {
    return Error{c, std::move(msg), addr};
  }
};

template <class T>
using Result = std::expected<T, Error>;

// Shorthand for returning an error from a function that returns Result<T>.
inline std::unexpected<Error> fail(Errc c, std::string msg, std::uint64_t addr = 0) {
  return std::unexpected(Error{c, std::move(msg), addr});
}

}  // namespace tlpstub
