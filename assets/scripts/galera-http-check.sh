#!/bin/bash
# The node's own verdict for the database proxy (HAProxy's httpchk) and for its
# peers, served on :9200 by socat: 200 only when this node is Synced
# (wsrep_local_state 4) in a Primary component, else 503.
read -r -t 2 _ || true
st=$(gosu mysql mariadb --protocol=socket -umysql -N -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state','wsrep_cluster_status')" 2>/dev/null)
local_state=$(awk '$1=="wsrep_local_state"{print $2}' <<<"$st")
cluster_status=$(awk '$1=="wsrep_cluster_status"{print $2}' <<<"$st")
if [ "$local_state" = 4 ] && [ "$cluster_status" = Primary ]; then
  body=synced
  status="200 OK"
else
  body="not synced: state=${local_state:-down} status=${cluster_status:-down}"
  status="503 Service Unavailable"
fi
printf 'HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n' "$status" $((${#body} + 1)) "$body"
