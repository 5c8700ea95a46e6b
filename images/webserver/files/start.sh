#!/bin/bash
# Starts the web container: picks the supervisord setup for DDEV_WEBSERVER_TYPE and replaces this
# shell with supervisord, so supervisord is PID 1. Mirrors DDEV's start.sh and pre-start.sh
# (DDEV v1.25.3), without their certificate and per-project steps.
set -euo pipefail

type="${DDEV_WEBSERVER_TYPE:-nginx-fpm}"
config="/etc/supervisor/supervisord-${type}.conf"
if [[ ! -f "$config" ]]; then
    echo "DDEV_WEBSERVER_TYPE=${type} is not valid; use nginx-fpm, apache-fpm or generic." >&2
    exit 1
fi

# Programs write their logs into this FIFO, and cat, which inherited the container's stdout,
# copies them there. DDEV needs the FIFO because its start.sh runs through docker exec, whose
# output is not the container's log. cat opens the FIFO read-write, so it never reads
# end-of-file between writers.
logpipe=/var/tmp/logpipe
rm -f "$logpipe"
mkfifo -m 0600 "$logpipe"
cat <>"$logpipe" &

exec /usr/bin/supervisord --nodaemon --configuration "$config"
