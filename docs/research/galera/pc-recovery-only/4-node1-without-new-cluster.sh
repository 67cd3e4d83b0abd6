L="--label berth.research=galera"
common() { echo "-d --name $1 $L --network galnet --hostname $1 -v $1-data:/var/lib/mysql -v /r9/galera.cnf:/etc/mysql/conf.d/galera.cnf:ro -e MARIADB_ROOT_PASSWORD=galera-pw -e MARIADB_MYSQL_LOCALHOST_USER=1 mariadb:11.8"; }
online() { docker exec $1 healthcheck.sh --su-mysql --connect --galera_online 2>/dev/null; }
sql() { docker exec $1 mariadb -uroot -pgalera-pw -N -e "$2"; }
allsynced() { t0=$(date +%s); for i in $(seq 1 ${1:-60}); do ok=0; for n in db1 db2 db3; do online $n && ok=$((ok+1)); done; [ $ok = 3 ] && break; sleep 2; done; echo "synced nodes: $ok after $(( $(date +%s)-t0 ))s"; }
check() { sql db1 'SELECT v FROM d.t' | sort > /r9/present.txt; sort /r9/acked.log | comm -23 - /r9/present.txt | wc -l | sed "s/^/acked $(wc -l </r9/acked.log), present $(wc -l </r9/present.txt), acked but missing: /"; }
docker rm -f db1 >/dev/null; docker run $(common db1) >/dev/null   # same volume, no --wsrep-new-cluster
allsynced 45
for n in db1 db2 db3; do echo "$n $(sql $n "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_local_state_comment','wsrep_last_committed')" 2>&1| tr '\n\t' '  ')"; done
check
