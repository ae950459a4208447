#!/usr/bin/env bash
# Zero-downtime rolling deploy of tasksync to several nodes, one at a time
# (docs/deploy.md, "Rolling deploys"). The pipeline (deploy.yml) runs it,
# and so does the test `rolling::…` in crates/server/tests/api.
#
#   rolling-deploy.sh --binary PATH [--release NAME] [options] NODE...
#   rolling-deploy.sh --rollback [options] NODE...
#
# A deploy first uploads the binary to every node (nothing changes yet),
# then, node by node: the first node backs the database up and applies
# the new migrations (which are expand-only, so the old release keeps
# running beside them: docs/ARCHITECTURE.md), then each node switches to
# the new release, restarts (the old process drains: /readyz fails, its
# sockets close with 1012 and reconnect to the other nodes) and must be
# ready and answer with the new version within --ready-timeout. If a node
# is not, it goes back to the release before, every node already upgraded
# is rolled back too (newest first), and the deploy stops with status 1.
# After each node it restarts (the last one too, and in a rollback) it
# waits --settle seconds, so that the load balancer has taken the node
# back before another one goes away: nginx keeps a node it saw refuse a
# connection out of rotation for its fail_timeout, and two nodes out at
# once means no node at all for the clients. A deploy that runs right
# after another (a rollback after a deploy) is safe for the same reason.
#
# --rollback puts every node back on the release before its current one.
#
# Options:
#   --release NAME        release directory name (default, when the binary
#                         runs here: its version and commit, such as
#                         0.1.0-1a2b3c4d5e6f)
#   --ready-timeout SECS  per node (default 60)
#   --settle SECS         pause after each node (default 5; at least
#                         nginx's fail_timeout, 2s in
#                         deploy/nginx/tasksync.conf, plus 1s: nginx
#                         counts it in whole seconds)
#
# How a node is reached: TASKSYNC_DEPLOY_EXEC, a command run as
# `$TASKSYNC_DEPLOY_EXEC NODE ACTION ARGS...` that runs node.sh there; by
# default `ssh -o BatchMode=yes NODE sudo /opt/tasksync/node.sh ACTION ARGS...`
# (TASKSYNC_DEPLOY_SSH_OPTIONS adds ssh options, such as -i KEY).
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

binary="" release="" rollback=0 timeout=60 settle=5
nodes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift ;;
    --release) release="$2"; shift ;;
    --rollback) rollback=1 ;;
    --ready-timeout) timeout="$2"; shift ;;
    --settle) settle="$2"; shift ;;
    -h | --help) usage ;;
    -*) echo "rolling-deploy: unknown option $1" >&2; usage ;;
    *) nodes+=("$1") ;;
  esac
  shift
done
[ ${#nodes[@]} -gt 0 ] || { echo "rolling-deploy: no nodes given" >&2; usage; }
[[ "$timeout" =~ ^[0-9]+$ ]] || { echo "rolling-deploy: --ready-timeout takes whole seconds" >&2; exit 2; }
[[ "$settle" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "rolling-deploy: --settle takes seconds" >&2; exit 2; }

say() { echo "rolling-deploy: $*" >&2; }

# Runs node.sh ACTION ARGS... on node $1.
on_node() {
  local node="$1"
  shift
  if [ -n "${TASKSYNC_DEPLOY_EXEC:-}" ]; then
    # A command line: split into words on purpose.
    # shellcheck disable=SC2086
    $TASKSYNC_DEPLOY_EXEC "$node" "$@"
  else
    # shellcheck disable=SC2086
    ssh -o BatchMode=yes ${TASKSYNC_DEPLOY_SSH_OPTIONS:-} -- "$node" sudo /opt/tasksync/node.sh "$@"
  fi
}

if [ "$rollback" = 1 ]; then
  [ -z "$binary" ] || { echo "rolling-deploy: --rollback takes no --binary" >&2; exit 2; }
  for i in "${!nodes[@]}"; do
    node="${nodes[$i]}"
    say "rolling $node back"
    on_node "$node" rollback --ready-timeout "$timeout" || { say "rollback of $node failed: stopping"; exit 1; }
    sleep "$settle"
  done
  say "rolled back ${#nodes[@]} node(s)"
  exit 0
fi

[ -n "$binary" ] || { echo "rolling-deploy: --binary PATH is required" >&2; usage; }
[ -f "$binary" ] || { echo "rolling-deploy: no such file: $binary" >&2; exit 2; }

if [ -z "$release" ]; then
  # Named after its version and commit, when the binary runs here.
  v="$("$binary" --version 2>/dev/null | sed -n 's/^tasksync //p')" \
    || { echo "rolling-deploy: cannot run $binary here: give --release NAME" >&2; exit 2; }
  [ -n "$v" ] || { echo "rolling-deploy: cannot run $binary here: give --release NAME" >&2; exit 2; }
  release="$(printf '%s' "$v" | sed 's/ (commit /-/; s/)$//; s/[^A-Za-z0-9._-]/-/g')"
fi

# 1. Upload everywhere first: a node that cannot take or run the binary
# stops the deploy before anything was restarted.
version=""
for node in "${nodes[@]}"; do
  got="$(on_node "$node" install "$release" < "$binary")" || { say "upload to $node failed: nothing was restarted"; exit 1; }
  if [ -z "$version" ]; then
    version="$got"
  elif [ "$got" != "$version" ]; then
    say "$node reports version '$got', others '$version': stopping"
    exit 1
  fi
done
say "deploying release $release ($version) to ${#nodes[@]} node(s)"

# 2. One node at a time.
upgraded=()
for i in "${!nodes[@]}"; do
  node="${nodes[$i]}"
  flags=(--ready-timeout "$timeout")
  [ "$i" = 0 ] && flags+=(--migrate)
  say "activating $release on $node"
  if ! on_node "$node" activate "$release" "${flags[@]}"; then
    say "$node did not come up on $release; it is back on its previous release"
    # It was restarted (twice) too: let the load balancer take it back
    # before the next node goes away.
    sleep "$settle"
    for ((j = ${#upgraded[@]} - 1; j >= 0; j--)); do
      say "rolling ${upgraded[$j]} back"
      on_node "${upgraded[$j]}" rollback --ready-timeout "$timeout" || say "rollback of ${upgraded[$j]} failed"
      sleep "$settle"
    done
    say "deploy of $release failed"
    exit 1
  fi
  upgraded+=("$node")
  sleep "$settle"
done
say "release $release is live on ${#nodes[@]} node(s)"
