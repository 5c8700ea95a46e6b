#!/bin/bash
# Seeds an empty data folder from the starter database, then runs the command (mariadbd) as
# PID 1. DDEV's entrypoint restores its base_db the same way, with mariadb-backup --prepare and
# --copy-back (DDEV v1.25.3).
set -euo pipefail

if [[ ! -d /var/lib/mysql/mysql ]]; then
    echo "ddev-lab: seeding /var/lib/mysql from /mysqlbase/base_db.zst"
    seed=$(mktemp -d)
    zstd --quiet --decompress --stdout /mysqlbase/base_db.zst | mbstream -x -C "$seed"
    mariadb-backup --prepare --target-dir="$seed" 2>/dev/null
    mariadb-backup --copy-back --target-dir="$seed" --datadir=/var/lib/mysql 2>/dev/null
    rm -rf "$seed"
fi

exec "$@"
