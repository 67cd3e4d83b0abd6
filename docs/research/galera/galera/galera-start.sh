#!/bin/bash
# berth research prototype: runs as the mariadb container's entrypoint, before the
# official docker-entrypoint.sh. Decides, from every node's published position,
# whether this node creates the cluster, bootstraps it after a full outage, or joins.
#
# Env: GALERA_NODE (this node's name, e.g. db1), GALERA_NODES ("db1 db2 db3", the
# order is the first-bootstrap and tie-break order), GALERA_STATE (a directory shared
# by all nodes, default /galera).
set -euo pipefail
me=${GALERA_NODE:?}; read -r -a nodes <<<"${GALERA_NODES:?}"; state=${GALERA_STATE:-/galera}
datadir=/var/lib/mysql; fresh_s=10; n=${#nodes[@]}
log() { echo "galera-start[$me] $(date -u +%T): $*" >&2; }
now() { date +%s; }
# A node's state file, one line: phase time uuid seqno [wsrep_local_state cluster_status cluster_size]
publish() { local t="$state/.$me.tmp" ph=$1; shift; echo "$ph $(now) $*" >"$t"; mv -f "$t" "$state/$me"; }
peer() { cat "$state/$1" 2>/dev/null || true; }
fresh() { local t; t=$(awk '{print $2}' <<<"$1"); [ -n "$t" ] && [ $(( $(now) - t )) -le $fresh_s ]; }
# Asks a node's HTTP check (:9200, galera-http-check.sh) live: 200 = Synced in a Primary component.
# (Not the state files: a node killed a second ago still looks "running Primary" there.)
synced() { local r; r=$(timeout 3 bash -c "exec 3<>/dev/tcp/$1/9200 && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && head -1 <&3" 2>/dev/null) || return 1
  [[ $r == "HTTP/1.1 200"* ]]; }
primary_node() { local p; for p in "${nodes[@]}"; do [ "$p" = "$me" ] && continue; synced "$p" && { echo "$p"; return 0; }; done; return 1; }
mkdir -p "$state"

# The monitor: every 2 s, this node's wsrep state into $state/$me (what peers read), and the
# HTTP check for HAProxy on :9200 (200 only when Synced and Primary).
monitor() {
  while sleep 2; do
    local st; st=$(gosu mysql mariadb --protocol=socket -umysql -N -e "SHOW GLOBAL STATUS WHERE Variable_name IN
      ('wsrep_cluster_state_uuid','wsrep_last_committed','wsrep_local_state','wsrep_cluster_status','wsrep_cluster_size')" 2>/dev/null) || continue
    local uuid seq ls cs size; uuid=$(awk '$1=="wsrep_cluster_state_uuid"{print $2}' <<<"$st"); seq=$(awk '$1=="wsrep_last_committed"{print $2}' <<<"$st")
    ls=$(awk '$1=="wsrep_local_state"{print $2}' <<<"$st"); cs=$(awk '$1=="wsrep_cluster_status"{print $2}' <<<"$st"); size=$(awk '$1=="wsrep_cluster_size"{print $2}' <<<"$st")
    publish running "$uuid" "$seq" "$ls" "$cs" "$size"
    if [ "$ls" = 4 ] && [ "$cs" = Primary ]; then
      [ -e "$state/cluster" ] || echo "$uuid" >"$state/cluster"          # the cluster exists: no second first-bootstrap
      if [ "$size" = "$n" ] && [ "$(cut -d' ' -f1 "$state/bootstrap.lock" 2>/dev/null)" = "$me" ]; then rm -f "$state/bootstrap.lock"; fi
    fi
  done
}
if [ "${1:-}" = mariadbd ]; then
  monitor &
  socat TCP-LISTEN:9200,reuseaddr,fork SYSTEM:/usr/local/bin/galera-http-check.sh &
fi
[ "${1:-}" = mariadbd ] || exec docker-entrypoint.sh "$@"

args=()
if [ ! -d "$datadir/mysql" ]; then
  # An empty datadir. The first node creates the cluster, once: never when a marker, a peer's
  # state file or a reachable peer shows that a cluster exists.
  others=0; for p in "${nodes[@]}"; do [ "$p" = "$me" ] && continue
    case "$(peer "$p" | cut -d' ' -f1)" in running|recovering|new) others=1 ;; esac   # a peer holding data
    (exec 3<>"/dev/tcp/$p/4567") 2>/dev/null && others=1; done
  if [ "$me" = "${nodes[0]}" ] && [ ! -e "$state/cluster" ] && [ $others = 0 ]; then
    log "new cluster: bootstrapping it (--wsrep-new-cluster)"; publish new - -1
    exec docker-entrypoint.sh "$@" --wsrep-new-cluster
  fi
  # Join by SST, after the node before this one (first bootstrap order) is Synced, or any Primary.
  idx=0; for i in "${!nodes[@]}"; do [ "${nodes[$i]}" = "$me" ] && idx=$i; done
  prev=${nodes[$(( idx > 0 ? idx - 1 : 1 ))]}
  until synced "$prev"; do
    publish waiting-sst - -1; sleep 2; done
  log "empty datadir: joining by SST after $prev is Synced"
  exec docker-entrypoint.sh "$@"
fi

# A datadir with data: this node's position, recovered from InnoDB when grastate.dat has seqno -1.
uuid=$(awk '/^uuid:/{print $2}' "$datadir/grastate.dat" 2>/dev/null || true)
seqno=$(awk '/^seqno:/{print $2}' "$datadir/grastate.dat" 2>/dev/null || true)
if [ -z "$seqno" ] || [ "$seqno" = -1 ]; then
  log "grastate.dat seqno ${seqno:-missing}: mariadbd --wsrep-recover"
  rm -f /tmp/wsrep-recover.log
  gosu mysql mariadbd --wsrep-recover --log-error=/tmp/wsrep-recover.log || true
  pos=$(sed -n 's/.*WSREP: Recovered position: \([0-9a-f-]*:-\?[0-9]*\).*/\1/p' /tmp/wsrep-recover.log | tail -1)
  [ -n "$pos" ] || { log "wsrep-recover gave no position"; tail -20 /tmp/wsrep-recover.log >&2; exit 1; }
  uuid=${pos%:*}; seqno=${pos##*:}
  args+=("--wsrep_start_position=$uuid:$seqno")
fi
log "position $uuid:$seqno"

while :; do
  if p=$(primary_node); then log "a primary component exists ($p reports Primary/Synced): joining"; break; fi
  publish recovering "$uuid" "$seqno"
  # Bootstrap only with every node's position in hand: the missing one may hold the last writes.
  all=1; best=; best_seq=-2; uuids=
  for p in "${nodes[@]}"; do s=$(peer "$p")
    if [ "$(awk '{print $1}' <<<"$s")" != recovering ] || ! fresh "$s"; then all=0; break; fi
    u=$(awk '{print $3}' <<<"$s"); q=$(awk '{print $4}' <<<"$s"); uuids="$uuids $u"
    if [ "$q" -gt "$best_seq" ]; then best=$p; best_seq=$q; fi     # ties: first in GALERA_NODES
  done
  if [ $all = 1 ]; then
    if [ "$(tr ' ' '\n' <<<"$uuids" | sed '/^$/d' | sort -u | wc -l)" != 1 ] || [ "$uuid" = 00000000-0000-0000-0000-000000000000 ]; then
      log "REFUSING to bootstrap: cluster UUIDs differ or are nil:$uuids (needs a human)"; sleep 10; continue
    fi
    if [ "$best" = "$me" ]; then
      # One bootstrap per outage: an exclusive lock, released by this node's monitor once all have joined.
      if ( set -o noclobber; echo "$me $uuid $seqno $(now)" >"$state/bootstrap.lock" ) 2>/dev/null \
         || [ "$(cut -d' ' -f1 "$state/bootstrap.lock")" = "$me" ]; then
        log "most advanced node ($uuid:$seqno of$uuids): bootstrapping"
        sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$datadir/grastate.dat"
        args+=(--wsrep-new-cluster); break
      fi
      log "bootstrap lock held by $(cat "$state/bootstrap.lock"): waiting"
    fi
  fi
  sleep 2
done
exec docker-entrypoint.sh "$@" "${args[@]}"
