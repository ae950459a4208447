#!/usr/bin/env bash
# Test stand-in for "ssh NODE sudo /opt/tasksync/node.sh": the rolling
# test (crates/server/tests/api/rolling.rs) sets TASKSYNC_DEPLOY_EXEC to
# this script, and each node is a directory of $TASKSYNC_TEST_NODES on this
# machine, with local-service.sh in the role of systemd.
set -euo pipefail
node="$1"
shift
base="${TASKSYNC_TEST_NODES:?TASKSYNC_TEST_NODES is the directory of the test nodes}"
here="$(cd "$(dirname "$0")" && pwd)"
export TASKSYNC_ROOT="$base/$node"
export TASKSYNC_ENV_FILE="$base/$node/env"
export TASKSYNC_NODE_RESTART="bash $here/local-service.sh $base/$node"
exec bash "$here/../../../../deploy/node.sh" "$@"
