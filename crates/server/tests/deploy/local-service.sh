#!/usr/bin/env bash
# Test stand-in for `systemctl restart tasksync` on a node directory DIR:
# stops the running process the way systemd does (SIGTERM, then SIGKILL
# after TimeoutStopSec, here $TASKSYNC_TEST_STOP_TIMEOUT seconds, default
# 45 as in deploy/systemd/tasksync.service) and starts DIR/current/tasksync serve
# with the settings of DIR/env. Every exit status goes to DIR/exits, every
# SIGKILL to DIR/kills, the server's log to DIR/log.
set -euo pipefail
dir="$1"
stop_timeout="${TASKSYNC_TEST_STOP_TIMEOUT:-45}"

if [ -f "$dir/pid" ]; then
  pid="$(cat "$dir/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    deadline=$((SECONDS + stop_timeout))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
      sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid"
      echo "$pid" >> "$dir/kills"
    fi
  fi
  # The supervisor writes the exit status once the process is gone.
  for _ in $(seq 1 100); do
    [ -f "$dir/pid" ] || break
    sleep 0.02
  done
fi

# A session of its own, detached from the caller's pipes: the deploy
# script's output must end when the script does.
# shellcheck disable=SC2016 # expanded by the inner shell
setsid bash -c '
  dir="$1"
  set -a
  . "$dir/env"
  set +a
  status=0
  sh -c "echo \$\$ > \"$dir/pid\"; exec \"$dir/current/tasksync\" serve" >> "$dir/log" 2>&1 || status=$?
  echo "$status" >> "$dir/exits"
  rm -f "$dir/pid"
' bash "$dir" < /dev/null > /dev/null 2>&1 &
