#!/bin/sh
# Starts the delivery example: a database per zone (delivery_<zone>, created if missing, on the
# PostgreSQL at 127.0.0.1:5432 as user postgres; wal_level must be logical), one delivery
# service per zone on 127.0.N.1:18082 (Redis at 127.0.0.1:6379), then `multizone up` with
# topology.yaml in the foreground. Ctrl-C stops multizone and the services.
#   ./start.sh
set -eu
cd "$(dirname "$0")"
mkdir -p .multizone
[ -f .multizone/app-key ] || { od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > .multizone/app-key; chmod 600 .multizone/app-key; }
[ -f .multizone/cluster-secret ] || { od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > .multizone/cluster-secret; chmod 600 .multizone/cluster-secret; }
[ -f .multizone/edge-token ] || { od -An -tx1 -N16 /dev/urandom | tr -d ' \n' > .multizone/edge-token; chmod 600 .multizone/edge-token; }
# the edges' admin token (purge by surrogate key): multizone reads MZ_EDGE_TOKEN, the services DELIVERY_EDGE_TOKEN
MZ_EDGE_TOKEN=$(cat .multizone/edge-token)
export MZ_EDGE_TOKEN
PG=${DELIVERY_PG_ADMIN:-postgres://postgres@127.0.0.1:5432}
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null || true; done' EXIT INT TERM
n=1
for z in sh-a sh-b bj-a gz-a; do
  db="delivery_$(echo "$z" | tr - _)"
  psql "$PG/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 || psql "$PG/postgres" -qc "CREATE DATABASE $db"
  DELIVERY_ZONE=$z DELIVERY_HOST=127.0.$n.1 DELIVERY_PORT=18082 DELIVERY_KEY_FILE=.multizone/app-key \
    DELIVERY_PG="$PG/$db" DELIVERY_ROUTER=http://127.0.$n.1:18081 \
    DELIVERY_EDGE=http://127.0.$n.1:18080 DELIVERY_EDGE_TOKEN="$MZ_EDGE_TOKEN" \
    node --import ../../bin/ts.mjs service.ts > ".multizone/service-$z.log" 2>&1 &
  pids="$pids $!"
  n=$((n + 1))
done
# the services create their tables; table replication checks them when multizone starts
for h in 1 2 3 4; do
  i=0
  until curl -sf "http://127.0.$h.1:18082/healthz" > /dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "service on 127.0.$h.1 did not start: see .multizone/service-*.log" >&2; exit 1; }
    sleep 0.1
  done
done
node ../../bin/multizone.js up --config topology.yaml
