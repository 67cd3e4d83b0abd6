sql() { docker exec $1 mariadb -uroot -pgalera-pw -N -e "$2"; }
echo "--- #661: healthcheck without --su-mysql on joiner db2:"; docker exec db2 healthcheck.sh --connect --galera_online; echo rc=$?; docker exec db2 ls -a /var/lib/mysql | grep -c my-healthcheck
sql db1 "CREATE DATABASE IF NOT EXISTS d; CREATE TABLE IF NOT EXISTS d.t (id INT AUTO_INCREMENT PRIMARY KEY, node VARCHAR(8), v INT)"
# writer: acknowledged writes go into a log only after the client returned success
( i=0; while [ $i -lt 100000 ]; do i=$((i+1)); n=db$(( (i % 3) + 1 )); docker exec $n mariadb -uroot -pgalera-pw -e "INSERT INTO d.t (node,v) VALUES ('$n',$i)" 2>/dev/null && echo $i >> /r9/acked.log; done ) &
W=$!
sleep 8
kill -9 $(docker inspect -f '{{.State.Pid}}' db1) $(docker inspect -f '{{.State.Pid}}' db2) $(docker inspect -f '{{.State.Pid}}' db3)
sleep 1; kill $W 2>/dev/null; wait $W 2>/dev/null
echo "acked writes: $(wc -l < /r9/acked.log)"
for n in db1 db2 db3; do echo "--- $n state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' $n)"; docker run --rm -v $n-data:/d mariadb:11.8 sh -c 'cat /d/grastate.dat | grep -v "^#"; echo "[gvwstate]"; cat /d/gvwstate.dat 2>/dev/null || echo none'; done
