#!/bin/bash
# Brings the app to its current configuration without a failed request:
#   app-roll.sh COMPOSE_FILE PROJECT TIMEOUT_SECONDS IMAGE MIGRATED_MARKER LB_SERVICE REPLICA...
# 1. The migrations, once per image (never two at once: a lock on the host).
# 2. Each replica recreated when it changed, one at a time, the next only once
#    it is healthy; one that does not become healthy stops the roll (its last
#    log lines shown) while the others keep serving the previous version.
# 3. The load balancer started and its configuration reloaded (gracefully).
# 4. Replicas no longer in the file (app.replicas made smaller) stopped last.
set -euo pipefail
compose_file=$1 project=$2 timeout=$3 image=$4 migrated=$5 lb=$6
shift 6
replicas=("$@")
compose() { docker compose --file "$compose_file" "$@"; }
mkdir -p /run/berth
# The watchdog (berth-watchdog.timer) waits while containers are being recreated.
echo $(($(date +%s) + timeout)) >/run/berth/hold
trap 'rm -f /run/berth/hold' EXIT

if [ "$(cat "$migrated" 2>/dev/null)" != "$image" ]; then
  echo "running the migrations of $image"
  if ! flock --timeout "$timeout" "$migrated.lock" timeout "$timeout" docker compose --file "$compose_file" run --rm --no-deps -T migrate; then
    echo "the migrations failed (docker compose --file $compose_file run --rm migrate); the app keeps running its previous version" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$migrated")"
  echo "$image" >"$migrated"
fi

for replica in "${replicas[@]}"; do
  if ! compose up --detach --no-deps --quiet-pull --wait --wait-timeout "$timeout" "$replica"; then
    echo "the app container $replica did not become healthy within ${timeout}s; its last log lines:" >&2
    compose logs --no-color --tail 30 "$replica" >&2 || true
    exit 1
  fi
done

compose up --detach --no-deps --quiet-pull --wait --wait-timeout "$timeout" "$lb"
compose exec -T "$lb" nginx -s reload

wanted=" $(compose config --services | tr '\n' ' ') "
docker ps --all --filter "label=com.docker.compose.project=$project" --format '{{.ID}} {{.Label "com.docker.compose.service"}}' |
  while read -r id service; do
    case "$wanted" in *" $service "*) continue ;; esac
    echo "removing $service (no longer in the file)"
    docker stop --time 30 "$id" >/dev/null
    docker rm "$id" >/dev/null
  done
