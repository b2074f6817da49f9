#!/usr/bin/env bash
# infer_test.sh --tlpstub BIN --kernel K --cpu C --cache DIR --initrd FILE [--workdir DIR] [--mem SIZE]
#
# Structure offsets without BTF: the guest is paused and its RAM copied twice; in one copy the
# bytes between the guest's own __start_BTF and __stop_BTF (its kallsyms on the serial console,
# or System.map + KASLR slide) are zeroed. tlpstub on the intact copy serves BTF offsets (its
# BTF path is checked against pahole by btf_test.sh); tlpstub on the wiped copy must fall back
# to offset inference, and `monitor offsets --json` must give, for every member below, the
# offset BTF gives, with an "inference (...)" source: the task members, on_cpu and the task's
# CPU (the guest has two CPUs, so that CPU numbers differ between the running tasks), the
# printk ring buffer's members (bitfields with BTF's bit offset and width) and the sizes of
# prb_desc and printk_info. Members inference has no method for must be reported missing,
# never wrong. `monitor dmesg` on the wiped copy must print the very lines it prints with BTF.
#
# Profiles: the intact run saves `monitor profile save P`; tlpstub on the wiped copy with
# --profile P must give `monitor offsets` equal to BTF's for every member BTF knows (source
# "profile") and `monitor ps --json` equal to the BTF run's; P with another release written in
# must be refused (types fail, naming both releases). With --vmlinux (the -dbg package's
# vmlinux, fetch-kernel.sh --vmlinux), `tlpstub --make-profile VMLINUX --out P2` must give a
# profile that loads on the wiped copy (its release and build id equal the running kernel's)
# and gives the same offsets and ps as BTF.
# Without BTF, `monitor type task_struct --json` must be the partial layout: labelled partial,
# every member inference found at the offset BTF gives.
# Exit 77 when the tlpstub binary does not exist (a failure under CI=true).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

test_take_tlpstub "$@"
tlpstub=$TLPSTUB rest=() with_vmlinux=0 kernel= cache=
set -- "${TEST_ARGS[@]}"
while (($#)); do
  case "$1" in
    --vmlinux) with_vmlinux=1; shift ;;
    --kernel) kernel=$2; rest+=("$1" "$2"); shift 2 ;;
    --cache) cache=$2; rest+=("$1" "$2"); shift 2 ;;
    *) rest+=("$1"); shift ;;
  esac
done
vmlinux=
if (( with_vmlinux )); then
  vmlinux=$(eval "$("$here/fetch-kernel.sh" --vmlinux "$kernel" "$cache")"; echo "$VMLINUX")
  [[ -n $vmlinux && -f $vmlinux ]] || guest_die "no -dbg vmlinux (fetch-kernel.sh --vmlinux $kernel)"
fi

# Two CPUs: with one, every task's CPU is 0 and the data cannot tell that member apart.
guest_test_boot "${rest[@]}" --smp 2
tmp=$GUEST_DIR

start=$(guest_sym __start_BTF) stop=$(guest_sym __stop_BTF)
[[ -n $start && -n $stop ]] || guest_die "no __start_BTF/__stop_BTF on the serial console"
pa=$(guest_kva2pa "$start")
off=$(guest_ram_offset "$pa")
guest_pause
cp "$GUEST_RAM" "$tmp/ram-btf.bin"
cp "$GUEST_RAM" "$tmp/ram-nobtf.bin"
guest_stop
dd if=/dev/zero of="$tmp/ram-nobtf.bin" bs=1M iflag=count_bytes oflag=seek_bytes conv=notrunc \
   seek="$off" count=$((stop - start)) status=none
echo "guest: __start_BTF $start __stop_BTF $stop ($((stop - start)) bytes at phys $pa) zeroed in the copy"

# offsets_of RAMFILE NAME [TLPSTUB ARGS...]: `monitor info --json`, `monitor offsets --json` and
# `monitor ps --json` once types are done; the intact run (btf) also saves a profile.
offsets_of() {
  local ram=$1 name=$2 port out t0=$SECONDS
  shift 2
  port=$(free_port)
  local targs=(--memory "$ram" "$@")
  (( GUEST_MAP_IDENTITY )) || targs+=(--map "$GUEST_MAP")
  local save=()
  [[ $name == btf ]] && save=("monitor profile save $tmp/profile.json")
  stub_start "$tlpstub" "$tmp/tlpstub-$name.log" "$port" "${targs[@]}"
  while :; do
    out=$(stub_gdb "$port" "monitor info" || true)
    [[ $out == *"discovery: running"* || $out == *"types: recovering"* ]] || break
    (( SECONDS - t0 > 90 )) && { fail "$name: types still not recovered after 90 s"; break; }
    sleep 0.5
  done
  out=$(stub_gdb "$port" ==I== "monitor info --json" ==O== "monitor offsets --json" \
        ==P== "monitor ps --json" ==T== "monitor info" ==OT== "monitor offsets" \
        ==S== "${save[@]}" "monitor profile" ==TY== "monitor type task_struct --json" \
        ==D== "monitor dmesg" ==END== || true)
  echo "$out" >"$tmp/gdb-$name.log"
  harness seg I <<<"$out" >"$tmp/info-$name.json"
  harness seg O <<<"$out" >"$tmp/offsets-$name.json"
  harness seg P <<<"$out" >"$tmp/ps-$name.json"
  harness seg TY <<<"$out" >"$tmp/type-$name.json"
  harness seg D <<<"$out" >"$tmp/dmesg-$name.txt"
  echo "--- $name: monitor info (types) and monitor offsets"
  harness seg T <<<"$out" | sed -n '/^types:/,/^kallsyms:/p' | sed 's/^/    /'
  harness seg OT <<<"$out" | sed 's/^/    /'
  harness seg S <<<"$out" | sed 's/^/    /'
  kill "$STUB_PID" 2>/dev/null || true
}
offsets_of "$tmp/ram-btf.bin" btf
offsets_of "$tmp/ram-nobtf.bin" nobtf
[[ -s $tmp/profile.json ]] || fail "btf: monitor profile save wrote no $tmp/profile.json"
offsets_of "$tmp/ram-nobtf.bin" profile --profile "$tmp/profile.json"
# The same profile with another release: refused, saying which differs.
sed 's/"release": "/"release": "9.9.9-other-/' "$tmp/profile.json" >"$tmp/profile-wrong.json"
offsets_of "$tmp/ram-nobtf.bin" wrong --profile "$tmp/profile-wrong.json"
if grep -q "refused: the profile is for release '9.9.9-other-" "$tmp/gdb-wrong.log"; then
  pass "a profile for another release is refused: $(grep -o "profile [^ ]* refused: [^)]*)" \
        "$tmp/gdb-wrong.log" | head -n 1)"
else
  fail "a profile for another release was not refused (see $tmp/gdb-wrong.log)"
fi
# compare_profile NAME: the run NAME (with a --profile) against the BTF run.
compare_profile() {
python3 - "$tmp/offsets-btf.json" "$tmp/offsets-$1.json" "$tmp/ps-btf.json" \
     "$tmp/ps-$1.json" "$tmp/info-$1.json" <<'PY'
import json, sys
off_b, off_p, ps_b, ps_p, info_p = (json.load(open(p)) for p in sys.argv[1:6])
bad = 0
def check(ok, msg):
    global bad
    print(("ok   " if ok else "FAIL ") + msg)
    bad += not ok
prof = info_p["types"].get("profile")
check(prof is not None and prof["members"] > 0, f"profile run: types with a profile ({prof})")
pro = {(o["struct"], o["wanted"]): o for o in off_p["offsets"]}
same = 0
for b in off_b["offsets"]:
    key = (b["struct"], b["wanted"])
    p = pro.get(key)
    name = f"{key[0]}.{key[1]}"
    if b["offset"] is None:
        continue
    fields = ("member", "offset", "size", "bit_offset", "bit_size", "type")
    ok = p is not None and all(p[f] == b[f] for f in fields) and p["source"] == "profile"
    check(ok, f"{name}: profile {[p.get(f) for f in fields + ('source',)] if p else None}; "
              f"BTF {[b[f] for f in fields]}")
    same += ok
sb = {s["struct"]: s for s in off_b["sizes"]}
for s in off_p["sizes"]:
    b = sb[s["struct"]]
    if b["size"] is not None:
        check(s["size"] == b["size"] and s["source"] == "profile",
              f"sizeof({s['struct']}): profile {s['size']} ({s['source']}); BTF {b['size']}")
keys = ("method", "complete", "warnings", "tasks")
check(ps_b["tasks"] != [], f"BTF run: monitor ps lists {len(ps_b['tasks'])} tasks")
for k in keys:
    check(ps_p[k] == ps_b[k], f"monitor ps --json '{k}' equal to the BTF run's" +
          ("" if ps_p[k] == ps_b[k] else f": {str(ps_p[k])[:300]} vs {str(ps_b[k])[:300]}"))
print(f"{same} profile offsets equal BTF's; ps: {len(ps_p['tasks'])} tasks equal")
sys.exit(1 if bad else 0)
PY
}
if compare_profile profile >"$tmp/compare-profile.log" 2>&1; then
  pass "a profile from the BTF run gives BTF's offsets and ps without BTF: $(tail -n 1 "$tmp/compare-profile.log")"
else
  fail "the profile run differs from the BTF run (see $tmp/compare-profile.log)"
fi
sed 's/^/    /' "$tmp/compare-profile.log"

# A profile made from the -dbg vmlinux file, not from memory.
if (( with_vmlinux )); then
  if "$tlpstub" --make-profile "$vmlinux" --out "$tmp/profile-vmlinux.json" \
       >"$tmp/make-profile.log" 2>&1; then
    sed 's/^/    /' "$tmp/make-profile.log"
    offsets_of "$tmp/ram-nobtf.bin" vmlinux --profile "$tmp/profile-vmlinux.json"
    if compare_profile vmlinux >"$tmp/compare-vmlinux.log" 2>&1; then
      pass "the profile made from ${vmlinux##*/} gives BTF's offsets and ps without BTF: $(tail -n 1 "$tmp/compare-vmlinux.log")"
    else
      fail "the vmlinux profile run differs from the BTF run (see $tmp/compare-vmlinux.log)"
    fi
    grep -q '"build_id": "[0-9a-f]\{40\}"' "$tmp/profile-vmlinux.json" ||
      fail "the vmlinux profile has no build id: $(grep build_id "$tmp/profile-vmlinux.json")"
    grep -v '^ok ' "$tmp/compare-vmlinux.log" | sed 's/^/    /' || true
  else
    fail "tlpstub --make-profile $vmlinux failed: $(cat "$tmp/make-profile.log")"
  fi
fi

# monitor type without BTF: partial, and every member listed at BTF's offset.
if python3 - "$tmp/offsets-btf.json" "$tmp/type-nobtf.json" >"$tmp/compare-type.log" 2>&1 <<'PY'
import json, sys
off_b, ty = (json.load(open(p)) for p in sys.argv[1:3])
btf = {(o["struct"], o["member"]): o for o in off_b["offsets"] if o["offset"] is not None}
bad = 0 if ty.get("partial") is True else 1
print(f"partial: {ty.get('partial')}, source: {ty.get('source')}")
for m in ty["members"]:
    b = btf.get(("task_struct", m["name"]))
    ok = b is not None and b["offset"] == m["offset"] and m["source"].startswith("inference")
    print(("ok   " if ok else "FAIL ") + f"{m['name']}: {m['offset']} ({m['source']}); BTF {b and b['offset']}")
    bad += not ok
print(f"{len(ty['members'])} members listed, {len(ty.get('missing', []))} missing")
sys.exit(1 if bad or len(ty["members"]) < 10 else 0)
PY
then
  pass "monitor type task_struct without BTF: partial, inferred members at BTF's offsets: $(tail -n 1 "$tmp/compare-type.log")"
else
  fail "monitor type task_struct without BTF (see $tmp/compare-type.log)"
fi
sed 's/^/    /' "$tmp/compare-type.log" | grep -v '^    ok ' || true

if python3 - "$tmp/info-btf.json" "$tmp/offsets-btf.json" "$tmp/info-nobtf.json" \
     "$tmp/offsets-nobtf.json" >"$tmp/compare.log" 2>&1 <<'PY'
import json, sys
info_b, off_b, info_n, off_n = (json.load(open(p)) for p in sys.argv[1:5])
want = {("task_struct", w) for w in ("tasks", "pid", "tgid", "comm", "real_parent", "parent",
        "mm", "active_mm", "flags", "__state|state", "signal", "thread_node|thread_group",
        "stack", "thread.sp", "thread_info.cpu|cpu")}
want |= {("mm_struct", "pgd"), ("signal_struct", "thread_head"), ("task_struct", "on_cpu")}
want |= {("printk_ringbuffer", "desc_ring." + m) for m in
         ("count_bits", "descs", "infos", "head_id", "tail_id")}
want |= {("printk_ringbuffer", "text_data_ring." + m) for m in
         ("size_bits", "data", "head_lpos", "tail_lpos")}
want |= {("prb_desc", m) for m in ("state_var", "text_blk_lpos.begin", "text_blk_lpos.next")}
want |= {("printk_info", m) for m in
         ("seq", "ts_nsec", "text_len", "facility", "flags", "level", "caller_id")}
bad = 0
def check(ok, msg):
    global bad
    print(("ok   " if ok else "FAIL ") + msg)
    bad += not ok
check(info_b["types"].get("source") == "BTF", f"intact RAM: types from BTF ({info_b['types']})")
check(info_n["types"].get("source") == "inference",
      f"wiped RAM: types from inference ({info_n['types']})")
btf = {(o["struct"], o["wanted"]): o for o in off_b["offsets"]}
inf = {(o["struct"], o["wanted"]): o for o in off_n["offsets"]}
agree = 0
for key in sorted(btf):
    b, i = btf[key], inf.get(key)
    name = f"{key[0]}.{key[1]}"
    if i is None:
        check(False, f"{name}: not listed without BTF")
    elif i["offset"] is None:
        check(key not in want, f"{name}: missing without BTF ({i.get('missing')}); BTF {b['offset']}")
    else:
        same = all(i[f] == b[f] for f in ("offset", "member", "bit_offset", "bit_size"))
        check(same and i["source"].startswith("inference"),
              f"{name}: {i['member']} at {i['offset']} (bits {i['bit_offset']}:{i['bit_size']}) "
              f"by {i['source']}; BTF: {b['member']} at {b['offset']} "
              f"(bits {b['bit_offset']}:{b['bit_size']})")
        agree += same
sb = {z["struct"]: z for z in off_b["sizes"]}
sizes = 0
for z in off_n["sizes"]:
    if z["size"] is None:
        continue
    b = sb[z["struct"]]
    check(z["size"] == b["size"] and z["source"].startswith("inference"),
          f"sizeof({z['struct']}): {z['size']} by {z['source']}; BTF {b['size']}")
    sizes += 1
check(sizes >= 2, f"{sizes} struct sizes inferred (prb_desc and printk_info wanted)")
print(f"{agree} inferred offsets equal BTF's; {len(want)} required; {sizes} sizes")
sys.exit(1 if bad else 0)
PY
then
  pass "inference without BTF agrees with BTF: $(tail -n 1 "$tmp/compare.log")"
else
  fail "inference without BTF differs from BTF (see $tmp/compare.log)"
fi
sed 's/^/    /' "$tmp/compare.log"
# monitor dmesg without BTF: the same lines as with BTF (the log is read from the same copy).
nb=$(grep -c . "$tmp/dmesg-btf.txt" || true) nn=$(grep -c . "$tmp/dmesg-nobtf.txt" || true)
if (( nb > 20 )) && cmp -s "$tmp/dmesg-btf.txt" "$tmp/dmesg-nobtf.txt"; then
  pass "monitor dmesg without BTF prints the same $nn lines as with BTF (last: $(tail -n 1 "$tmp/dmesg-nobtf.txt"))"
else
  fail "monitor dmesg without BTF ($nn lines) differs from BTF's ($nb lines): diff $tmp/dmesg-btf.txt $tmp/dmesg-nobtf.txt"
  diff "$tmp/dmesg-btf.txt" "$tmp/dmesg-nobtf.txt" | head -n 10 | sed 's/^/    /' || true
fi
[[ -n ${INFER_KEEP_RAM:-} ]] || rm -f "$tmp/ram-btf.bin" "$tmp/ram-nobtf.bin"
test_summary
