#!/bin/sh
# Before nginx starts, run the configuration scripts in /docker-entrypoint.d in
# version order: executable *.sh are run, executable *.envsh are sourced.
set -e
say() { [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$0: $*"; }

if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
  for script in $(find /docker-entrypoint.d/ -follow -type f | sort -V); do
    if [ ! -x "$script" ]; then
      say "ignoring $script, not executable"
      continue
    fi
    case "$script" in
      *.envsh) say "sourcing $script"; . "$script" ;;
      *.sh) say "launching $script"; "$script" ;;
      *) say "ignoring $script" ;;
    esac
  done
  say "configuration complete; ready for start up"
fi
exec "$@"
