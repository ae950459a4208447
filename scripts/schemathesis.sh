#!/usr/bin/env bash
# Fuzzes POST /graphql with schemathesis, generated from schema.graphql
# (issue #15): a server in production mode (dev off) on a fresh SQLite
# database, one run as a signed-in user of at least 1,000 requests and a
# short anonymous one. Fails on a 5xx, an INTERNAL or uncoded error, an
# answer that names another account's data, a request that hangs, a server
# that panicked, died or stopped answering /healthz, and resident memory
# over its bounds (peak, and growth while fuzzing). docs/schemathesis.md
# says more.
#
# Exit status: 0 passed, 1 failed, 77 skipped (what is missing is printed
# as "SKIPPED: ...").
#
# Settings (environment):
#   SCHEMATHESIS_EXAMPLES     examples per operation, signed-in run (300)
#   SCHEMATHESIS_MIN_REQUESTS fewest requests the signed-in run must send (1000)
#   SCHEMATHESIS_MAX_RSS_MIB  bound on the server's peak VmRSS, MiB (300)
#   SCHEMATHESIS_MAX_GROWTH_MIB  bound on its VmRSS growth while fuzzing, MiB (32)
#   SCHEMATHESIS_SEED         seed of both runs, to replay a failure
#   SCHEMATHESIS_ARGS         more schemathesis options for both runs (e.g. "-w 4")
#   SCHEMATHESIS_KEEP         set: keep the run directory (logs, reports) after a pass
#   TASKSYNC_BIN              a built server binary (default: cargo build, debug)
#   PYTHON                    the Python 3.11+ that makes the venv (python3)
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
  echo "SKIPPED: $1" >&2
  exit 77
}

examples="${SCHEMATHESIS_EXAMPLES:-300}"
min_requests="${SCHEMATHESIS_MIN_REQUESTS:-1000}"
max_rss_mib="${SCHEMATHESIS_MAX_RSS_MIB:-300}"
max_growth_mib="${SCHEMATHESIS_MAX_GROWTH_MIB:-32}"
extra=()
if [ -n "${SCHEMATHESIS_SEED:-}" ]; then extra=(--seed "$SCHEMATHESIS_SEED"); fi
# shellcheck disable=SC2206 # split on purpose: a list of options
extra+=(${SCHEMATHESIS_ARGS:-})

# The server takes its settings from here only: a TASKSYNC_* variable of
# the calling shell (TASKSYNC_DEV=1 from `make run`) must not leak into it.
bin="${TASKSYNC_BIN:-}"
for var in $(env | sed -n 's/^\(TASKSYNC_[A-Z_]*\)=.*/\1/p'); do unset "$var"; done

# 1. schemathesis, pinned with all its dependencies, in a venv of its own
# under target/ (git-ignored), made again when the pins change.
python="${PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || skip "GraphQL fuzzing: $python is not installed (schemathesis needs Python 3.11+)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || skip "GraphQL fuzzing: schemathesis needs Python 3.11+, $python is $("$python" -V 2>&1)"
venv="$PWD/target/schemathesis-venv"
requirements=tests/schemathesis/requirements.txt
pins="$(sha256sum "$requirements" | cut -d' ' -f1) $("$python" -V 2>&1)"
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]; then
  echo "installing schemathesis into $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv" >&2 \
    || { rm -rf "$venv"; skip "GraphQL fuzzing: $python cannot make a venv (apt-get install python3-venv)"; }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2 \
    || { rm -rf "$venv"; skip "GraphQL fuzzing: pip cannot install $requirements (no PyPI?)"; }
  echo "$pins" > "$venv/.pins"
fi
py="$venv/bin/python"
st="$venv/bin/schemathesis"

# 2. The server binary.
if [ -z "$bin" ]; then
  command -v cargo >/dev/null 2>&1 || skip "GraphQL fuzzing: cargo is not installed (https://rustup.rs)"
  cargo build --locked -p tasksync-server --bin tasksync
  bin=target/debug/tasksync
fi
[ -x "$bin" ] || { echo "no server binary at $bin" >&2; exit 1; }
[ -r /proc/self/status ] || skip "GraphQL fuzzing: no /proc to sample the server's memory from"

started=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/tasksync-schemathesis.XXXXXX")"
server=""
sampler=""
cleanup() {
  local status=$?
  if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; fi
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ "$status" = 0 ] && [ -z "${SCHEMATHESIS_KEEP:-}" ]; then
    rm -rf "$work"
  else
    echo "schemathesis: the server's log, the reports and the HAR files are kept in $work" >&2
  fi
}
trap cleanup EXIT

# 3. A server as in production: dev mode off (no dev mailbox, no GraphiQL,
# no introspection: the schema comes from schema.graphql), on port 0. It
# needs an SMTP server to start; port 1 refuses at once, so the sign-up
# codes fail to send (logged) and the accounts are confirmed with
# `tasksync users confirm` instead. Every integer rate limit that
# `serve --help` lists (auth's today, GraphQL's when it comes) is raised:
# the run is about what the server answers, not about how often.
limits=()
for name in $("$bin" serve --help | tr -s ' \n' '  ' \
  | grep -o 'env: TASKSYNC_[A-Z_]*=\] \[default: [0-9]*\]' \
  | sed -n 's/^env: \(TASKSYNC_[A-Z_]*\(RATE\|BURST\|PER_SECOND\|PER_MINUTE\)[A-Z_]*\)=.*/\1/p'); do
  limits+=("$name=100000")
done
metrics_token="$("$py" -c 'import secrets; print(secrets.token_hex(16))')"
export TASKSYNC_DATABASE_URL="sqlite://$work/data/tasksync.db"
env "${limits[@]}" \
  TASKSYNC_LISTEN=127.0.0.1:0 \
  TASKSYNC_SMTP_URL=smtp://127.0.0.1:1 \
  TASKSYNC_METRICS_TOKEN="$metrics_token" \
  TASKSYNC_ACCESS_TOKEN_TTL=1h \
  TASKSYNC_SHUTDOWN_GRACE=5s \
  TASKSYNC_DRAIN_DELAY=0s \
  TASKSYNC_DRAIN_SOCKET_WINDOW=1s \
  TASKSYNC_LOG_FORMAT=json \
  RUST_LOG=info \
  "$bin" serve > "$work/server.log" 2>&1 &
server=$!
addr=""
for _ in $(seq 1 300); do
  addr="$(grep -m 1 '"tasksync listening"' "$work/server.log" | sed 's/.*"addr":"\([^"]*\)".*/\1/' || true)"
  [ -n "$addr" ] && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "schemathesis: the server did not start:" >&2
  tail -n 20 "$work/server.log" >&2
  exit 1
fi
base="http://$addr"
echo "schemathesis: server $bin at $base (production mode; raised: ${limits[*]:-none})" >&2

# The server's resident memory, sampled every 0.1 s for as long as it runs.
(
  while kill -0 "$server" 2>/dev/null; do
    sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$server/status" 2>/dev/null || true
    sleep 0.1
  done
) > "$work/rss.kib" &
sampler=$!

# 4. Accounts, seed tasks, dictionaries (harness.py), then the two runs.
run="$work/run"
root="$PWD"
"$py" tests/schemathesis/harness.py prepare --url "$base" --bin "$bin" --out "$run" >&2
cp tests/schemathesis/schemathesis.toml "$run/"
# Where fuzzing starts in the samples: growth from here on is the runs'.
fuzz_from=$(( $(wc -l < "$work/rss.kib") + 1 ))
export SCHEMATHESIS_HOOKS="$PWD/tests/schemathesis/hooks.py"
export TASKSYNC_ST_FOREIGN="$run/foreign"

fuzz() { # name, minimum requests, schemathesis options...
  local name="$1" min="$2"
  shift 2
  local status=0
  # From the run directory, so that nothing schemathesis writes lands in the tree.
  (cd "$run" && "$st" --config-file "$run/schemathesis.toml" run "$root/schema.graphql" \
    --url "$base/graphql" --request-timeout 10 --generation-database none --no-color \
    --report json,har --report-dir "$run/$name" "${extra[@]}" "$@") > "$work/$name.log" 2>&1 || status=$?
  local verdict=0
  "$py" tests/schemathesis/harness.py summarize --name "$name" --har "$run/$name"/har-*.json \
    --report "$run/$name"/json-*.json --min-requests "$min" > "$work/$name.summary" 2>&1 || verdict=$?
  if [ "$status" != 0 ] || [ "$verdict" != 0 ]; then
    cat "$work/$name.log" "$work/$name.summary" >&2
    echo "schemathesis: the $name run failed (schemathesis exited with $status)" >&2
    exit 1
  fi
  cat "$work/$name.summary" >> "$work/summary.jsonl"
}
fuzz signed-in "$min_requests" -n "$examples" -H "Authorization: Bearer $(cat "$run/token")"
fuzz anonymous 1 -n 20

# 5. The server survived without a panic, answers, counted no 5xx itself;
# its memory stayed under the bounds.
if ! kill -0 "$server" 2>/dev/null; then
  echo "schemathesis: the server died during the run:" >&2
  tail -n 20 "$work/server.log" >&2
  exit 1
fi
if grep -q 'panicked' "$work/server.log"; then
  echo "schemathesis: the server panicked:" >&2
  grep -A 5 'panicked' "$work/server.log" | head -n 40 >&2
  exit 1
fi
"$py" tests/schemathesis/harness.py server --url "$base" --metrics-token "$metrics_token" >> "$work/summary.jsonl" \
  || { cat "$work/summary.jsonl" >&2; exit 1; }
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=""
cat "$work/summary.jsonl" >&2
# The peak over the server's whole life (the sign-ups' Argon2 hashing is
# most of it), and the growth while fuzzing, from the lowest sample to the
# last one (memory that stays is how a leak would show).
mib() { echo $(( ${1:-0} / 1024 )); }
peak_mib=$(mib "$(sort -n "$work/rss.kib" | tail -n 1)")
fuzz_low_mib=$(mib "$(tail -n "+$fuzz_from" "$work/rss.kib" | sort -n | head -n 1)")
fuzz_end_mib=$(mib "$(tail -n 1 "$work/rss.kib")")
growth_mib=$(( fuzz_end_mib - fuzz_low_mib ))
requests="$("$py" -c 'import json,sys; print(sum(json.loads(l).get("requests", 0) for l in open(sys.argv[1])))' "$work/summary.jsonl")"
line="schemathesis: $requests requests, 0 failed checks, peak RSS $peak_mib MiB (bound $max_rss_mib), \
growth while fuzzing $growth_mib MiB (bound $max_growth_mib), $(( SECONDS - started )) s with the server up"
if [ "$peak_mib" = 0 ] || [ "$peak_mib" -ge "$max_rss_mib" ] || [ "$growth_mib" -ge "$max_growth_mib" ]; then
  echo "$line: FAILED, the server's resident memory is over a bound" >&2
  exit 1
fi
echo "$line"
