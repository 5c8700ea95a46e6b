#!/bin/bash
# Creates the starter cluster at build time: superuser db with password db and database db,
# which are the POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB values DDEV gives the upstream
# postgres image (DDEV v1.25.3). Other hosts log in with a password.
set -euo pipefail

password_file=$(mktemp)
echo db >"$password_file"
initdb --pgdata="$PGDATA" --username=db --pwfile="$password_file" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
rm -f "$password_file"

echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
cat >>"$PGDATA/postgresql.conf" <<'CONF'
listen_addresses = '*'
unix_socket_directories = '/run/postgresql'
CONF

pg_ctl --pgdata="$PGDATA" --wait --options='-c listen_addresses=' start >/dev/null
createdb --username=db db
pg_ctl --pgdata="$PGDATA" --wait stop >/dev/null
