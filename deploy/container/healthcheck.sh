#!/bin/bash
# leanpix-healthcheck - the leanpix image's HEALTHCHECK (Containerfile): GET /healthz on
# 127.0.0.1:$PORT and succeed only on "200". Bash's /dev/tcp, so the image needs no curl;
# a 2 s timeout of its own (the HEALTHCHECK's is 3 s).
#
# Usage: leanpix-healthcheck [PORT]   (default: $PORT, else 8080)
set -u
port=${1:-${PORT:-8080}}
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
IFS= read -r -t 2 status <&3 || { echo "leanpix-healthcheck: no answer on port $port" >&2; exit 1; }
case $status in
  "HTTP/1."[01]" 200 "*) exit 0 ;;
  *) echo "leanpix-healthcheck: /healthz answered: ${status%$'\r'}" >&2; exit 1 ;;
esac
