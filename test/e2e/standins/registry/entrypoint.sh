#!/bin/sh
# A config file as the first argument means "serve it"; registry subcommands
# and options go to the registry binary; anything else runs as given.
set -e
case "$1" in
  *.yaml | *.yml) set -- registry serve "$@" ;;
  serve | garbage-collect | help | -*) set -- registry "$@" ;;
esac
exec "$@"
