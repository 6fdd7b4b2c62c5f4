#!/usr/bin/env bash
# `make stack-down`: stop every process `up.sh` started, by its pid file's process group
# (each part runs in its own session), Airflow first, then Ray, SMTP, S3. PostgreSQL, which
# was on the machine before, keeps running; its two stack databases stay until the next up.
# `down.sh NAME...` stops only those parts (soak.sh: the Airflow ones).
set -uo pipefail
source "$(dirname "$0")/env.sh"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(airflow-scheduler airflow-triggerer airflow-dag-processor airflow-apiserver ray-worker ray-head smtp s3)
for name in "${parts[@]}"; do
  f="$STACK/pids/$name.pid"
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null
    echo "stopped $name (process group $pid)"
  fi
  rm -f "$f"
done
