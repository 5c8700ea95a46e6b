#!/bin/bash
# Exits 0 when the web container works: the PHP page loads through the web server. The generic
# type serves nothing by itself, so for it supervisord must respond.
set -euo pipefail

if [[ "${DDEV_WEBSERVER_TYPE:-nginx-fpm}" == generic ]]; then
    exec supervisorctl pid >/dev/null
fi

curl --fail --silent --show-error --max-time 4 --output /dev/null http://127.0.0.1/
