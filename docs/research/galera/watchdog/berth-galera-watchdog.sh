#!/bin/sh
# Starts Galera node containers that are down. `docker kill`/`docker stop` count as a manual
# stop: no restart policy brings such a container back until dockerd restarts. A node held
# down on purpose: touch /etc/berth/galera-hold (maintenance), remove it afterwards.
[ -e /etc/berth/galera-hold ] && exit 0
docker ps -a --filter label=berth.galera.node --filter status=exited --filter status=created --format '{{.Names}}' \
  | while read -r c; do echo "starting $c"; docker start "$c" >/dev/null; done
