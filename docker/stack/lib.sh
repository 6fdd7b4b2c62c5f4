# Shell helpers of the stack's scripts (up.sh, airflow_up.sh, soak.sh): sourced, after env.sh.
step() { echo "== $*"; }
wait_for() {  # wait_for WHAT SECONDS CMD...: poll until CMD succeeds (fails fast if LAST died)
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 "$secs"); do
    "$@" > /dev/null 2>&1 && return 0
    if [ -n "${LAST:-}" ] && ! kill -0 "$(cat "$STACK/pids/$LAST.pid")" 2>/dev/null; then
      echo "$LAST exited:"; tail -n 20 "$STACK/logs/$LAST.log"; exit 1
    fi
    sleep 1
  done
  echo "$what did not come up in ${secs}s; logs in $STACK/logs"; exit 1
}
start() {  # start NAME CMD...: own session (process group), log + pid file, cwd outside the checkout
  local name=$1; shift
  (cd "$STACK/run" && exec setsid "$@" > "$STACK/logs/$name.log" 2>&1 < /dev/null) &
  echo $! > "$STACK/pids/$name.pid"
  LAST=$name
}
http_ok() { "$STACK_VENV/bin/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)" "$1"; }
