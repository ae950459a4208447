#!/usr/bin/env bash
# Runs every test suite of tasksync. Each suite first ensures what it needs;
# a suite that cannot run is skipped loudly, and with TASKSYNC_REQUIRE_ALL=1
# (as in CI) a skip is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests choose their own settings: a TASKSYNC_* variable of the calling
# shell (say TASKSYNC_DEV=1 from trying `make run`) must not leak into them.
for var in $(env | sed -n 's/^\(TASKSYNC_[A-Z_]*\)=.*/\1/p'); do
  case "$var" in
    TASKSYNC_REQUIRE_ALL|TASKSYNC_TEST_DATABASE_URL) ;;
    *) unset "$var" ;;
  esac
done

# Browsers come from Debian's chromium package, never from a tool's download.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

skipped=()

# Each suite's start, with the time since this script began: where a slow
# run spends its minutes (CI must stay under 20).
phase() { printf '== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$1" >&2; }
skip() {
  echo "SKIPPED: $1" >&2
  skipped+=("$1")
}

# shellcheck source=scripts/apt.sh
. scripts/apt.sh

# The web app is built first: the server binaries the tests run serve
# web/dist (a debug binary reads it from disk). `make web` builds it only
# when its sources or lockfile changed, as `make run` does. Needs Node.js
# 20+ and npm, installed from Debian's packages when missing and allowed.
if ! command -v npm >/dev/null 2>&1 && can_apt; then
  echo "installing Node.js and npm (Debian packages)" >&2
  apt_install nodejs npm
fi
web=0
if command -v npm >/dev/null 2>&1; then
  "${MAKE:-make}" --no-print-directory web
  web=1
else
  skip "Web app tests: Node.js and npm are not installed (apt-get install nodejs npm)"
fi

# PostgreSQL for the second backend's tests: TASKSYNC_TEST_DATABASE_URL, or
# a local server at 127.0.0.1:5432 (user postgres, database test), which is
# installed and started here when missing and allowed.
pg_url="${TASKSYNC_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
pg_ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -d "$pg_url"; }
if [ -z "${TASKSYNC_TEST_DATABASE_URL:-}" ] && ! pg_ready && can_apt; then
  if [ ! -d /etc/postgresql ]; then
    echo "installing PostgreSQL (Debian package)" >&2
    apt_install postgresql
    # A server installed for the tests trusts local TCP connections of the
    # postgres user, like the CI machine's.
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      [ -f "$hba" ] && sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba"
    done
  fi
  for dir in /etc/postgresql/*/; do
    [ -d "$dir" ] || continue
    version="$(basename "$dir")"
    echo "starting PostgreSQL $version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
fi
# pg_isready answers for the server, whatever the database: a server just
# installed has no database `test` yet, so make it (as the postgres user).
pg_db_answers() { command -v psql >/dev/null 2>&1 && psql "$pg_url" -Atqc 'SELECT 1' >/dev/null 2>&1; }
if [ -z "${TASKSYNC_TEST_DATABASE_URL:-}" ] && pg_ready && ! pg_db_answers \
  && can_apt && command -v runuser >/dev/null 2>&1; then
  echo "creating the PostgreSQL database test" >&2
  runuser -u postgres -- createdb test || true
fi
if ! pg_ready; then
  skip "PostgreSQL tests: no server answers at ${pg_url%%@*}@… (start one, or set TASKSYNC_TEST_DATABASE_URL)"
fi

# nginx, for the test of two nodes behind a load balancer.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ] && can_apt; then
  echo "installing nginx (Debian package)" >&2
  apt_install nginx
fi
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  skip "Load-balancer test: nginx is not installed (apt-get install nginx)"
fi

phase "Rust tests"
# Rust: unit tests, property tests and the integration tests against a real
# server with a fresh SQLite file (and a fresh PostgreSQL database) per test.
if command -v cargo >/dev/null 2>&1; then
  cargo test --workspace --locked
else
  skip "Rust tests: cargo is not installed (https://rustup.rs)"
fi

phase "container image"
# The container image: the Dockerfile's runtime stage around the debug
# binary built above, inspected and, where containers can run, started
# (scripts/image-test.sh; `make image` does it with a static release
# binary). Exit 77: buildah or podman could not be had or run here.
if [ -x target/debug/tasksync ]; then
  image_status=0
  IMAGE_BIN=target/debug/tasksync bash scripts/image-test.sh || image_status=$?
  if [ "$image_status" = 77 ]; then
    skip "Container image test: see the SKIPPED lines above (buildah, podman)"
  elif [ "$image_status" != 0 ]; then
    exit "$image_status"
  fi
fi

phase "fuzz targets"
# Fuzzing: every cargo-fuzz target for a short fixed time (scripts/fuzz.sh,
# docs/fuzzing.md; FUZZ_SECONDS=N for a longer run). Exit 77: the fuzzer
# could not be had here (its SKIPPED line says why).
if command -v cargo >/dev/null 2>&1; then
  fuzz_status=0
  bash scripts/fuzz.sh || fuzz_status=$?
  if [ "$fuzz_status" = 77 ]; then
    skip "Fuzz targets: cargo-fuzz could not be installed or run (see the SKIPPED line above)"
  elif [ "$fuzz_status" != 0 ]; then
    exit "$fuzz_status"
  fi
fi

phase "schemathesis"
# GraphQL fuzzing: schemathesis against the debug binary built above (a
# production-mode server, fresh SQLite). Needs Python 3.11+ with venv and
# PyPI; Debian's python3-venv is installed when missing and allowed.
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1 && can_apt; then
  echo "installing python3-venv (Debian package)" >&2
  apt_install python3-venv
fi
st_status=0
bash scripts/schemathesis.sh || st_status=$?
case "$st_status" in
  0) ;;
  77) skip "GraphQL fuzzing (schemathesis): needs Python 3.11+ with venv, pip and PyPI, and cargo (see its SKIPPED line above)" ;;
  *) exit "$st_status" ;;
esac

phase "Vitest"
# Web: unit tests (Vitest; the transport's run against the real server
# binary built above).
if [ "$web" = 1 ]; then
  (cd web && node_modules/.bin/vitest run)
fi

phase "Playwright"
# Web: browser end-to-end tests (Playwright driving Debian's Chromium)
# against the real server binary with a fresh database.
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 && can_apt; then
  echo "installing Chromium (Debian package)" >&2
  apt_install chromium
fi
chromium_bin="${CHROMIUM:-$(command -v chromium || true)}"
if [ "$web" = 1 ] && [ -n "$chromium_bin" ]; then
  (cd web && CHROMIUM="$chromium_bin" TASKSYNC_BIN="$PWD/../target/debug/tasksync" node_modules/.bin/playwright test)
elif [ "$web" = 1 ]; then
  skip "Browser end-to-end tests: Chromium is not installed (apt-get install chromium)"
fi

if [ ${#skipped[@]} -gt 0 ]; then
  echo "Skipped suites:" >&2
  printf '  - %s\n' "${skipped[@]}" >&2
  if [ "${TASKSYNC_REQUIRE_ALL:-0}" = "1" ]; then
    echo "TASKSYNC_REQUIRE_ALL=1: a skipped suite is a failure" >&2
    exit 1
  fi
fi
phase "done"
echo "all test suites passed"
