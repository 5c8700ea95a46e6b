#!/bin/bash
# Exits 0 once the db user can query the db database over TCP.
set -euo pipefail

PGPASSWORD=db psql --host=127.0.0.1 --username=db --dbname=db --no-psqlrc --tuples-only \
    --command='SELECT 1' >/dev/null
