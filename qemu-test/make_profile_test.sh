#!/usr/bin/env bash
# `tlpstub --make-profile` from the DWARF of a -dbg vmlinux (issue 8), no guest: on a vmlinux
# that has both .BTF and DWARF 5 (Debian 6.1-cloud, fixture qemu_vmlinux_6.1-cloud), the
# profile made with --from dwarf must equal the one made from .BTF member for member (offset,
# size, bitfield, type name), and every member and struct size pahole (package dwarves) reads
# from the same DWARF must agree (ground truth outside our code). Prints the DWARF walk's time.
#   make_profile_test.sh --tlpstub BIN --kernel 6.1-cloud --cache DIR --workdir DIR
# Exit 77 when the tlpstub binary or pahole is missing (failures under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

test_take_tlpstub "$@"
tlpstub=$TLPSTUB work=
set -- "${TEST_ARGS[@]}"
args=("$@")
while (($#)); do
  case "$1" in
    --workdir) work=$2; shift 2 ;;
    *) shift ;;
  esac
done
[[ -n $work ]] || guest_die "--workdir DIR needed"
mkdir -p "$work"
command -v pahole >/dev/null || test_skip "pahole (package dwarves) is not installed"
guest_dwarf_vmlinux "${args[@]}"

"$tlpstub" --make-profile "$VMLINUX" --out "$work/btf.json" --from btf >"$work/btf.log" 2>&1 ||
  guest_die "--make-profile --from btf failed: $(cat "$work/btf.log")"
t0=$(date +%s.%N)
if "$tlpstub" --make-profile "$VMLINUX" --out "$work/dwarf.json" --from dwarf \
     >"$work/dwarf.log" 2>&1; then
  secs=$(echo "$(date +%s.%N) - $t0" | bc)
  pass "--make-profile --from dwarf in ${secs} s: $(sed 's/.*(release/(release/' "$work/dwarf.log")"
else
  guest_die "--make-profile --from dwarf failed: $(cat "$work/dwarf.log")"
fi

# The structs of the profile, as pahole prints them from the DWARF. One call: pahole 1.24 given
# a list prints the structs of the first unit holding them (task_struct, page, module, printk's,
# ~50 of the 88 members) in 3 s; asking for the rest costs it ~25 s, so the rest are checked
# against BTF only.
structs=$(python3 -c 'import json,sys; print(",".join(json.load(open(sys.argv[1]))["structs"]))' \
  "$work/dwarf.json")
pahole -F dwarf -C "$structs,thread_struct,prb_desc_ring,prb_data_ring,prb_data_blk_lpos,idr,xarray,thread_info,module_layout" \
  "$VMLINUX" >"$work/pahole.txt" 2>"$work/pahole.err" || guest_die "pahole failed: $(cat "$work/pahole.err")"

if python3 - "$work/btf.json" "$work/dwarf.json" "$work/pahole.txt" >"$work/compare.log" 2>&1 <<'PY'
import json, re, sys
btf, dwarf = (json.load(open(p)) for p in sys.argv[1:3])
txt = open(sys.argv[3]).read()
bad = same = checked = unlisted = 0
def members(p):
    return {(s, m): {k: v for k, v in f.items() if k != "source"}
            for s, v in p["structs"].items() for m, f in v["members"].items()}
def sizes(p):
    return {s: v.get("size") for s, v in p["structs"].items()}
mb, md = members(btf), members(dwarf)
for key in sorted(set(mb) | set(md)):
    if mb.get(key) != md.get(key):
        print("DIFF", key, "BTF", mb.get(key), "DWARF", md.get(key)); bad += 1
    else:
        same += 1
if sizes(btf) != sizes(dwarf):
    print("SIZE DIFF", sizes(btf), sizes(dwarf)); bad += 1

# pahole: "TYPE NAME[:BITS]; /* OFFSET[:BIT] SIZE */"; a dotted path adds its parts' offsets.
blocks, psize = {}, {}
for m in re.finditer(r'^(?:struct|union) (\w+) \{\n(.*?)^\}', txt, re.S | re.M):
    blocks.setdefault(m.group(1), m.group(2))
for m in re.finditer(r'^(?:struct|union) (\w+) \{\n.*?/\* size: (\d+)', txt, re.S | re.M):
    psize.setdefault(m.group(1), int(m.group(2)))
def line_of(s, name):
    for line in blocks.get(s, "").split("\n"):
        m = re.match(r'^\s*(?:struct (\w+)\s+|\S.*?[\s*])%s(\[\d*\])*(?::(\d+))?'
                     r'(?: __attribute__\(\(.*?\)\))?;\s+/\*\s+(\d+)(?::\s*(\d+))?\s+(\d+)\s+\*/'
                     % re.escape(name), line)
        if m: return m
for s, v in dwarf["structs"].items():
    if "size" in v and s in psize:
        checked += 1
        if psize[s] != v["size"]: print("PAHOLE SIZE", s, v["size"], psize[s]); bad += 1
    for path, f in v["members"].items():
        cur, off, m = s, 0, None
        for part in path.split("."):
            m = line_of(cur, part) if cur else None
            if not m: break
            off += int(m.group(4)); cur = m.group(1)
        if not m:
            unlisted += 1; continue
        checked += 1
        got = (off * 8 + int(m.group(5) or 0), int(m.group(6)), int(m.group(3) or 0))
        want = (f.get("bit_offset", f["offset"] * 8), f["size"], f.get("bit_size", 0))
        if got != want:
            print("PAHOLE DIFF", s, path, "profile", want, "pahole", got); bad += 1
print(f"{same} members equal BTF's; {checked} members and sizes equal pahole's "
      f"({unlisted} in structs pahole did not print)")
sys.exit(1 if bad or same < 80 or checked < 40 else 0)
PY
then
  pass "the DWARF profile equals the BTF one and pahole: $(tail -n 1 "$work/compare.log")"
else
  fail "the DWARF profile differs (see $work/compare.log)"
fi
sed 's/^/    /' "$work/compare.log"
test_summary
