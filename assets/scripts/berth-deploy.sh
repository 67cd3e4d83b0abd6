#!/bin/bash
# berth-deploy PROJECT: all that the deploy user berth-deploy may do, as root through sudo
# from the forced command of its keys (restrict,command="sudo -n berth-deploy PROJECT").
# The request comes in SSH_ORIGINAL_COMMAND (sudo keeps it for this program only):
#   deploy TAG   rolls out <registry>/<project>/app:TAG, an image the private registry
#                holds, as `berth deploy --tag TAG` does: under berth's host lock (waited
#                for), the migrations once, the replicas one at a time, recorded in the
#                release history. An image that does not become healthy is rolled back
#                (the compose file as it was) and the exit code is 1; a run killed in the
#                middle is finished by the next deploy or berth install.
# Anything else gets the usage and exit code 2. The settings are berth's, in
# /etc/berth/PROJECT/deploy/release.conf (paths, the template of the compose file,
# the roll's arguments); the roll is berth's own (app-roll.sh).
# shellcheck disable=SC2154 # compose_file, template, releases, keep, … come from release.conf
set -euo pipefail
umask 022
export DOCKER_CONFIG=/root/.docker
usage() {
  echo "berth-deploy: this key may only deploy an image of the private registry: ssh berth-deploy@$(hostname) deploy <tag>" >&2
  exit 2
}
project=${1:-}
[[ $project =~ ^[a-z0-9][a-z0-9-]*$ ]] || usage
conf=/etc/berth/$project/deploy/release.conf
if [ ! -r "$conf" ]; then
  echo "berth-deploy: $(hostname) has no deploy settings for the project $project: run berth install with ci.deployKeys set" >&2
  exit 2
fi
read -r verb tag extra <<<"${SSH_ORIGINAL_COMMAND:-}" || true
if [ "${verb:-}" != deploy ] || [ -z "${tag:-}" ] || [ -n "${extra:-}" ]; then usage; fi
if ! [[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
  echo "berth-deploy: $tag is not an image tag (letters, digits, _ . and -, at most 128, not starting with . or -)" >&2
  exit 2
fi
# shellcheck source=/dev/null
. "$conf"
image=$repository:$tag

# berth's host lock (/var/lib/berth/lock, as berth install takes it): waited for up to 15 minutes.
state=/var/lib/berth
lock=$state/lock
run_id=deploy-$(date +%s)-$$
started=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
owner() {
  printf '{"owner":"%s@%s (berth-deploy)","machine":"%s","pid":%d,"runId":"%s","started":"%s","heartbeat":"%s"}\n' \
    "${SUDO_USER:-root}" "$(hostname)" "$(hostname)" "$$" "$run_id" "$started" "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)"
}
ours() { grep -q "\"runId\":\"$run_id\"" "$lock/owner.json" 2>/dev/null; }
take_lock() (
  exec 9>"$state/lock.guard"
  flock 9
  # A berth-deploy of this host that died holding it (its process gone) is over.
  holder=$(cat "$lock/owner.json" 2>/dev/null || true)
  if [[ $holder == *'"runId":"deploy-'* ]] && [[ $holder =~ \"pid\":([0-9]+) ]] && ! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null; then
    rm -rf -- "$lock"
  fi
  mkdir -m 0700 "$lock" 2>/dev/null && owner >"$lock/owner.json"
)
install -d -m 0700 "$state"
waited=0
until take_lock; do
  if [ "$waited" -ge 900 ]; then
    echo "berth-deploy: $(hostname) is still locked by another berth run after 15 minutes: $(cat "$lock/owner.json" 2>/dev/null)" >&2
    exit 1
  fi
  if [ "$waited" = 0 ]; then echo "berth-deploy: waiting for the host lock, held by $(cat "$lock/owner.json" 2>/dev/null)" >&2; fi
  sleep 5
  waited=$((waited + 5))
done
# The heartbeat berth reads to tell a live holder from a stale one (away from the session's output, which it would keep open).
(while sleep 60; do if ours; then owner >"$lock/owner.json.new" && mv "$lock/owner.json.new" "$lock/owner.json"; fi; done) </dev/null >/dev/null 2>&1 &
heartbeat=$!
trap 'kill "$heartbeat" 2>/dev/null || true; if ours; then rm -rf -- "$lock"; fi' EXIT

if ! docker manifest inspect "$image" >/dev/null 2>&1; then
  echo "berth-deploy: the private registry has no image $image: push it first (the pipeline's push job), or give the tag of one it has" >&2
  exit 1
fi
# What served before: noted by a deploy killed in the middle, else what the compose file runs (app-1, its first service).
running=$(sed -n 's/^    image: //p' "$compose_file" | head -n 1)
previous=$(cat "$pending" 2>/dev/null || true)
previous=${previous:-$running}
if [ -z "$previous" ]; then
  echo "berth-deploy: the app is not installed on $(hostname) yet: run berth install first" >&2
  exit 1
fi
if [ "$previous" != "$image" ] && [ ! -s "$pending" ]; then
  cp "$compose_file" "$previous_compose"
  echo "$previous" >"$pending"
fi
sed "s/$placeholder/$tag/g" "$template" >"$compose_file.new"
mv "$compose_file.new" "$compose_file"

set +e
(roll "$image")
rolled=$?
set -e
if [ "$rolled" = 0 ]; then
  record_started
  if [ "$previous" != "$image" ]; then
    printf '%s %s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" deploy "$image" "$previous" >>"$releases"
  fi
  rm -f "$pending" "$previous_compose"
  echo "berth-deploy: $image serves"
  # Old images of the app no container uses and no rollback needs (the registry's are pruned by the next berth run there).
  # No history yet (the image that served deployed again): nothing is a rollback target.
  kept=$(awk -v keep="$keep" -f "$kept_images" "$releases" 2>/dev/null || true)
  unused_images | grep -vxF "$kept" | xargs -r docker image rm -- >/dev/null || true
  exit 0
fi
echo "berth-deploy: $image did not become healthy; going back to $previous, which serves meanwhile" >&2
if [ -s "$previous_compose" ]; then cp "$previous_compose" "$compose_file"; fi
back=$(mktemp)
if (roll "$previous") >"$back" 2>&1; then
  record_started
  rm -f "$pending" "$previous_compose"
else
  tail -n 20 "$back" >&2
  echo "berth-deploy: going back to $previous failed too" >&2
fi
rm -f "$back"
exit 1
