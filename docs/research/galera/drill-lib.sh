cd /r9
C() { echo r9-$1-1; }
online() { docker exec $(C $1) healthcheck.sh --su-mysql --connect --galera_online 2>/dev/null; }
sql() { docker exec $(C $1) mariadb -uroot -pgalera-pw -N -e "$2"; }
allsynced() { t0=$(date +%s); for i in $(seq 1 ${1:-90}); do ok=0; for n in db1 db2 db3; do online $n && ok=$((ok+1)); done; [ $ok = 3 ] && break; sleep 2; done; echo "synced nodes: $ok after $(( $(date +%s)-t0 ))s"; }
status() { for n in db1 db2 db3; do echo "$n [$(docker inspect -f '{{.State.Status}} restarts={{.RestartCount}} health={{if .State.Health}}{{.State.Health.Status}}{{end}}' $(C $n))] $(sql $n "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_local_state_comment','wsrep_last_committed','wsrep_cluster_state_uuid')" 2>&1| sort | awk '{printf "%s=%s ", $1, $2}')"; done; }
statefiles() { docker run --rm -v r9_galera-state:/g mariadb:11.8 sh -c 'cd /g; for f in *; do echo "$f: $(cat $f)"; done'; }
writer_start() { rm -f /r9/acked.log; ( i=${1:-0}; while :; do i=$((i+1)); n=db$(( (i % 3) + 1 )); docker exec $(C $n) mariadb -uroot -pgalera-pw -e "INSERT INTO d.t (node,v) VALUES ('$n',$i)" 2>/dev/null && echo $i >> /r9/acked.log; done ) >/dev/null 2>&1 & echo $! > /r9/writer.pid; }
writer_stop() { kill $(cat /r9/writer.pid) 2>/dev/null; sleep 1; }
check() { for n in db1 db2 db3; do sql $n 'SELECT v FROM d.t' | sort > /r9/present-$n.txt; echo "$n: acked $(sort -u /r9/acked.log | wc -l), rows $(wc -l </r9/present-$n.txt), acked but missing: $(sort -u /r9/acked.log | comm -23 - /r9/present-$n.txt | wc -l), checksum $(sql $n 'CHECKSUM TABLE d.t' | cut -f2)"; done; }
logs() { docker logs $(C $1) 2>&1 | grep -E 'galera-start|Recovered position|Bootstrapping|IST|SST|State transfer from|REFUS|ERROR' | tail -${2:-10}; }
pwriter_start() { rm -f /r9/acked.log /r9/served.log; ( i=${1:-0}; while :; do i=$((i+1)); h=$(docker exec r9-client-1 mariadb -h dbproxy -uroot -pgalera-pw -N -e "INSERT INTO d.t (node,v) VALUES (@@hostname,$i); SELECT @@hostname" 2>/dev/null) && { echo $i >> /r9/acked.log; echo "$(date +%T) $h" >> /r9/served.log; }; done ) >/dev/null 2>&1 & echo $! > /r9/writer.pid; }
