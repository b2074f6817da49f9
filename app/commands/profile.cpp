// monitor profile [save FILE] [--json]: where the structure offsets the views use come from
// (how many from BTF, inference, a --profile), and `save FILE` writes them, with the struct
// sizes, as a profile (kernel/symbols/profile.hpp) on the host running tlpstub, for
// `tlpstub --profile FILE` on the same kernel later (e.g. a copy of its RAM without BTF).
// `monitor offsets` lists each member with its source.
#include <fmt/format.h>

#include <map>

#include "app/commands/commands.hpp"
#include "kernel/symbols/profile.hpp"
#include "kernel/symbols/wanted_offsets.hpp"

namespace tlpstub::app::commands {

namespace {

struct ProfileRow {
  std::optional<ProfileUse> loaded;       // the --profile in use
  std::map<std::string, std::size_t> by_source;  // members found, by source
  std::size_t wanted = 0, missing = 0;
  std::size_t sizes = 0;
  std::optional<std::string> saved_to;    // save FILE
  std::string release, build_id;
};

std::string to_text(const ProfileRow& r) {
  std::string s;
  auto out = std::back_inserter(s);
  if (r.saved_to)
    fmt::format_to(out, "wrote a profile of {} members and {} struct sizes to {}\n",
                   r.wanted - r.missing, r.sizes, *r.saved_to);
  if (r.loaded)
    fmt::format_to(out, "--profile {}: {} members, {} struct sizes{}\n", r.loaded->path,
                   r.loaded->members, r.loaded->sizes,
                   r.loaded->note.empty() ? "" : " (" + r.loaded->note + ")");
  else
    fmt::format_to(out, "no --profile\n");
  fmt::format_to(out, "kernel {} (build id {})\n", r.release,
                 r.build_id.empty() ? "unknown" : r.build_id);
  for (const auto& [src, n] : r.by_source) fmt::format_to(out, "  {:>4} from {}\n", n, src);
  fmt::format_to(out, "  {:>4} missing, of {} members the views use (monitor offsets lists "
                 "each)\n", r.missing, r.wanted);
  return s;
}

void to_json(JsonWriter& j, const ProfileRow& r) {
  j.begin_object().field("release", r.release).field("build_id", r.build_id).key("profile");
  if (r.loaded) {
    j.begin_object()
        .field("path", r.loaded->path)
        .field("members", r.loaded->members)
        .field("sizes", r.loaded->sizes)
        .field("forced", r.loaded->force)
        .field("note", r.loaded->note)
        .end_object();
  } else {
    j.null();
  }
  j.key("sources").begin_object();
  for (const auto& [src, n] : r.by_source) j.field(src, n);
  j.end_object().field("wanted", r.wanted).field("missing", r.missing).key("saved_to");
  if (r.saved_to) j.value(*r.saved_to); else j.null();
  j.end_object();
}

Result<void> run_profile(SessionState& s, const stub::MonitorArgs& a, const stub::OutputFn& out) {
  if (!a.words.empty() && (a.words[0] != "save" || a.words.size() != 2))
    return fail(Errc::invalid_argument, "usage: monitor profile [save FILE]");
  const TypesStatus t = s.context().types();
  const kernel::KernelImage& img = *s.snapshot().discovery.image;
  const kernel::TypeInfo& ti = *t.types;
  ProfileRow row;
  row.loaded = t.profile;
  row.release = img.release;
  row.build_id = img.build_id;
  for (const kernel::WantedResult& w : kernel::resolve_wanted(ti)) {
    ++row.wanted;
    if (w.field)
      ++row.by_source[w.field->source];
    else
      ++row.missing;
  }
  if (a.words.size() == 2) {
    const kernel::Profile p = kernel::make_profile(ti, img);
    if (p.members.empty()) return fail(Errc::not_found, "no member known: nothing to save");
    const std::string path(a.words[1]);
    if (auto w = kernel::save_profile_file(p, path); !w) return w;
    row.sizes = p.sizes.size();
    row.saved_to = path;
  }
  emit(a, row, out);
  return {};
}

}  // namespace

stub::MonitorCommand profile_command(SessionState& s) {
  stub::MonitorCommand c{
      "profile", "profile [save FILE]",
      "where the offsets the views use come from; save FILE writes them as a profile for "
      "--profile",
      [&s](const stub::MonitorArgs& a, const stub::OutputFn& out) { return run_profile(s, a, out); },
      0, 2};
  c.needs = kNeedsTypes;
  return c;
}

}  // namespace tlpstub::app::commands
