online() { docker exec $1 healthcheck.sh --su-mysql --connect --galera_online 2>/dev/null; }
sql() { docker exec $1 mariadb -uroot -pgalera-pw -N -e "$2"; }
t0=$(date +%s)
docker start db1 db2 db3 >/dev/null
for i in $(seq 1 60); do ok=0; for n in db1 db2 db3; do online $n && ok=$((ok+1)); done; [ $ok = 3 ] && break; sleep 2; done
echo "synced nodes: $ok after $(( $(date +%s)-t0 ))s"
for n in db1 db2 db3; do echo "$n $(docker inspect -f '{{.State.Status}}' $n) $(sql $n "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_local_state_comment','wsrep_cluster_status')" 2>&1| tr '\n\t' '  ')"; done
docker logs db1 2>&1 | grep -iE 'recover|gvwstate|restor|primary|position' | head -20
echo "rows: $(sql db1 'SELECT COUNT(*) FROM d.t')"; missing=0; for i in $(cat /r9/acked.log); do :; done
sql db1 'SELECT v FROM d.t' | sort -n > /r9/present.txt; sort -n /r9/acked.log | comm -23 - /r9/present.txt | wc -l | sed 's/^/acked but missing: /'
