#!/bin/bash
# What a Galera node serves on :9200 (socat runs this per connection):
#   GET /       its verdict for the database proxy (HAProxy's httpchk) and its
#               peers: 200 only when Synced (wsrep_local_state 4) in a Primary
#               component, else 503;
#   GET /state  its state file for its peers (galera-start.sh): "phase age uuid
#               seqno ...", the time it was written turned into an age, so
#               that hosts whose clocks differ compare nothing but ages.
read -r -t 2 _ path _ || true
reply() {
  printf 'HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n' "$1" $((${#2} + 1)) "$2"
}
if [ "$path" = /state ]; then
  line=$(cat "${GALERA_STATE:-/galera}/${GALERA_NODE:?}" 2>/dev/null || true)
  read -r phase written rest <<<"$line"
  if [[ ${written:-} =~ ^[0-9]+$ ]]; then
    reply "200 OK" "$phase $(($(date +%s) - written)) $rest"
  else
    reply "404 Not Found" "no state yet"
  fi
  exit 0
fi
st=$(gosu mysql mariadb --protocol=socket -umysql -N -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state','wsrep_cluster_status')" 2>/dev/null)
local_state=$(awk '$1=="wsrep_local_state"{print $2}' <<<"$st")
cluster_status=$(awk '$1=="wsrep_cluster_status"{print $2}' <<<"$st")
if [ "$local_state" = 4 ] && [ "$cluster_status" = Primary ]; then
  reply "200 OK" synced
else
  reply "503 Service Unavailable" "not synced: state=${local_state:-down} status=${cluster_status:-down}"
fi
