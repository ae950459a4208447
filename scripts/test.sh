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
skip() {
  echo "SKIPPED: $1" >&2
  skipped+=("$1")
}

# The web app is built first: the server binary the tests build serves
# web/dist, and a debug binary reads it from disk only if it existed when
# the binary was compiled. Needs Node.js 20+ and npm, installed from
# Debian's packages when missing and allowed.
if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Node.js and npm (Debian packages)" >&2
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null || true
fi
web=0
if command -v npm >/dev/null 2>&1; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error && node_modules/.bin/vite build --logLevel warn)
  web=1
else
  skip "Web app tests: Node.js and npm are not installed (apt-get install nodejs npm)"
fi

# Rust: unit tests, property tests and the integration tests against a real
# server with a fresh SQLite file per test.
if command -v cargo >/dev/null 2>&1; then
  cargo test --workspace --locked
else
  skip "Rust tests: cargo is not installed (https://rustup.rs)"
fi

# Web: unit tests (Vitest; the transport's run against the real server
# binary built above).
if [ "$web" = 1 ]; then
  (cd web && node_modules/.bin/vitest run)
fi

# Web: browser end-to-end tests (Playwright driving Debian's Chromium)
# against the real server binary with a fresh database.
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Chromium (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null || true
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
echo "all test suites passed"
