#!/bin/sh
# Prunes tags of one repository from the private registry and reclaims what
# no tag references any more (registry garbage-collect --delete-untagged).
#
# registry-gc.sh COMPOSE_FILE VOLUME REPOSITORY CONFIG TAG...
#   With the registry stopped (garbage collection must never run beside a
#   push: it could delete the layers of an upload under way), removes each
#   TAG of REPOSITORY from the storage in the named VOLUME, collects the
#   garbage in a one-off container of the same service (CONFIG: its
#   config.yml), and starts the registry again, also when a step failed.
#   Prints the collector's summary line.
set -eu
compose=$1 volume=$2 repository=$3 config=$4
shift 4
data=$(docker volume inspect --format '{{.Mountpoint}}' "$volume")
tags="$data/docker/registry/v2/repositories/$repository/_manifests/tags"
trap 'docker compose --file "$compose" up --detach --wait --quiet-pull registry >/dev/null' EXIT
docker compose --file "$compose" stop registry >/dev/null
for tag in "$@"; do
  rm -rf -- "${tags:?}/$tag"
done
if ! out=$(docker compose --file "$compose" run --rm --no-deps -T --entrypoint registry registry garbage-collect --delete-untagged "$config" 2>&1); then
  printf '%s\n' "$out" >&2
  exit 1
fi
printf '%s\n' "$out" | tail -n 1
