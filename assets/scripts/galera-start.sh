#!/bin/bash
# The entrypoint of every Galera node container, before the image's own
# docker-entrypoint.sh: decides whether this node creates the cluster (first
# start), bootstraps it again after a full outage (the most advanced node of
# all, once), or joins a running one. Nobody has to be at the keyboard.
#
# Environment: GALERA_NODE (this node, e.g. db1), GALERA_NODES ("db1 db2 db3":
# the order of the first start and of ties; names this container resolves),
# GALERA_STATE (default /galera, a volume of the node's host: its state file,
# the marker that a cluster exists, the bootstrap lock). Each node serves its
# state file on its check port (GET /state), which is how its peers, on this
# host or others, learn its phase and position.
# Overrides for the tests only (test/integration/galera-start.test.ts), the
# production defaults otherwise: GALERA_DATADIR (/var/lib/mysql), GALERA_CHECK_PORT
# (9200: the HTTP check this node serves and asks its peers on), GALERA_PORT
# (4567: Galera's own port, probed on the peers of an empty node),
# GALERA_HTTP_CHECK (/usr/local/bin/galera-http-check.sh: what socat serves) and
# GALERA_NONPRIMARY_GRACE (30: seconds a running node stays non-Primary before it
# may make its component Primary, see the monitor).
set -euo pipefail
me=${GALERA_NODE:?}
read -r -a nodes <<<"${GALERA_NODES:?}"
state=${GALERA_STATE:-/galera}
datadir=${GALERA_DATADIR:-/var/lib/mysql}
check_port=${GALERA_CHECK_PORT:-9200}
galera_port=${GALERA_PORT:-4567}
http_check=${GALERA_HTTP_CHECK:-/usr/local/bin/galera-http-check.sh}
nonprimary_grace=${GALERA_NONPRIMARY_GRACE:-30}
# A recovering peer's file older than this is not evidence of its position.
fresh_seconds=10
nil=00000000-0000-0000-0000-000000000000

log() { echo "galera-start[$me] $(date -u +%FT%TZ): $*" >&2; }
now() { date +%s; }
# This node's state file, one line: phase time uuid seqno [local_state cluster_status cluster_size]
publish() {
  local tmp="$state/.$me.tmp" phase=$1
  shift
  echo "$phase $(now) $*" >"$tmp"
  mv -f "$tmp" "$state/$me"
}
field() { awk -v n="$2" '{print $n}' <<<"$1"; }
# A peer's state line as it serves it (GET /state: "phase age uuid seqno ...", the age by
# its own clock), with the age turned into a time of this one's; nothing when it does not answer.
peer_file() {
  local reply line age
  reply=$(ask "$1" /state) || return 0
  [[ $reply == "HTTP/1.1 200"* ]] || return 0
  line=$(tail -n 1 <<<"$reply")
  age=$(field "$line" 2)
  [[ $age =~ ^[0-9]+$ ]] || return 0
  awk -v t="$(($(now) - age))" '{$2 = t; print}' <<<"$line"
}
is_fresh() {
  local t
  t=$(field "$1" 2)
  [ -n "$t" ] && [ $(($(now) - t)) -le "$fresh_seconds" ]
}
# A node's check (check_port) asked for PATH: its whole HTTP reply, nothing when it does not answer within 3 s.
ask() {
  # shellcheck disable=SC2016 # $1 to $3 expand in the inner bash, which gets the node, the port and the path as its arguments.
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "GET %s HTTP/1.0\r\n\r\n" "$3" >&3 && cat <&3' _ "$1" "$check_port" "$2" 2>/dev/null
}
# Asks a node's check live (200: Synced in a Primary component). A state
# file is not enough: a node killed a second ago still looks Primary there.
synced() {
  [[ $(ask "$1" / | head -n 1) == "HTTP/1.1 200"* ]]
}
primary_peer() {
  local p
  for p in "${nodes[@]}"; do
    [ "$p" = "$me" ] && continue
    if synced "$p"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}
# The cluster UUID a running peer reports, when it reports one.
running_uuid() {
  local s
  s=$(peer_file "$1")
  [ "$(field "$s" 1)" = running ] && field "$s" 3
}
wsrep_status() {
  gosu mysql mariadb --protocol=socket -umysql -N -e "SHOW GLOBAL STATUS WHERE Variable_name IN
    ('wsrep_cluster_state_uuid','wsrep_last_committed','wsrep_local_state','wsrep_cluster_status','wsrep_cluster_size')" 2>/dev/null
}

# Every node's position, once each one has told its own lately: recovering (mariadbd not
# started) or running outside a Primary component (the quorum lost: two nodes of three
# failed one after the other). Sets all (1 when every position is in hand), best (the
# most advanced node; a tie goes to the first in GALERA_NODES), best_seqno and uuids.
positions() {
  local p s
  all=1 best='' best_seqno=-2 uuids=''
  for p in "${nodes[@]}"; do
    s=$(peer_file "$p")
    if ! is_fresh "$s" || ! { [ "$(field "$s" 1)" = recovering ] || { [ "$(field "$s" 1)" = running ] && [ "$(field "$s" 6)" != Primary ]; }; }; then
      all=0
      return 0
    fi
    uuids="$uuids $(field "$s" 3)"
    if [ "$(field "$s" 4)" -gt "$best_seqno" ]; then
      best=$p
      best_seqno=$(field "$s" 4)
    fi
  done
}
# One cluster UUID among the positions, and not nil.
one_history() {
  [ "$(tr ' ' '\n' <<<"$uuids" | sed '/^$/d' | sort -u | wc -l)" = 1 ] && ! grep -q "$nil" <<<"$uuids"
}

# Every 2 s: this node's state for its peers, the marker that a cluster exists,
# the release of the bootstrap lock once every node has joined, and the way out of
# a lost quorum: when every node has told its position, none is in a Primary
# component, and this running node is the most advanced, it makes its component
# Primary (pc.bootstrap), as the recovering winner would bootstrap; the others
# then join it. Not before the grace: Galera re-forms a component by itself when a
# partition heals.
monitor() {
  local st uuid seq local_state cluster_status size nonprimary_since=''
  while sleep 2; do
    st=$(wsrep_status) || continue
    # SHOW STATUS does not return rows in the order asked: by name.
    uuid=$(awk '$1=="wsrep_cluster_state_uuid"{print $2}' <<<"$st")
    seq=$(awk '$1=="wsrep_last_committed"{print $2}' <<<"$st")
    local_state=$(awk '$1=="wsrep_local_state"{print $2}' <<<"$st")
    cluster_status=$(awk '$1=="wsrep_cluster_status"{print $2}' <<<"$st")
    size=$(awk '$1=="wsrep_cluster_size"{print $2}' <<<"$st")
    publish running "$uuid" "$seq" "$local_state" "$cluster_status" "$size"
    if [ "$local_state" = 4 ] && [ "$cluster_status" = Primary ]; then
      [ -e "$state/cluster" ] || echo "$uuid" >"$state/cluster"
      if [ "$size" = "${#nodes[@]}" ] && [ "$(cut -d' ' -f1 "$state/bootstrap.lock" 2>/dev/null)" = "$me" ]; then
        rm -f "$state/bootstrap.lock"
      fi
    fi
    if [ "$cluster_status" = Primary ]; then
      nonprimary_since=''
      continue
    fi
    nonprimary_since=${nonprimary_since:-$(now)}
    [ $(($(now) - nonprimary_since)) -ge "$nonprimary_grace" ] || continue
    positions
    if [ "$all" = 1 ] && [ "$best" = "$me" ] && one_history; then
      log "the quorum is lost and this node is the most advanced of all ($uuid:$seq; all:$uuids): making its component Primary (pc.bootstrap)"
      MYSQL_PWD="$(cat "${MARIADB_ROOT_PASSWORD_FILE:-/run/secrets/db_root_password}")" mariadb --protocol=socket -uroot -e "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'" || log "pc.bootstrap failed"
      nonprimary_since=''
    fi
  done
}

if [ "${1:-}" != mariadbd ]; then
  exec docker-entrypoint.sh "$@"
fi
mkdir -p "$state"
# Before the check serves anything: not the state of this node's previous life (a
# "running" line of a node killed a moment ago would tell its peers it still runs).
if [ -d "$datadir/mysql" ]; then publish starting - -1; else publish empty - -1; fi
monitor &
socat "TCP-LISTEN:$check_port,reuseaddr,fork" "SYSTEM:$http_check" &

args=()
if [ ! -d "$datadir/mysql" ]; then
  # An empty datadir. The first node creates the cluster, once: never when the
  # marker, a peer holding data or a peer answering on Galera's port shows one exists.
  others=0
  for p in "${nodes[@]}"; do
    [ "$p" = "$me" ] && continue
    case "$(field "$(peer_file "$p")" 1)" in running | recovering | new | starting) others=1 ;; esac
    if (exec 3<>"/dev/tcp/$p/$galera_port") 2>/dev/null; then others=1; fi
  done
  if [ "$me" = "${nodes[0]}" ] && [ ! -e "$state/cluster" ] && [ "$others" = 0 ]; then
    log "a new cluster: creating it (--wsrep-new-cluster)"
    publish new - -1
    exec docker-entrypoint.sh "$@" --wsrep-new-cluster
  fi
  # Join by SST once the node before this one (in GALERA_NODES) is Synced: one at a time.
  index=0
  for i in "${!nodes[@]}"; do [ "${nodes[$i]}" = "$me" ] && index=$i; done
  previous=${nodes[$((index > 0 ? index - 1 : 1))]}
  until synced "$previous"; do
    publish waiting-sst - -1
    sleep 2
  done
  log "empty datadir: joining by SST now that $previous is Synced"
  exec docker-entrypoint.sh "$@"
fi

# A datadir with data: this node's position, from InnoDB when grastate.dat has none (seqno -1).
uuid=$(awk '/^uuid:/{print $2}' "$datadir/grastate.dat" 2>/dev/null || true)
seqno=$(awk '/^seqno:/{print $2}' "$datadir/grastate.dat" 2>/dev/null || true)
if [ -z "$seqno" ] || [ "$seqno" = -1 ]; then
  log "grastate.dat gives no position (seqno ${seqno:-missing}): mariadbd --wsrep-recover"
  recover_log=$(mktemp)
  chown mysql "$recover_log"
  gosu mysql mariadbd --wsrep-recover --log-error="$recover_log" || true
  position=$(sed -n 's/.*WSREP: Recovered position: \([0-9a-f-]*:-\{0,1\}[0-9]*\).*/\1/p' "$recover_log" | tail -n 1)
  if [ -z "$position" ]; then
    log "mariadbd --wsrep-recover gave no position; its log:"
    tail -n 20 "$recover_log" >&2
    exit 1
  fi
  uuid=${position%:*}
  seqno=${position##*:}
  # Without it mariadbd would start from the nil position and the cluster would lose its history.
  args+=("--wsrep_start_position=$uuid:$seqno")
fi
log "position $uuid:$seqno"

while :; do
  if p=$(primary_peer); then
    theirs=$(running_uuid "$p" || true)
    if [ -n "$theirs" ] && [ "$theirs" != "$uuid" ] && [ "$uuid" != "$nil" ]; then
      # Joining would replace this node's data by an SST from another cluster (one created anew
      # while this node was down): the data here may be the only copy of the last writes.
      log "REFUSING to join: $p is Synced in the cluster $theirs, this node's data is of the cluster $uuid; a human must decide which data to keep"
      sleep 10
      continue
    fi
    log "a Primary component exists ($p is Synced): joining it"
    break
  fi
  publish recovering "$uuid" "$seqno"
  # Bootstrap only with every node's position in hand: the missing one may hold the last writes.
  positions
  if [ "$all" = 1 ]; then
    if ! one_history || [ "$uuid" = "$nil" ]; then
      log "REFUSING to bootstrap: the nodes' cluster UUIDs differ or are nil ($uuids); a human must decide which data to keep"
      sleep 10
      continue
    fi
    if [ "$best" = "$me" ]; then
      # One bootstrap per outage: an exclusive lock, which this node's monitor releases once all have joined.
      if (set -o noclobber && echo "$me $uuid $seqno $(now)" >"$state/bootstrap.lock") 2>/dev/null ||
        [ "$(cut -d' ' -f1 "$state/bootstrap.lock")" = "$me" ]; then
        log "the most advanced node ($uuid:$seqno; all:$uuids): bootstrapping the cluster again"
        sed -i 's/^safe_to_bootstrap:.*/safe_to_bootstrap: 1/' "$datadir/grastate.dat"
        args+=(--wsrep-new-cluster)
        break
      fi
      # The holder is recovering again like everyone (all files are fresh "recovering"): its
      # bootstrap was of an earlier outage and never saw every node join. Stale once older than
      # a state file can be, so that a holder that has just taken it and started is not robbed.
      lock=$(cat "$state/bootstrap.lock" 2>/dev/null || true)
      if [ -n "$lock" ] && [ $(($(now) - $(field "$lock" 4))) -gt "$fresh_seconds" ]; then
        log "removing the bootstrap lock of an earlier outage ($lock): its holder is recovering too"
        rm -f "$state/bootstrap.lock"
        continue
      fi
      log "the bootstrap lock is held by $lock: waiting"
    fi
  fi
  sleep 2
done
exec docker-entrypoint.sh "$@" "${args[@]}"
