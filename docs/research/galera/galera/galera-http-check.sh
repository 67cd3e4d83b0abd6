#!/bin/bash
# HTTP check for HAProxy (option httpchk), served on :9200 by socat:
# 200 only when this node is Synced (wsrep_local_state 4) in a Primary component.
read -r -t 2 _ || true
st=$(gosu mysql mariadb --protocol=socket -umysql -N -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state','wsrep_cluster_status')" 2>/dev/null)
ls=$(awk '$1=="wsrep_local_state"{print $2}' <<<"$st"); cs=$(awk '$1=="wsrep_cluster_status"{print $2}' <<<"$st")
if [ "$ls" = 4 ] && [ "$cs" = Primary ]; then body="synced"; code="200 OK"; else body="not synced: state=${ls:-down} status=${cs:-down}"; code="503 Service Unavailable"; fi
printf 'HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n' "$code" $(( ${#body} + 1 )) "$body"
