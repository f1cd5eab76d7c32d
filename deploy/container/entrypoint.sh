#!/bin/sh
# leanpix-entrypoint - the leanpix image's entrypoint (Containerfile): runs `leanpix ARGS`,
# and makes `serve` listen where a container platform sends traffic: 0.0.0.0:$PORT
# (Cloud Run and Knative set PORT; the image's default is 8080) unless --listen is given.
# The CLI itself reads no environment for this: outside a container `leanpix serve`
# keeps its default, 127.0.0.1:8080.
#
#   IMAGE                       leanpix serve --listen 0.0.0.0:$PORT (the demo data set)
#   IMAGE serve --data /data    the same, with MetaRefCard data mounted at /data
#   IMAGE convert IN OUT        any other leanpix command, as given
set -eu
if [ "${1:-}" = serve ]; then
  shift
  for arg in "$@"; do
    [ "$arg" = --listen ] && exec leanpix serve "$@"
  done
  case ${PORT:-8080} in
    ''|*[!0-9]*) echo "leanpix-entrypoint: PORT='$PORT' is not a port number" >&2; exit 2 ;;
  esac
  exec leanpix serve --listen "0.0.0.0:${PORT:-8080}" "$@"
fi
exec leanpix "$@"
