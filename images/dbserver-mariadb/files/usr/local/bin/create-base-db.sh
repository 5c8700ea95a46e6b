#!/bin/bash
# Creates the starter database at build time and saves it as a mariadb-backup stream in
# /mysqlbase/base_db.zst, the way DDEV's create_base_db.sh does (DDEV v1.25.3): user db with
# password db, database db, root password root. The data folder is left empty afterwards.
set -euo pipefail

mariadb-install-db --datadir=/var/lib/mysql --auth-root-authentication-method=normal \
    --skip-test-db >/dev/null
mariadbd --skip-networking &
server=$!

for _ in $(seq 60); do
    mariadb-admin --user=root ping >/dev/null 2>&1 && break
    sleep 0.5
done

# db gets every privilege so it can create further databases, as a DDEV project's db user can.
mariadb --user=root <<'SQL'
CREATE DATABASE db;
CREATE USER 'db'@'%' IDENTIFIED BY 'db';
CREATE USER 'db'@'localhost' IDENTIFIED BY 'db';
GRANT ALL PRIVILEGES ON *.* TO 'db'@'%';
GRANT ALL PRIVILEGES ON *.* TO 'db'@'localhost';
ALTER USER 'root'@'localhost' IDENTIFIED BY 'root';
FLUSH PRIVILEGES;
SQL

mkdir -p /mysqlbase
mariadb-backup --backup --stream=mbstream --user=root --password=root --target-dir=/tmp \
    2>/tmp/backup.log | zstd --quiet -o /mysqlbase/base_db.zst \
    || { cat /tmp/backup.log >&2; exit 1; }
rm -f /tmp/backup.log

mariadb-admin --user=root --password=root shutdown
wait "$server" || true
rm -rf /var/lib/mysql/*
