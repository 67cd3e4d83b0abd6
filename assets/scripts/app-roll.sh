#!/bin/bash
# Brings the app to its current configuration without a failed request:
#   app-roll.sh COMPOSE_FILE PROJECT TIMEOUT_SECONDS IMAGE MIGRATED_MARKER LB_SERVICE RECREATE DEPENDENCIES REPLICA...
# RECREATE: all (the secret files changed: a container reads them when it starts) or changed.
# DEPENDENCIES: services of this project the app needs, space-separated, maybe none (the database proxy).
# One roll of the project at a time (a lock on the host), then:
# 0. The dependencies started (recreated when they changed).
# 1. The migrations, once per image (never two at once: a lock on the host).
# 2. Each replica recreated when it changed, one at a time, the next only once
#    it is healthy; one that does not become healthy stops the roll (its last
#    log lines shown) while the others keep serving the previous version.
# 3. The load balancer started and its configuration reloaded (gracefully).
# 4. Replicas no longer in the file (app.replicas made smaller) stopped last.
set -euo pipefail
compose_file=$1 project=$2 timeout=$3 image=$4 migrated=$5 lb=$6 recreate=$7 dependencies=$8
shift 8
replicas=("$@")
compose() { docker compose --file "$compose_file" "$@"; }
mkdir -p /run/berth
# Never two rolls of the project at once: one left running by a berth run killed in the middle is waited for.
exec 9>"/run/berth/roll-$project.lock"
if ! flock --timeout "$timeout" 9; then
  echo "another roll of $project is still under way after ${timeout}s (a berth run killed in the middle?)" >&2
  exit 1
fi
# The watchdog (berth-watchdog.timer) waits while containers are being recreated.
echo $(($(date +%s) + timeout)) >/run/berth/hold
trap 'rm -f /run/berth/hold' EXIT

# shellcheck disable=SC2086 # a list of service names
[ -z "$dependencies" ] || compose up --detach --no-deps --quiet-pull $dependencies

if [ "$(cat "$migrated" 2>/dev/null)" != "$image" ]; then
  echo "running the migrations of $image"
  mkdir -p "$(dirname "$migrated")"
  if ! flock --timeout "$timeout" "$migrated.lock" timeout "$timeout" docker compose --file "$compose_file" run --rm --no-deps -T migrate; then
    echo "the migrations failed (docker compose --file $compose_file run --rm migrate); the app keeps running its previous version" >&2
    exit 1
  fi
  echo "$image" >"$migrated"
fi

# Waits until the service's container runs healthy (or runs, without a healthcheck); fails
# at once when it turns unhealthy or crashes (Docker restarting it counts), else at the deadline.
wait_healthy() {
  local service=$1 id state health restarts first='' deadline=$(($(date +%s) + timeout))
  while :; do
    id=$(compose ps --all --quiet "$service")
    read -r state health restarts < <(docker inspect --format '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}}' "$id")
    first=${first:-$restarts}
    case "$state $health" in "running healthy" | "running none") return 0 ;; esac
    if [ "$restarts" -gt "$first" ] || [ "$state" = exited ]; then
      why="it stopped ($state, restarted $((restarts - first)) times)"
    elif [ "$health" = unhealthy ]; then
      why="it is unhealthy (its healthcheck fails)"
    elif [ "$(date +%s)" -ge "$deadline" ]; then
      why="it is not healthy after ${timeout}s ($state, $health)"
    else
      sleep 2
      continue
    fi
    # The reason last, so that it ends the output even after many log lines.
    echo "the last log lines of $service:" >&2
    docker logs --tail 30 "$id" >&2 || true
    echo "the container $service did not become healthy: $why (its last log lines above)" >&2
    return 1
  done
}

for replica in "${replicas[@]}"; do
  if [ "$recreate" = all ]; then
    compose up --detach --no-deps --quiet-pull --force-recreate "$replica"
  else
    compose up --detach --no-deps --quiet-pull "$replica"
  fi
  wait_healthy "$replica" || exit 1
done

compose up --detach --no-deps --quiet-pull "$lb"
wait_healthy "$lb" || exit 1
compose exec -T "$lb" nginx -s reload

wanted=" $(compose config --services | tr '\n' ' ') "
docker ps --all --filter "label=com.docker.compose.project=$project" --format '{{.ID}} {{.Label "com.docker.compose.service"}}' |
  while read -r id service; do
    case "$wanted" in *" $service "*) continue ;; esac
    echo "removing $service (no longer in the file)"
    docker stop --time 30 "$id" >/dev/null
    docker rm "$id" >/dev/null
  done
