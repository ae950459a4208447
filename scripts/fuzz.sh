#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a fixed time each (docs/fuzzing.md).
#
#   bash scripts/fuzz.sh                      # the short run of `make test`
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh     # a long run: 10 minutes a target
#   FUZZ_TARGETS="graphql_document" FUZZ_SECONDS=3600 bash scripts/fuzz.sh
#   FUZZ_SANITIZER=address bash scripts/fuzz.sh   # with AddressSanitizer (nightly)
#
# Exit status: 0 when no target failed; 1 when one crashed, hung, ran out of
# memory or failed to build (its input is left in fuzz/artifacts/<target>/);
# 77 when the fuzzer cannot be had here (a line `SKIPPED: …` says why), so
# that the caller can count a skip.
#
# Builds with `--sanitizer none` on the default (stable) toolchain: cargo
# fuzz needs nightly only for sanitizers, and a fresh machine has one
# toolchain. The workspace forbids `unsafe`, so AddressSanitizer would watch
# only the dependencies' unsafe code, at twice the build and run time.
# Release mode with debug assertions and overflow checks (cargo fuzz's
# default) runs many times more inputs per second than a debug build and
# costs little more to build, as the dependencies dominate.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
seconds="${FUZZ_SECONDS:-15}"
read -r -a targets <<<"${FUZZ_TARGETS:-cursor page_token ws_message graphql_document}"
sanitizer="${FUZZ_SANITIZER:-none}"

skip() {
  echo "SKIPPED: $1" >&2
  exit 77
}

command -v cargo >/dev/null 2>&1 || skip "fuzzing: cargo is not installed (https://rustup.rs)"

toolchain=()
if [ "$sanitizer" != none ]; then
  # Sanitizers are still nightly-only (-Zsanitizer).
  if grep -q '^nightly' <<<"$(rustup toolchain list 2>/dev/null || true)"; then
    toolchain=(+nightly)
  else
    skip "fuzzing with FUZZ_SANITIZER=$sanitizer: no nightly toolchain (rustup toolchain install nightly)"
  fi
fi

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION (cargo install, about half a minute)" >&2
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet \
    || skip "fuzzing: cargo install cargo-fuzz --version $CARGO_FUZZ_VERSION failed"
fi

# The fuzz crate compiles server files against its own Cargo.lock: the
# crates they use must be at the versions the server is built with.
locked() { sed -n "/^name = \"$1\"\$/{n;s/^version = \"\(.*\)\"\$/\1/p;q}" "$2"; }
for crate in async-graphql async-graphql-parser async-graphql-value pest serde serde_json; do
  main_version="$(locked "$crate" Cargo.lock)"
  fuzz_version="$(locked "$crate" fuzz/Cargo.lock)"
  if [ "$main_version" != "$fuzz_version" ]; then
    echo "fuzz/Cargo.lock has $crate $fuzz_version, Cargo.lock has $main_version: run" >&2
    echo "  cargo update --manifest-path fuzz/Cargo.toml -p $crate --precise $main_version" >&2
    exit 1
  fi
done
# Refuses a fuzz/Cargo.lock that would have to change (cargo fuzz has no --locked).
cargo "${toolchain[@]}" metadata --manifest-path fuzz/Cargo.toml --locked --format-version 1 >/dev/null

started=$SECONDS
if ! cargo "${toolchain[@]}" fuzz build --sanitizer "$sanitizer"; then
  echo "fuzz: the targets do not build" >&2
  exit 1
fi
echo "fuzz: built in $((SECONDS - started)) s; running each target for ${seconds} s" >&2

# Longest input each target is given (libFuzzer grows inputs up to it).
max_len() {
  case "$1" in
    cursor | page_token) echo 512 ;;
    *) echo 8192 ;;
  esac
}

passed=0
failed=()
for target in "${targets[@]}"; do
  # New inputs go to fuzz/work/ (git-ignored); the committed seeds in
  # fuzz/corpus/ are only read.
  work="fuzz/work/corpus/$target"
  mkdir -p "$work" "fuzz/corpus/$target"
  log="fuzz/work/$target.log"
  status=0
  cargo "${toolchain[@]}" fuzz run --sanitizer "$sanitizer" "$target" "$work" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$target")" \
    -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  if [ "$status" = 0 ]; then
    echo "fuzz: $target: ${runs:-?} inputs in ${seconds} s, no failure" >&2
    passed=$((passed + 1))
  else
    echo "fuzz: $target FAILED (status $status); the end of $log:" >&2
    tail -n 40 "$log" >&2
    # shellcheck disable=SC2012 # newest first; libFuzzer names them crash-<sha1>
    artifacts="$(ls -t "fuzz/artifacts/$target" 2>/dev/null | head -3 | sed "s|^|fuzz/artifacts/$target/|" | tr '\n' ' ')"
    echo "fuzz: $target: the failing input: ${artifacts:-none written}" >&2
    echo "fuzz: replay it with: cargo fuzz run --sanitizer $sanitizer $target <that file>" >&2
    failed+=("$target")
  fi
done

echo "fuzz: ${passed} passed, ${#failed[@]} failed in $((SECONDS - started)) s"
if [ ${#failed[@]} -gt 0 ]; then
  exit 1
fi
