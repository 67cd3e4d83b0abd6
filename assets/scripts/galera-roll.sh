#!/bin/bash
# Starts this host's Galera nodes, or brings them to their current
# configuration one at a time: what `berth install` runs on a db host.
#   galera-roll.sh start|roll COMPOSE_FILE TIMEOUT_SECONDS CLUSTER_SIZE PROXY_SERVICE NODE...
# (the timeout is for the whole run; PROXY_SERVICE is empty when the proxy is
# not in this project, as when the nodes are spread over the db hosts)
# start: nodes that are missing are created and stopped ones started, all at
#   once (galera-start.sh orders them: first start, one bootstraps and the others
#   join one after another; after an outage, the most advanced node of all
#   bootstraps), then each is waited for until Synced in a full cluster. berth
#   runs this on every db host at once, so that spread nodes meet.
# roll: each node whose configuration changed is recreated, and the next waits
#   until it is Synced again in a full cluster. berth runs this on one db host
#   after another, so that never more than one node is down.
# Both end with the proxy, when it is in this project.
set -euo pipefail
mode=$1 compose_file=$2 timeout=$3 size=$4 proxy=$5
shift 5
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
    [ "$state" = "4 Primary $size" ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "the Galera node $node is not Synced in a cluster of $size after ${timeout}s (state: ${state:-no answer}); its last log lines:" >&2
      docker logs --tail 30 "$(compose ps --all --quiet "$node")" >&2 || true
      exit 1
    fi
    sleep 2
  done
}

case "$mode" in
  start)
    compose up --detach --no-deps --no-recreate --quiet-pull "${nodes[@]}"
    for node in "${nodes[@]}"; do wait_synced "$node"; done
    [ -z "$proxy" ] || compose up --detach --no-deps --no-recreate --quiet-pull "$proxy"
    ;;
  roll)
    for node in "${nodes[@]}"; do
      wait_synced "$node"
      before=$(compose ps --quiet "$node")
      compose up --detach --no-deps "$node"
      if [ "$(compose ps --quiet "$node")" != "$before" ]; then
        echo "recreated $node with its new configuration"
        sleep 3
        wait_synced "$node"
      fi
    done
    [ -z "$proxy" ] || compose up --detach --no-deps --quiet-pull "$proxy"
    ;;
  *)
    echo "galera-roll.sh: unknown mode $mode" >&2
    exit 2
    ;;
esac
echo "Galera: ${nodes[*]} Synced in a cluster of $size"
