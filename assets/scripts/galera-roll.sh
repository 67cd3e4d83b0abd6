#!/bin/bash
# Starts the Galera nodes and brings each to its current configuration, one
# node at a time, never taking down more than one: what `berth install` runs
# on the db host when something changed or a node is down.
#   galera-roll.sh COMPOSE_FILE TIMEOUT_SECONDS PROXY_SERVICE NODE...
# (the timeout is for the whole roll)
# 1. Nodes that are missing are created and stopped ones started, all at once:
#    galera-start.sh orders them (first start: one bootstraps, the others join
#    one after another; after an outage: the most advanced node bootstraps).
# 2. Once all are Synced, each node whose configuration changed is recreated,
#    and the next waits until it is Synced again in a cluster of all nodes.
# 3. The proxy in front.
set -euo pipefail
compose_file=$1 timeout=$2 proxy=$3
shift 3
deadline=$(($(date +%s) + timeout))
nodes=("$@")
compose() { docker compose --file "$compose_file" "$@"; }
# The watchdog (berth-watchdog.timer) waits while containers are being recreated.
mkdir -p /run/berth
echo "$deadline" >/run/berth/hold
trap 'rm -f /run/berth/hold' EXIT

# "4 Primary 3": wsrep_local_state, wsrep_cluster_status, wsrep_cluster_size of a node, nothing when it does not answer.
node_state() {
  compose exec -T -u mysql "$1" mariadb --protocol=socket -umysql -N -B -e \
    "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('wsrep_local_state','wsrep_cluster_status','wsrep_cluster_size') ORDER BY FIELD(VARIABLE_NAME,'wsrep_local_state','wsrep_cluster_status','wsrep_cluster_size')" 2>/dev/null | tr '\n' ' ' | sed 's/ $//'
}
wait_synced() {
  local node=$1 state=''
  while :; do
    state=$(node_state "$node" || true)
    [ "$state" = "4 Primary ${#nodes[@]}" ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "the Galera node $node is not Synced in a cluster of ${#nodes[@]} after ${timeout}s (state: ${state:-no answer}); its last log lines:" >&2
      docker logs --tail 30 "$(compose ps --all --quiet "$node")" >&2 || true
      exit 1
    fi
    sleep 2
  done
}

compose up --detach --no-deps --no-recreate --quiet-pull "${nodes[@]}"
for node in "${nodes[@]}"; do wait_synced "$node"; done
for node in "${nodes[@]}"; do
  before=$(compose ps --quiet "$node")
  compose up --detach --no-deps "$node"
  if [ "$(compose ps --quiet "$node")" != "$before" ]; then
    echo "recreated $node with its new configuration"
    sleep 3
    wait_synced "$node"
  fi
done
compose up --detach --no-deps --quiet-pull "$proxy"
echo "Galera: ${#nodes[@]} nodes Synced"
