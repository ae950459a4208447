#!/usr/bin/env bash
# GraphQL documents are in single quotes: their $variables are GraphQL's.
# shellcheck disable=SC2016
# Writes the upgrade fixture of a release (docs/deploy.md, "Upgrades"):
# crates/store/tests/fixtures/upgrade/VERSION/{sqlite.db,postgres.sql,expected.json},
# the databases that release's binary writes, which the upgrade test
# (crates/store/tests/upgrade.rs) opens with every later binary.
#
#   bash scripts/upgrade-fixture.sh 0.1.0
#   TASKSYNC_BIN=/path/to/tasksync-0.1.0 bash scripts/upgrade-fixture.sh 0.1.0
#
# The data is what a real server writes: the script runs `tasksync serve
# --dev` (once on a fresh SQLite file, once on a fresh PostgreSQL database)
# and drives it over HTTP like a client (sign-ups confirmed with the codes
# of the dev mailbox, sign-ins, a sign-out, task writes), and disables an
# account with `tasksync users disable`. The same scenario on both
# backends, with fixed task ids, so one expected.json describes both.
#
# Run it with the release's own binary (a build of its tag), once per
# release; commit the directory it writes. It uses only what every release
# has (serve, users, HTTP), not newer commands.
#
# Settings (environment):
#   TASKSYNC_BIN        the release's binary (default: cargo build, debug)
#   TASKSYNC_FIXTURE_PG a PostgreSQL database URL the script may create
#                       databases from (default postgres://postgres@127.0.0.1:5432/test)
#   FORCE               set: replace an existing fixture directory
#
# Needs curl, jq, sqlite3, psql and pg_dump.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "upgrade-fixture: $*" >&2
  exit 1
}

version="${1:-}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-.][0-9A-Za-z.]+)?$ ]] ||
  die "usage: scripts/upgrade-fixture.sh VERSION (such as 0.1.0)"
out="crates/store/tests/fixtures/upgrade/$version"
if [[ -e "$out" && -z "${FORCE:-}" ]]; then
  die "$out exists (FORCE=1 replaces it)"
fi
for tool in curl jq sqlite3 psql pg_dump; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
admin_url="${TASKSYNC_FIXTURE_PG:-postgres://postgres@127.0.0.1:5432/test}"
bin="${TASKSYNC_BIN:-}"
if [[ -z "$bin" ]]; then
  cargo build --quiet -p tasksync-server
  bin=target/debug/tasksync
fi
bin="$(realpath "$bin")"

work="$(mktemp -d)"
pg_db="tasksync_fixture_$$"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  psql -q "$admin_url" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# start URL: runs a dev server on that database; sets $base.
start() {
  : >"$work/server.log"
  TASKSYNC_DATABASE_URL="$1" TASKSYNC_PUBLIC_URL=http://fixture.test RUST_LOG=info \
    "$bin" serve --dev --listen 127.0.0.1:0 --log-format json 2>"$work/server.log" &
  server_pid=$!
  local addr=""
  for _ in $(seq 1 600); do
    addr="$(jq -rR 'fromjson? | select(.message == "tasksync listening") | .addr' \
      "$work/server.log" | head -n 1)"
    [[ -n "$addr" ]] && break
    kill -0 "$server_pid" 2>/dev/null || die "the server exited: $(cat "$work/server.log")"
    sleep 0.1
  done
  [[ -n "$addr" ]] || die "the server did not start: $(cat "$work/server.log")"
  base="http://$addr"
}

stop() {
  kill -TERM "$server_pid"
  wait "$server_pid" || die "the server did not stop cleanly"
  server_pid=""
}

# post PATH JSON [TOKEN]: the answer's body; fails on a status >= 400.
post() {
  local auth=()
  [[ -n "${3:-}" ]] && auth=(-H "authorization: Bearer $3")
  curl -sS --fail-with-body -X POST -H 'content-type: application/json' "${auth[@]}" \
    --data "$2" "$base$1"
}

# gql TOKEN QUERY [VARIABLES]: the answer's data; fails on errors.
gql() {
  local body answer
  body="$(jq -nc --arg q "$2" --argjson v "${3:-{\}}" '{query: $q, variables: $v}')"
  answer="$(post /graphql "$body" "$1")"
  jq -e '.errors == null' <<<"$answer" >/dev/null || die "GraphQL: $answer"
  jq -c '.data' <<<"$answer"
}

password='correct horse battery staple'

sign_up() {
  post /auth/sign-up "$(jq -nc --arg e "$1" --arg p "$password" '{email: $e, password: $p}')" >/dev/null
}

# confirm EMAIL: with the code of the newest mail to it.
confirm() {
  local code=""
  for _ in $(seq 1 100); do
    code="$(curl -sS "$base/dev/mailbox" |
      jq -r --arg to "$1" '[.[] | select(.to == $to)] | last | .text // ""' |
      grep -oE '\b[0-9]{6}\b' | head -n 1 || true)"
    [[ -n "$code" ]] && break
    sleep 0.05
  done
  [[ -n "$code" ]] || die "no code mailed to $1"
  post /auth/confirm-sign-up "$(jq -nc --arg e "$1" --arg c "$code" '{email: $e, code: $c}')" >/dev/null
}

# sign_in EMAIL: the sign-in answer (accessToken, refreshToken, …).
sign_in() {
  post /auth/sign-in "$(jq -nc --arg e "$1" --arg p "$password" '{email: $e, password: $p}')"
}

# The writes, in order, as "email task op" lines: the change log expected.
: >"$work/log"
create() { # TOKEN EMAIL ID TITLE [DESCRIPTION]
  gql "$1" 'mutation($i: CreateTaskInput!) { createTask(input: $i) { id } }' \
    "$(jq -nc --arg id "$3" --arg t "$4" --arg d "${5:-}" \
      '{i: ({id: $id, title: $t} + (if $d == "" then {} else {description: $d} end))}')" >/dev/null
  echo "$2 $3 create" >>"$work/log"
}
update() { # TOKEN EMAIL INPUT-JSON
  gql "$1" 'mutation($i: UpdateTaskInput!) { updateTask(input: $i) { id } }' "{\"i\": $3}" >/dev/null
  echo "$2 $(jq -r .id <<<"$3") update" >>"$work/log"
}
delete() { # TOKEN EMAIL ID
  gql "$1" 'mutation($id: ID!) { deleteTask(input: { id: $id }) { id } }' \
    "$(jq -nc --arg id "$3" '{id: $id}')" >/dev/null
  echo "$2 $3 delete" >>"$work/log"
}

alice=alice@example.com bob=bob@example.com carol=carol@example.com
t1=00000000-0000-4000-8000-000000000001
t2=00000000-0000-4000-8000-000000000002
t3=00000000-0000-4000-8000-000000000003
t4=00000000-0000-4000-8000-000000000004
t5=00000000-0000-4000-8000-000000000005

# facts TOKEN EMAIL BACKEND: the user's cursor now, and every task of the
# user at its latest state, tombstones included (a sync from the log's
# start), into $work/facts-BACKEND-EMAIL.json.
facts() {
  local cursor start
  cursor="$(gql "$1" 'query { syncTasks(limit: 1) { cursor } }' | jq -r .syncTasks.cursor)"
  # The same scope at seq 0 (a cursor is "c1", the scope and the seq in hex).
  start="${cursor:0:34}0000000000000000"
  gql "$1" 'query($c: String) { syncTasks(lastSync: $c, limit: 1000) { fullSync items { id title description done version deleted } } }' \
    "$(jq -nc --arg c "$start" '{c: $c}')" |
    jq --arg cursor "$cursor" '
      if .syncTasks.fullSync then error("a sync from seq 0 was a full sync") else . end |
      {cursor: $cursor, tasks: .syncTasks.items}' >"$work/facts-$3-$2.json"
}

# scenario BACKEND DATABASE-URL: the same writes on a fresh database;
# leaves the cursors in $work/cursors-BACKEND.json.
scenario() {
  : >"$work/log"
  start "$2"
  sign_up "$alice"
  confirm "$alice"
  local a1 a2 c1
  a1="$(sign_in "$alice")"
  a2="$(sign_in "$alice")"
  # One of Alice's two sessions ends: one active, one revoked.
  post /auth/sign-out "$(jq -c '{refreshToken: .refreshToken}' <<<"$a2")" >/dev/null
  a1="$(jq -r .accessToken <<<"$a1")"
  sign_up "$bob" # never confirmed
  sign_up "$carol"
  confirm "$carol"
  c1="$(jq -r .accessToken <<<"$(sign_in "$carol")")"

  create "$a1" "$alice" "$t1" 'Buy milk 🥛' '2 litres, ½ skimmed'
  create "$a1" "$alice" "$t2" 'Ünïcödé ✓ 日本語 — «quotes» & <tags> "and" \back'
  create "$a1" "$alice" "$t3" 'Third, to be deleted'
  update "$a1" "$alice" "{\"id\": \"$t1\", \"title\": \"Buy oat milk 🥛\", \"done\": true}"
  update "$a1" "$alice" "{\"id\": \"$t2\", \"description\": \"added later ✍\"}"
  delete "$a1" "$alice" "$t3"
  create "$a1" "$alice" "$t4" 'After the delete'
  create "$c1" "$carol" "$t5" "Carol's only task"

  facts "$a1" "$alice" "$1"
  facts "$c1" "$carol" "$1"
  # Disabling ends Carol's session (the admin command, beside the server).
  TASKSYNC_DATABASE_URL="$2" "$bin" users disable "$carol" >/dev/null
  stop
}

mkdir -p "$work/sqlite"
scenario sqlite "sqlite://$work/sqlite/tasksync.db"
cp "$work/log" "$work/log-sqlite"
psql -q "$admin_url" -c "CREATE DATABASE \"$pg_db\"" >/dev/null
pg_url="$(sed -E "s#/[^/?]*(\\?|$)#/$pg_db\\1#" <<<"${admin_url%/}" )"
scenario postgres "$pg_url"
cmp -s "$work/log" "$work/log-sqlite" || die "the scenario differed between the backends"

rm -rf "$out"
mkdir -p "$out"
# One small file: a vacuumed copy, out of WAL mode, with small pages.
sqlite3 "$work/sqlite/tasksync.db" "VACUUM INTO '$work/fixture.db'"
sqlite3 "$work/fixture.db" 'PRAGMA journal_mode = DELETE; PRAGMA page_size = 1024; VACUUM;' >/dev/null
cp "$work/fixture.db" "$out/sqlite.db"
# Plain INSERTs a test runs with sqlx's raw_sql; psql's \restrict lines
# (pg_dump 15.14+) are not SQL.
pg_dump --inserts --no-owner --no-privileges "$pg_url" |
  sed -E '/^\\(un)?restrict /d' >"$out/postgres.sql"

# expected.json: what the upgrade test checks on every backend.
users='[]'
for who in "$alice:true:false:1" "$bob:false:false:0" "$carol:true:true:0"; do
  IFS=: read -r email confirmed disabled active <<<"$who"
  sqlite_facts='{"tasks": []}' pg_facts='{"tasks": []}'
  [[ -e "$work/facts-sqlite-$email.json" ]] && sqlite_facts="$(cat "$work/facts-sqlite-$email.json")"
  [[ -e "$work/facts-postgres-$email.json" ]] && pg_facts="$(cat "$work/facts-postgres-$email.json")"
  users="$(jq -c \
    --arg email "$email" --argjson confirmed "$confirmed" --argjson disabled "$disabled" \
    --argjson active "$active" --argjson s "$sqlite_facts" --argjson p "$pg_facts" \
    --rawfile log "$work/log" '
    if $s.tasks != $p.tasks then error("the tasks of \($email) differ between the backends") else . end |
    [$log | split("\n")[] | select(. != "") | split(" ") | select(.[0] == $email)] as $writes |
    [$writes | to_entries[] | {seq: (.key + 1), task: .value[1], op: .value[2]}] as $changes |
    . + [{
      email: $email, confirmed: $confirmed, disabled: $disabled, active_sessions: $active,
      head: ($changes | length), log: $changes, tasks: $s.tasks,
      live: [$s.tasks[] | select(.deleted | not) | .id],
      cursors: (if $s.cursor then {sqlite: $s.cursor, postgres: $p.cursor} else {} end)
    }]' <<<"$users")"
done
jq -n --arg release "$version" --arg written_by "$("$bin" --version)" --argjson users "$users" \
  '{release: $release, written_by: $written_by, revoked_sessions: 2, users: $users}' \
  >"$out/expected.json"

echo "wrote $out:"
ls -l "$out"
