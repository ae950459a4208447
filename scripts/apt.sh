# shellcheck shell=bash
# Debian packages for the scripts that ensure their own tools
# (scripts/test.sh, lint-deploy.sh, image-test.sh): sourced, not run.

# Whether this shell may install packages: root, with apt-get.
can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

# apt-get install without starting the packages' services (nginx would
# take port 80): policy-rc.d answers "not now" for the install's duration.
# The package index is refreshed at most once an hour across these
# scripts; an index that cannot be refreshed is no reason not to try.
apt_install() {
  local policy=/usr/sbin/policy-rc.d ours=0 stamp=/tmp/.tasksync-apt-updated
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && ours=1
  fi
  if [ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]; then
    if apt-get update -qq; then touch "$stamp"; fi
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || true
  if [ "$ours" = 1 ]; then rm -f "$policy"; fi
}
