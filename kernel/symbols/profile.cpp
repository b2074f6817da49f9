#include "kernel/symbols/profile.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <algorithm>

#include "common/json.hpp"
#include "kernel/symbols/wanted_offsets.hpp"

namespace tlpstub::kernel {

namespace {

constexpr std::string_view kProfileSourceName = "profile";

bool profile_is_wanted_member(std::string_view s, std::string_view path) {
  for (const WantedMember& w : wanted_members())
    if (w.struct_name == s)
      for (std::string_view p : w.paths)
        if (p == path) return true;
  return false;
}

bool profile_is_wanted_size(std::string_view s) {
  for (std::string_view w : wanted_sizes())
    if (w == s) return true;
  return false;
}

bool profile_is_wanted_struct(std::string_view s) {
  if (profile_is_wanted_size(s)) return true;
  for (const WantedMember& w : wanted_members())
    if (w.struct_name == s) return true;
  return false;
}

Error profile_bad(std::string_view where, std::string_view what) {
  return Error{Errc::malformed, fmt::format("profile: {}: {}", where, what), 0};
}

// An object's key that must hold a non-negative integer of at most `max`.
Result<std::optional<std::uint64_t>> profile_number(const JsonValue& obj, std::string_view key,
                                                    std::string_view where, std::uint64_t max) {
  const JsonValue* v = obj.find(key);
  if (!v) return std::optional<std::uint64_t>{};
  auto n = v->as_u64();
  if (!n || *n > max)
    return std::unexpected(profile_bad(
        where, fmt::format("\"{}\" must be an integer from 0 to {}", key, max)));
  return std::optional(*n);
}

Result<std::string> profile_string(const JsonValue& obj, std::string_view key,
                                   std::string_view where, bool required) {
  const JsonValue* v = obj.find(key);
  if (!v) {
    if (required) return std::unexpected(profile_bad(where, fmt::format("no \"{}\"", key)));
    return std::string();
  }
  if (!v->is(JsonValue::Type::string))
    return std::unexpected(profile_bad(where, fmt::format("\"{}\" must be a string", key)));
  return v->text;
}

// Only the keys a profile defines: a misspelt key would otherwise be silently ignored.
Result<void> profile_known_keys(const JsonValue& obj, std::string_view where,
                                std::initializer_list<std::string_view> known) {
  if (!obj.is(JsonValue::Type::object))
    return std::unexpected(profile_bad(where, "must be an object"));
  for (const std::string& k : obj.keys) {
    bool ok = false;
    for (std::string_view n : known) ok = ok || n == k;
    if (!ok) return std::unexpected(profile_bad(where, fmt::format("unknown key \"{}\"", k)));
  }
  return {};
}

Result<ProfileMember> profile_member(const std::string& s, const std::string& path,
                                     const JsonValue& m) {
  const std::string where = s + "." + path;
  if (!profile_is_wanted_member(s, path))
    return std::unexpected(profile_bad(
        where, "not a member tlpstub uses (monitor offsets lists them)"));
  if (auto k = profile_known_keys(m, where, {"offset", "size", "bit_offset", "bit_size", "type",
                                             "source"});
      !k)
    return std::unexpected(k.error());
  ProfileMember pm{s, path, {}};
  FieldInfo& f = pm.field;
  auto off = profile_number(m, "offset", where, kProfileMaxOffset);
  auto size = profile_number(m, "size", where, kProfileMaxOffset);
  auto bit_off = profile_number(m, "bit_offset", where, kProfileMaxOffset * 8);
  auto bit_size = profile_number(m, "bit_size", where, 64);
  for (auto* r : {&off, &size, &bit_off, &bit_size})
    if (!*r) return std::unexpected(r->error());
  if (!*off || !*size)
    return std::unexpected(profile_bad(where, "needs \"offset\" and \"size\""));
  f.offset = **off;
  f.size = **size;  // 0 for a flexible array (struct pid.numbers[])
  f.bit_size = static_cast<std::uint32_t>(bit_size->value_or(0));
  f.bit_offset = bit_off->value_or(f.offset * 8);
  if (bit_off->has_value() != (f.bit_size != 0))
    return std::unexpected(
        profile_bad(where, "\"bit_offset\" and \"bit_size\" come together, for bitfields"));
  if (f.bit_offset / 8 != f.offset || (f.bit_size && f.bit_offset % 8 + f.bit_size > f.size * 8))
    return std::unexpected(
        profile_bad(where, "the bitfield does not lie within the member's bytes"));
  auto type = profile_string(m, "type", where, false);
  auto source = profile_string(m, "source", where, false);
  if (!type) return std::unexpected(type.error());
  if (!source) return std::unexpected(source.error());
  f.type_name = *type;
  f.source = *source;
  return pm;
}

Result<void> profile_struct(const std::string& s, const JsonValue& v, Profile& p) {
  if (!profile_is_wanted_struct(s))
    return std::unexpected(profile_bad(s, "not a struct tlpstub uses"));
  if (auto k = profile_known_keys(v, s, {"size", "size_source", "members"}); !k) return k;
  auto size = profile_number(v, "size", s, kProfileMaxOffset);
  if (!size) return std::unexpected(size.error());
  auto size_source = profile_string(v, "size_source", s, false);
  if (!size_source) return std::unexpected(size_source.error());
  if (*size) {
    if (!profile_is_wanted_size(s))
      return std::unexpected(profile_bad(s, "its size is not one tlpstub uses"));
    if (**size == 0) return std::unexpected(profile_bad(s, "\"size\" must not be 0"));
    p.sizes.push_back({s, **size, *size_source});
  }
  const JsonValue* members = v.find("members");
  if (!members) return {};
  if (!members->is(JsonValue::Type::object))
    return std::unexpected(profile_bad(s, "\"members\" must be an object"));
  for (std::size_t i = 0; i < members->keys.size(); ++i) {
    auto m = profile_member(s, members->keys[i], members->items[i]);
    if (!m) return std::unexpected(m.error());
    if (*size && m->field.offset + m->field.size > **size)
      return std::unexpected(profile_bad(
          s + "." + m->path,
          fmt::format("offset {} + size {} is beyond sizeof({}) = {}", m->field.offset,
                      m->field.size, s, **size)));
    p.members.push_back(std::move(*m));
  }
  return {};
}

}  // namespace

Profile make_profile(const TypeInfo& ti, const KernelImage& img) {
  Profile p{img.release, img.build_id, {}, {}};
  for (WantedResult& r : resolve_wanted(ti))
    if (r.field) p.members.push_back({r.struct_name, r.path, std::move(*r.field)});
  for (WantedSize& z : resolve_sizes(ti))
    if (z.size) p.sizes.push_back({z.struct_name, *z.size, z.source});
  return p;
}

std::string profile_to_json(const Profile& p) {
  // Grouped by struct, in the order of the wanted list; one line per member, so that a diff of
  // two profiles reads well.
  std::vector<std::string> order;
  auto note = [&](const std::string& s) {
    if (std::find(order.begin(), order.end(), s) == order.end()) order.push_back(s);
  };
  for (const ProfileSize& z : p.sizes) note(z.struct_name);
  for (const ProfileMember& m : p.members) note(m.struct_name);
  std::string out = fmt::format("{{\n\"format\": {}, \"version\": {},\n\"release\": {},\n"
                                "\"build_id\": {},\n\"structs\": {{",
                                json_quote(kProfileFormat), kProfileVersion,
                                json_quote(p.release), json_quote(p.build_id));
  bool first_struct = true;
  for (const std::string& s : order) {
    out += fmt::format("{}\n {}: {{", first_struct ? "" : ",", json_quote(s));
    first_struct = false;
    bool first = true;
    for (const ProfileSize& z : p.sizes)
      if (z.struct_name == s) {
        out += fmt::format("\"size\": {}, \"size_source\": {}", z.size, json_quote(z.source));
        first = false;
      }
    out += fmt::format("{}\"members\": {{", first ? "" : ", ");
    first = true;
    for (const ProfileMember& m : p.members) {
      if (m.struct_name != s) continue;
      const FieldInfo& f = m.field;
      JsonWriter w;
      w.begin_object().field("offset", f.offset).field("size", f.size);
      if (f.bit_size) w.field("bit_offset", f.bit_offset).field("bit_size", f.bit_size);
      w.field("type", f.type_name).field("source", f.source).end_object();
      out += fmt::format("{}\n  {}: {}", first ? "" : ",", json_quote(m.path), w.str());
      first = false;
    }
    out += "}}";
  }
  return out + "}\n}\n";
}

Result<Profile> parse_profile(std::string_view json) {
  auto doc = parse_json(json);
  if (!doc) return fail(Errc::malformed, "profile: " + doc.error().message);
  if (auto k = profile_known_keys(*doc, "top level",
                                  {"format", "version", "release", "build_id", "structs"});
      !k)
    return std::unexpected(k.error());
  auto format = profile_string(*doc, "format", "top level", true);
  if (!format) return std::unexpected(format.error());
  if (*format != kProfileFormat)
    return fail(Errc::malformed, fmt::format("profile: \"format\" is \"{}\", not \"{}\"",
                                             *format, kProfileFormat));
  const JsonValue* version = doc->find("version");
  if (!version || version->as_u64() != kProfileVersion)
    return fail(Errc::unsupported,
                fmt::format("profile: \"version\" must be {} (this tlpstub reads only that)",
                            kProfileVersion));
  Profile p;
  auto release = profile_string(*doc, "release", "top level", true);
  auto build_id = profile_string(*doc, "build_id", "top level", true);
  if (!release) return std::unexpected(release.error());
  if (!build_id) return std::unexpected(build_id.error());
  if (release->empty()) return fail(Errc::malformed, "profile: \"release\" is empty");
  p.release = *release;
  p.build_id = *build_id;
  const JsonValue* structs = doc->find("structs");
  if (!structs || !structs->is(JsonValue::Type::object))
    return fail(Errc::malformed, "profile: \"structs\" must be an object");
  for (std::size_t i = 0; i < structs->keys.size(); ++i)
    if (auto r = profile_struct(structs->keys[i], structs->items[i], p); !r)
      return std::unexpected(r.error());
  return p;
}

Result<Profile> load_profile_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Errc::io, fmt::format("profile {}: cannot open it", path));
  // Read at most one byte more than the JSON limit: a larger file is refused, not slurped.
  const std::size_t limit = JsonLimits{}.max_bytes;
  std::string text(limit + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) return fail(Errc::io, fmt::format("profile {}: read error", path));
  if (text.size() > limit)
    return fail(Errc::invalid_argument,
                fmt::format("profile {}: larger than {} bytes, not a profile", path, limit));
  auto p = parse_profile(text);
  if (!p) return fail(p.error().code, path + ": " + p.error().message);
  return p;
}

Result<void> save_profile_file(const Profile& p, const std::string& path) {
  const std::string text = profile_to_json(p);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return fail(Errc::io, fmt::format("cannot write {}", path));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return fail(Errc::io, fmt::format("error writing {}", path));
  return {};
}

Result<void> check_profile(const Profile& p, const KernelImage& img, std::string* note) {
  if (p.release != img.release)
    return fail(Errc::invalid_argument,
                fmt::format("the profile is for release '{}', this kernel is '{}'", p.release,
                            img.release));
  if (!p.build_id.empty() && !img.build_id.empty()) {
    if (p.build_id != img.build_id)
      return fail(Errc::invalid_argument,
                  fmt::format("the profile is for build id {}, this kernel's is {} (same release "
                              "'{}', another build)",
                              p.build_id, img.build_id, p.release));
  } else if (note) {
    *note = p.build_id.empty() ? "the profile has no build id: only the release was compared"
                               : "this kernel's build id is unknown (no VMCOREINFO): only the "
                                 "release was compared";
  }
  return {};
}

void add_profile(const Profile& p, TypeInfo& ti) {
  for (const ProfileMember& m : p.members) {
    FieldInfo f = m.field;
    f.source = std::string(kProfileSourceName);
    ti.add_member(m.struct_name, m.path, std::move(f));
  }
  for (const ProfileSize& z : p.sizes)
    ti.add_size(z.struct_name, z.size, std::string(kProfileSourceName));
}

}  // namespace tlpstub::kernel
