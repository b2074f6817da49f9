#include "common/error.hpp"

namespace tlpstub {

std::string_view errc_name(Errc e) {
  switch (e) {
    case Errc::unbacked: return "unbacked address";
    case Errc::completer_abort: return "completer abort";
    case Errc::unsupported_request: return "unsupported request";
    case Errc::timeout: return "timeout";
    case Errc::unreachable: return "adapter unreachable";
    case Errc::not_present: return "not present";
    case Errc::non_canonical: return "non-canonical address";
    case Errc::invalid_argument: return "invalid argument";
    case Errc::malformed: return "malformed";
    case Errc::not_found: return "not found";
    case Errc::unsupported: return "unsupported";
    case Errc::io: return "I/O error";
    case Errc::busy: return "busy";
    case Errc::deadline: return "reply deadline reached";
  }
  return "unknown error";
}

}  // namespace tlpstub
