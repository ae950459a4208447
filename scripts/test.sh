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

skipped=()
skip() {
  echo "SKIPPED: $1" >&2
  skipped+=("$1")
}

# Rust: unit tests, property tests and the integration tests against a real
# server with a fresh SQLite file per test.
if command -v cargo >/dev/null 2>&1; then
  cargo test --workspace --locked
else
  skip "Rust tests: cargo is not installed (https://rustup.rs)"
fi

# Web: unit tests of the browser sync engine (Vitest). Needs Node.js 20+
# and npm, installed from Debian's packages when missing and allowed.
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Node.js and npm (Debian packages)" >&2
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null || true
fi
if command -v npm >/dev/null 2>&1; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error && node_modules/.bin/vitest run)
else
  skip "Web unit tests: Node.js and npm are not installed (apt-get install nodejs npm)"
fi

if [ ${#skipped[@]} -gt 0 ]; then
  echo "Skipped suites:" >&2
  printf '  - %s\n' "${skipped[@]}" >&2
  if [ "${TASKSYNC_REQUIRE_ALL:-0}" = "1" ]; then
    echo "TASKSYNC_REQUIRE_ALL=1: a skipped suite is a failure" >&2
    exit 1
  fi
fi
echo "all test suites passed"
