#!/usr/bin/env bash
# The node-side half of a rolling deploy (docs/deploy.md, "Rolling
# deploys"): installed on every host as /opt/tasksync/node.sh and run as
# root by deploy/rolling-deploy.sh over SSH. One action per call:
#
#   node.sh install RELEASE         the binary on stdin becomes
#                                   releases/RELEASE/tasksync; prints its
#                                   version text ("0.1.0 (commit …)")
#   node.sh activate RELEASE [--migrate] [--ready-timeout SECONDS]
#                                   with --migrate: back the database up,
#                                   then apply the release's migrations;
#                                   then point `current` at RELEASE, restart
#                                   the service and wait until it is ready
#                                   and answers with RELEASE's version. If
#                                   it does not, `current` goes back to the
#                                   release before and the service is
#                                   restarted on it; exit status 1.
#   node.sh rollback [--ready-timeout SECONDS]
#                                   back to the release before the current
#                                   one, restarted and checked the same way
#   node.sh current                 the active release's name
#
# Layout: $TASKSYNC_ROOT (default /opt/tasksync) holds releases/<name>/,
# `current` and `previous` (symlinks into releases/) and backups/. The
# service's settings, the database URL among them, are read from
# $TASKSYNC_ENV_FILE (default /etc/tasksync/tasksync.env) for the backup,
# the migration and the health check; the backup and the migration run as
# $TASKSYNC_SERVICE_USER (default tasksync, deploy/systemd/tasksync.sysusers)
# when that user exists. $TASKSYNC_NODE_RESTART (default `systemctl
# restart tasksync`) restarts the service. The last $TASKSYNC_KEEP_RELEASES
# (default 5) releases and backups are kept.
set -euo pipefail

root="${TASKSYNC_ROOT:-/opt/tasksync}"
env_file="${TASKSYNC_ENV_FILE:-/etc/tasksync/tasksync.env}"
restart="${TASKSYNC_NODE_RESTART:-systemctl restart tasksync}"
keep="${TASKSYNC_KEEP_RELEASES:-5}"
service_user="${TASKSYNC_SERVICE_USER:-tasksync}"

say() { echo "node.sh [$(hostname 2>/dev/null || echo node)]: $*" >&2; }
die() {
  say "$*"
  exit 1
}

valid_release() {
  [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$ ]] || die "not a release name: $1"
}

# The service's own settings, for the commands run beside it.
load_env() {
  if [ -f "$env_file" ]; then
    set -a
    # shellcheck disable=SC1090
    . "$env_file"
    set +a
  fi
}

# Runs a command as the service's user when there is one (root runs this
# script): a SQLite file or backup made by root is one the service cannot
# write.
as_service() {
  if [ "$(id -u)" = 0 ] && id -u "$service_user" >/dev/null 2>&1; then
    runuser -u "$service_user" -- "$@"
  else
    "$@"
  fi
}

# The release a symlink points at, or nothing.
release_of() {
  local link="$root/$1"
  [ -L "$link" ] && basename "$(readlink "$link")"
  return 0
}

# Atomically points symlink $1 at releases/$2.
point() {
  ln -sfn "releases/$2" "$root/$1.new"
  mv -T "$root/$1.new" "$root/$1"
}

# "0.1.0 (commit …)": what `tasksync --version` prints after its name.
version_of() {
  "$root/releases/$1/tasksync" --version | sed -n 's/^tasksync //p'
}

# Restarts the service on `current` and waits until it is ready and
# answers with the version of release $1.
restart_and_wait() {
  local release="$1" timeout="$2" expected deadline
  expected="$(version_of "$release")"
  [ -n "$expected" ] || die "release $release has no version"
  say "restarting on $release ($expected)"
  # Without the lock: a service started by the restart must not hold it.
  $restart 9>&- || return 1
  deadline=$((SECONDS + timeout))
  until "$root/releases/$release/tasksync" healthcheck --ready --expect-version "$expected" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "$release was not ready with version $expected within ${timeout}s"
      return 1
    fi
    sleep 0.2
  done
  say "$release is ready"
}

# Keeps the newest $keep entries of directory $1 (and what `current` and
# `previous` point at).
prune() {
  local dir="$1" entry
  local current previous
  current="$(release_of current)"
  previous="$(release_of previous)"
  # Newest first; ls -t is enough for names we made ourselves.
  # shellcheck disable=SC2012
  ls -1t "$dir" 2>/dev/null | tail -n +$((keep + 1)) | while read -r entry; do
    if [ "$entry" != "$current" ] && [ "$entry" != "$previous" ]; then
      rm -rf "${dir:?}/$entry"
    fi
  done
}

install_release() {
  local release="$1" dir tmp
  valid_release "$release"
  dir="$root/releases/$release"
  mkdir -p "$root/releases"
  tmp="$(mktemp -d "$root/releases/.incoming.XXXXXX")"
  cat > "$tmp/tasksync"
  chmod 0755 "$tmp/tasksync"
  if ! "$tmp/tasksync" --version >/dev/null; then
    rm -rf "$tmp"
    die "the uploaded binary for $release does not run here"
  fi
  if [ -d "$dir" ] && [ "$(release_of current)" = "$release" ]; then
    # Re-deploying the active release: keep the running binary in place.
    cmp -s "$tmp/tasksync" "$dir/tasksync" || {
      rm -rf "$tmp"
      die "release $release is active and differs from the upload: use a new release name"
    }
    rm -rf "$tmp"
  else
    rm -rf "$dir"
    mv "$tmp" "$dir"
  fi
  version_of "$release"
  prune "$root/releases"
}

activate() {
  local release="$1" migrate=0 timeout=60 before earlier stamp
  shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --migrate) migrate=1 ;;
      --ready-timeout) timeout="$2"; shift ;;
      *) die "activate: unknown option $1" ;;
    esac
    shift
  done
  valid_release "$release"
  [ -x "$root/releases/$release/tasksync" ] || die "release $release is not installed"
  before="$(release_of current)"
  earlier="$(release_of previous)"
  # The healthcheck, the backup and the migration use the service's settings.
  load_env
  if [ "$migrate" = 1 ]; then
    mkdir -p "$root/backups"
    if [ "$(id -u)" = 0 ] && id -u "$service_user" >/dev/null 2>&1; then
      chown "$service_user:" "$root/backups"
      chmod 0700 "$root/backups"
    fi
    stamp="$(date -u +%Y%m%dT%H%M%SZ)"
    local backup="$root/backups/before-$release-$stamp"
    say "backing the database up to $backup"
    as_service "$root/releases/$release/tasksync" backup "$backup" >&2 || die "backup failed: not migrating"
    say "applying the migrations of $release"
    as_service "$root/releases/$release/tasksync" migrate >&2 || die "migration failed (backup: $backup)"
    prune "$root/backups"
  fi
  if [ -n "$before" ] && [ "$before" != "$release" ]; then
    point previous "$before"
  fi
  point current "$release"
  if restart_and_wait "$release" "$timeout"; then
    return 0
  fi
  if [ -n "$before" ] && [ "$before" != "$release" ]; then
    say "rolling back to $before"
    point current "$before"
    if [ -n "$earlier" ]; then point previous "$earlier"; else rm -f "$root/previous"; fi
    restart_and_wait "$before" "$timeout" || say "the rollback to $before is not ready either"
  fi
  exit 1
}

rollback() {
  local timeout=60 current previous
  while [ $# -gt 0 ]; do
    case "$1" in
      --ready-timeout) timeout="$2"; shift ;;
      *) die "rollback: unknown option $1" ;;
    esac
    shift
  done
  load_env
  current="$(release_of current)"
  previous="$(release_of previous)"
  [ -n "$previous" ] || die "no release to roll back to"
  [ -x "$root/releases/$previous/tasksync" ] || die "release $previous is gone"
  say "rolling back from $current to $previous"
  point current "$previous"
  point previous "$current"
  restart_and_wait "$previous" "$timeout"
}

action="${1:-}"
[ $# -gt 0 ] && shift
# One change at a time per node: a second deploy (or a rollback) that
# starts while one runs is refused, not interleaved.
if [ "$action" != current ] && command -v flock >/dev/null 2>&1; then
  mkdir -p "$root"
  exec 9>"$root/.lock"
  flock -n 9 || die "another deploy or rollback is running on this node"
fi
case "$action" in
  install) [ $# -eq 1 ] || die "usage: node.sh install RELEASE < binary"; install_release "$1" ;;
  activate) [ $# -ge 1 ] || die "usage: node.sh activate RELEASE [--migrate] [--ready-timeout S]"; activate "$@" ;;
  rollback) rollback "$@" ;;
  current) release_of current ;;
  *) die "usage: node.sh install|activate|rollback|current …" ;;
esac
