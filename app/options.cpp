#include "app/options.hpp"

#include <getopt.h>

#include <fmt/format.h>

#include "common/parse.hpp"

namespace tlpstub::app {

std::string usage_text() {
  return R"(usage: tlpstub (--memory FILE [--map SPEC] | --nettlp ADAPTER_IP --local LOCAL_IP) [options]
       tlpstub (--memory FILE | --nettlp ADAPTER_IP --local LOCAL_IP) --run 'COMMAND' [--run ...]
       tlpstub --make-profile VMLINUX --out FILE [--from btf|dwarf]

Serves a target's physical memory to gdb as a read-only x86-64 kernel target.
  target remote 127.0.0.1:1234      (in gdb)

Memory source:
  --memory FILE          raw physical memory image, a QEMU guest's shared RAM file, or an
                         ELF core (tlpstub --dump, /proc/vmcore, QEMU dump-guest-memory):
                         its PT_LOADs place the memory, its VMCOREINFO note guides discovery
  --map PHYS:OFF:LEN,..  place file ranges at physical addresses (K/M/G suffixes),
                         e.g. 0:0:2G,4G:2G:1G for a 3 GiB q35 guest; default: identity
  --nettlp IP            NetTLP adapter address (DMA reads over UDP)
  --local IP             local address to bind for NetTLP
  --requester BB:DD.F    PCIe requester id used in read requests (default 00:00.0)
  --tags N               reads in flight, 1..256 (16 for pre-2020 adapter firmware)
  --mrrs BYTES           largest read request, 4..4096 (default 512)
  --pcap FILE            record every NetTLP datagram to FILE (Wireshark/tshark)
  --ram-size SIZE        top of the target's physical RAM (e.g. 8G), if known; bounds the
                         discovery scan (unknown: up to 64 GiB, one probe per GiB above 4 GiB)

Address space:
  --cr3 VALUE            kernel page-table root (a CR3 value; PCID/PTI bits are cleared)
  --levels 4|5           paging depth (default: detected)
  --sme-mask VALUE       AMD SME C-bit mask to strip from page-table entries

Types:
  --profile FILE         structure offsets and sizes saved by 'monitor profile save' (JSON);
                         they override BTF and inference for the members the file holds.
                         A profile for another kernel release or build id is refused
  --profile-force        use the --profile even when its release or build id differs

Profile from a vmlinux (instead of serving gdb; no target needed):
  --make-profile VMLINUX write the profile of a vmlinux file (its .BTF, else its DWARF: a
                         -dbg package's vmlinux; the release of its linux_banner, its GNU
                         build id) to --out FILE, for --profile, exit
  --out FILE             where --make-profile writes
  --from btf|dwarf       read the types from .BTF only, or from DWARF even when .BTF is there

Dump (instead of serving gdb):
  --dump PATH            discover the kernel, write an ELF vmcore of its RAM to PATH, exit
  --level N              makedumpfile dump level: 1 zero (default), 2/4 page cache, 8 user,
                         16 free pages; excluded pages become holes

Monitor commands without gdb:
  --run 'COMMAND'        run a monitor command (as gdb's `monitor COMMAND` would: ps, bt all,
                         dmesg -n 20, kconfig, sym NAME, ...), print its output, exit when the
                         last --run is done (repeatable; exit status 1 if one failed)

Server:
  --listen HOST:PORT     where gdb connects (default 127.0.0.1:1234: this machine only;
                         any other address exposes target memory to the network)
  --allow CIDR[,CIDR]    accept gdb clients only from these ranges, e.g. 10.1.0.0/16,::1
  --max-clients N        gdb connections at once, 1..1024 (default 32); more are refused
  --packet-size BYTES    RSP PacketSize advertised to gdb (default 0x20000)
  -v                     trace RSP packets (<- from gdb, -> to gdb); -vv for more
  -h, --help             this text
  --help-markdown        this text and every monitor command's help, as Markdown (the
                         README's generated reference: tools/readme-reference.sh)
  --version              print the version and exit
)";
}

namespace {

Result<void> parse_listen(std::string_view s, Options& o) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos)
    return fail(Errc::invalid_argument, fmt::format("--listen '{}' is not HOST:PORT", s));
  auto port = parse_u64(s.substr(colon + 1), 10);
  if (!port || *port > 65535)
    return fail(Errc::invalid_argument, fmt::format("--listen '{}': bad port", s));
  std::string_view host = s.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  o.listen_host = host.empty() ? "127.0.0.1" : std::string(host);
  o.listen_port = static_cast<std::uint16_t>(*port);
  return {};
}

Result<std::uint64_t> number_arg(const char* flag, const char* value, std::uint64_t lo,
                                 std::uint64_t hi) {
  auto v = parse_size(value);
  if (!v || *v < lo || *v > hi)
    return fail(Errc::invalid_argument,
                fmt::format("{} '{}': expected a number in [{}, {}]", flag, value, lo, hi));
  return v;
}

}  // namespace

Result<Options> parse_options(int argc, char** argv) {
  enum {
    kMemory = 256, kMap, kNettlp, kLocal, kRequester, kTags, kMrrs, kPcap, kRamSize, kCr3, kLevels,
    kSme, kListen, kPacketSize, kProfile, kProfileForce, kDump, kLevel, kAllow, kMaxClients,
    kMakeProfile, kOut, kFrom, kRun
  };
  static const option long_opts[] = {
      {"memory", required_argument, nullptr, kMemory},
      {"map", required_argument, nullptr, kMap},
      {"nettlp", required_argument, nullptr, kNettlp},
      {"local", required_argument, nullptr, kLocal},
      {"requester", required_argument, nullptr, kRequester},
      {"tags", required_argument, nullptr, kTags},
      {"mrrs", required_argument, nullptr, kMrrs},
      {"pcap", required_argument, nullptr, kPcap},
      {"ram-size", required_argument, nullptr, kRamSize},
      {"cr3", required_argument, nullptr, kCr3},
      {"levels", required_argument, nullptr, kLevels},
      {"sme-mask", required_argument, nullptr, kSme},
      {"listen", required_argument, nullptr, kListen},
      {"packet-size", required_argument, nullptr, kPacketSize},
      {"profile", required_argument, nullptr, kProfile},
      {"profile-force", no_argument, nullptr, kProfileForce},
      {"dump", required_argument, nullptr, kDump},
      {"level", required_argument, nullptr, kLevel},
      {"allow", required_argument, nullptr, kAllow},
      {"max-clients", required_argument, nullptr, kMaxClients},
      {"make-profile", required_argument, nullptr, kMakeProfile},
      {"out", required_argument, nullptr, kOut},
      {"from", required_argument, nullptr, kFrom},
      {"run", required_argument, nullptr, kRun},
      {"help", no_argument, nullptr, 'h'},
      {"help-markdown", no_argument, nullptr, 'M'},
      {"version", no_argument, nullptr, 'V'},
      {nullptr, 0, nullptr, 0},
  };
  Options o;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":hv", long_opts, nullptr)) != -1) {
    Result<void> r;
    switch (c) {
      case 'h': return fail(Errc::not_found, "help");
      case 'V': return fail(Errc::not_found, "version");
      case 'M': return fail(Errc::not_found, "help-markdown");
      case 'v': ++o.verbosity; break;
      case kMemory: o.memory_file = optarg; break;
      case kMap: {
        auto m = parse_memory_map(optarg);
        if (!m) return std::unexpected(m.error());
        o.map = *m;
        break;
      }
      case kNettlp: o.nettlp_adapter = optarg; break;
      case kLocal: o.nettlp_local = optarg; break;
      case kRequester: o.requester = optarg; break;
      case kTags: {
        auto v = number_arg("--tags", optarg, 1, 256);
        if (!v) return std::unexpected(v.error());
        o.tags = static_cast<unsigned>(*v);
        break;
      }
      case kMrrs: {
        auto v = number_arg("--mrrs", optarg, 4, 4096);
        if (!v) return std::unexpected(v.error());
        o.mrrs = static_cast<unsigned>(*v);
        break;
      }
      case kPcap: o.pcap_file = optarg; break;
      case kRamSize: {
        auto v = number_arg("--ram-size", optarg, 1ull << 20, 1ull << 52);
        if (!v) return std::unexpected(v.error());
        o.ram_size = *v;
        break;
      }
      case kCr3: {
        auto v = parse_u64(optarg, 0);
        if (!v) return fail(Errc::invalid_argument, fmt::format("--cr3 '{}' is not a number (use 0x for hex)", optarg));
        o.cr3 = *v;
        break;
      }
      case kLevels: {
        std::string_view s = optarg;
        if (s == "4") o.levels = 4;
        else if (s == "5") o.levels = 5;
        else if (s == "auto") o.levels = 0;
        else return fail(Errc::invalid_argument, "--levels takes 4, 5 or auto");
        break;
      }
      case kSme: {
        auto v = parse_u64(optarg, 0);
        if (!v) return fail(Errc::invalid_argument, fmt::format("--sme-mask '{}' is not a number", optarg));
        o.sme_mask = *v;
        break;
      }
      case kListen:
        r = parse_listen(optarg, o);
        if (!r) return std::unexpected(r.error());
        break;
      case kPacketSize: {
        auto v = number_arg("--packet-size", optarg, 256, 16 << 20);
        if (!v) return std::unexpected(v.error());
        o.packet_size = *v;
        break;
      }
      case kProfile: o.profile_file = optarg; break;
      case kProfileForce: o.profile_force = true; break;
      case kDump: o.dump_path = optarg; break;
      case kRun: o.run_commands.emplace_back(optarg); break;
      case kMakeProfile: o.make_profile = optarg; break;
      case kOut: o.out_file = optarg; break;
      case kFrom:
        o.make_profile_from = optarg;
        if (o.make_profile_from != "btf" && o.make_profile_from != "dwarf")
          return fail(Errc::invalid_argument,
                      fmt::format("--from '{}': say btf or dwarf", o.make_profile_from));
        break;
      case kLevel: {
        auto v = number_arg("--level", optarg, 0, 31);
        if (!v) return std::unexpected(v.error());
        o.dump_level = static_cast<unsigned>(*v);
        break;
      }
      case kAllow: {
        auto a = stub::parse_cidr_list(optarg);
        if (!a) return std::unexpected(a.error());
        o.allow.insert(o.allow.end(), a->begin(), a->end());
        break;
      }
      case kMaxClients: {
        auto v = number_arg("--max-clients", optarg, 1, 1024);
        if (!v) return std::unexpected(v.error());
        o.max_clients = *v;
        break;
      }
      case ':':
        return fail(Errc::invalid_argument, fmt::format("{} needs a value", argv[optind - 1]));
      default:
        return fail(Errc::invalid_argument,
                    fmt::format("unknown option '{}'; see --help", argv[optind - 1]));
    }
  }
  if (optind < argc)
    return fail(Errc::invalid_argument, fmt::format("unexpected argument '{}'", argv[optind]));
  // --make-profile reads a file, not a target: nothing else applies.
  if (!o.make_profile.empty()) {
    if (o.out_file.empty()) return fail(Errc::invalid_argument, "--make-profile needs --out FILE");
    if (!o.memory_file.empty() || !o.nettlp_adapter.empty() || !o.profile_file.empty() ||
        !o.dump_path.empty() || !o.run_commands.empty())
      return fail(Errc::invalid_argument,
                  "--make-profile reads a vmlinux only: drop --memory, --nettlp, --profile, --dump, --run");
    return o;
  }
  if (!o.out_file.empty()) return fail(Errc::invalid_argument, "--out applies to --make-profile only");
  if (!o.make_profile_from.empty())
    return fail(Errc::invalid_argument, "--from applies to --make-profile only");
  if (o.memory_file.empty() == o.nettlp_adapter.empty())
    return fail(Errc::invalid_argument, "give exactly one of --memory FILE or --nettlp IP");
  if (!o.nettlp_adapter.empty() && o.nettlp_local.empty())
    return fail(Errc::invalid_argument, "--nettlp needs --local LOCAL_IP");
  if (o.ram_size && o.nettlp_adapter.empty())
    return fail(Errc::invalid_argument, "--ram-size applies to --nettlp only (a file knows its size)");
  if (o.profile_force && o.profile_file.empty())
    return fail(Errc::invalid_argument, "--profile-force applies to --profile only");
  if (!o.map.empty() && o.memory_file.empty())
    return fail(Errc::invalid_argument, "--map applies to --memory only");
  if (o.dump_path.empty() && o.dump_level)
    return fail(Errc::invalid_argument, "--level applies to --dump only");
  if (!o.dump_path.empty() && o.cr3)
    return fail(Errc::invalid_argument, "--dump needs a discovered kernel: drop --cr3");
  if (!o.run_commands.empty() && !o.dump_path.empty())
    return fail(Errc::invalid_argument, "give --run or --dump, not both");
  return o;
}

}  // namespace tlpstub::app
