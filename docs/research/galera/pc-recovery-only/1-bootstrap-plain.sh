set -u
L="--label berth.research=galera"
docker network create $L galnet >/dev/null 2>&1
common() { echo "-d --name $1 $L --network galnet --hostname $1 -v $1-data:/var/lib/mysql -v /r9/galera.cnf:/etc/mysql/conf.d/galera.cnf:ro -e MARIADB_ROOT_PASSWORD=galera-pw -e MARIADB_MYSQL_LOCALHOST_USER=1 mariadb:11.8"; }
online() { docker exec $1 healthcheck.sh --su-mysql --connect --galera_online; }
waitonline() { for i in $(seq 1 90); do online $1 && return 0; sleep 2; done; echo "TIMEOUT $1"; return 1; }
docker run $(common db1) --wsrep-new-cluster >/dev/null; waitonline db1
docker run $(common db2) >/dev/null; waitonline db2
docker run $(common db3) >/dev/null; waitonline db3
for n in db1 db2 db3; do echo "$n $(docker exec $n mariadb -uroot -pgalera-pw -N -e "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_local_state_comment')" | tr '\n\t' '  ')"; done
