#!/bin/bash
# Exits 0 once the db user can log in to the db database over TCP.
set -euo pipefail

mariadb --host=127.0.0.1 --user=db --password=db --database=db --execute='SELECT 1' >/dev/null
