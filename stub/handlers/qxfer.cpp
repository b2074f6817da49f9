// qXfer reads: qXfer:<object>:read:<annex>:<offset hex>,<length hex>
//   -> "m<data>" when more follows, "l<data>" for the last part, E02 for an unknown annex,
//      E16 for an offset past the end. The data is binary (escaped by the framer).
//   features: annex target.xml (stub/target_xml.hpp)
//   threads:  empty annex; <threads><thread id="hex" name="comm">extra text</thread>...
//             built at offset 0 and kept for the later offsets of the same transfer.
//   exec-file: annex empty or a pid (hex, gdb 13 sends it once multiprocess+ is agreed; we
//             have one executable whatever the pid) -> the path gdb then opens with vFile:
//             (facts/gdb-rsp.md). While the target is still making it: E0b, and gdb 13
//             proceeds with no executable.
#include <fmt/format.h>

#include <algorithm>

#include "stub/handlers/handler.hpp"
#include "stub/target_xml.hpp"

namespace tlpstub::stub {

namespace {

struct XferRequest {
  std::string_view annex;
  std::uint64_t offset;
  std::uint64_t length;
};

Result<XferRequest> parse_xfer(std::string_view args) {
  std::size_t colon = args.rfind(':');
  std::size_t comma = args.rfind(',');
  if (colon == std::string_view::npos || comma == std::string_view::npos || comma < colon)
    return fail(Errc::malformed, "expected ANNEX:OFFSET,LENGTH");
  auto off = parse_hex(args.substr(colon + 1, comma - colon - 1));
  auto len = parse_hex(args.substr(comma + 1));
  if (!off) return std::unexpected(off.error());
  if (!len) return std::unexpected(len.error());
  return XferRequest{args.substr(0, colon), *off, *len};
}

Reply xfer_part(Context& ctx, std::string_view doc, const XferRequest& req) {
  if (req.offset > doc.size()) return error_reply(Errc::invalid_argument, "offset past the end");
  // Escaping may double the data: keep the reply within our packet size, its 'm'/'l' included
  // (half the packet size alone overran it by that one byte when every byte needs escaping,
  // e.g. a thread named "}}}}": fuzz/vfile_qxfer_fuzz).
  std::uint64_t len = std::min<std::uint64_t>(req.length, ctx.packet_size / 2);
  std::string_view part = doc.substr(req.offset, len);
  part = part.substr(0, escaped_fit(part, ctx.packet_size - 1));
  bool last = req.offset + part.size() >= doc.size();
  // (Built in place: `"l" + std::string(part)` trips g++ 12's -Wrestrict false positive at -O3.)
  std::string payload(1, last ? 'l' : 'm');
  payload.append(part);
  return Reply::text(std::move(payload));
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string threads_document(Target& target) {
  std::string out = "<?xml version=\"1.0\"?>\n<threads>\n";
  for (const ThreadInfo& t : target.threads())
    out += fmt::format("<thread id=\"{:x}\" name=\"{}\">{}</thread>\n", t.id, xml_escape(t.name),
                       xml_escape(t.extra));
  return out + "</threads>\n";
}

Reply read_features(Context& ctx, std::string_view args) {
  auto req = parse_xfer(args);
  if (!req) return error_reply(req.error());
  if (req->annex != "target.xml") return error_reply(Errc::not_found, "unknown annex");
  return xfer_part(ctx, target_xml(), *req);
}

Reply read_threads(Context& ctx, std::string_view args) {
  auto req = parse_xfer(args);
  if (!req) return error_reply(req.error());
  if (!req->annex.empty()) return error_reply(Errc::not_found, "unknown annex");
  if (req->offset == 0 || ctx.threads_xml.empty()) ctx.threads_xml = threads_document(ctx.target);
  return xfer_part(ctx, ctx.threads_xml, *req);
}

Reply read_exec_file(Context& ctx, std::string_view args) {
  auto req = parse_xfer(args);
  if (!req) return error_reply(req.error());
  if (req->annex.size() > 16 || (!req->annex.empty() && !parse_hex(req->annex)))
    return error_reply(Errc::not_found, "unknown annex");
  if (req->offset == 0 || ctx.exec_file_path.empty()) {
    auto path = ctx.target.exec_file();
    if (!path) return error_reply(path.error());
    ctx.exec_file_path = std::move(*path);
  }
  return xfer_part(ctx, ctx.exec_file_path, *req);
}

constexpr Route kQxferRoutes[] = {
    {"qXfer:features:read", read_features},
    {"qXfer:threads:read", read_threads},
    {"qXfer:exec-file:read", read_exec_file},
};

}  // namespace

std::span<const Route> qxfer_routes() { return kQxferRoutes; }

}  // namespace tlpstub::stub
