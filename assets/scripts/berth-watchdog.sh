#!/bin/sh
# Starts the containers berth keeps running that are down. `docker kill` and
# `docker stop` count as a manual stop: no restart policy brings such a
# container back until dockerd itself restarts. Runs from
# berth-watchdog.timer every 15 s.
#
# To keep them down on purpose (maintenance): touch /etc/berth/hold, and
# remove it afterwards. berth holds them itself for a few minutes while it
# recreates containers: /run/berth/hold holds the time (epoch seconds) until
# which the watchdog waits.
[ -e /etc/berth/hold ] && exit 0
if [ -r /run/berth/hold ] && [ "$(date +%s)" -lt "$(cat /run/berth/hold)" ]; then
  exit 0
fi
docker ps --all --filter label=berth.keep-running=true --filter status=exited --filter status=created --format '{{.Names}}' |
  while read -r name; do
    echo "starting $name (it was down)"
    docker start "$name" >/dev/null || echo "could not start $name" >&2
  done
