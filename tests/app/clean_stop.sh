# clean_stop PID LOG: sends SIGTERM to tlpstub (PID, a child of this shell) and prints PASS if it
# ends with status 0 within 10 s, else FAIL with the end of LOG, and returns 1. A clean stop
# also runs a sanitizer build's exit checks (leaks). Sourced by the app tests' scripts.
clean_stop() {
  local pid=$1 log=$2 st=0
  kill -TERM "$pid" 2>/dev/null || true  # already gone: the wait below reports its status
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "FAIL: tlpstub still running 10 s after SIGTERM"
    return 1
  fi
  wait "$pid" || st=$?
  if ((st == 0)); then
    echo "PASS: SIGTERM stops tlpstub with status 0"
    return 0
  fi
  echo "FAIL: tlpstub exited with status $st after SIGTERM"
  tail -20 "$log"
  return 1
}
