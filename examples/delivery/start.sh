#!/bin/sh
# Starts the delivery example from this folder: `multizone up` with topology.yaml, whose zones
# start their delivery service themselves (zones.<z>.app.command): the app key, the databases
# (delivery_<zone>, on the PostgreSQL at 127.0.0.1:5432 as user postgres; wal_level must be
# logical) and the services' logs (.multizone/data/app-<zone>.log) are made on the way.
# The same as `npm start -- --app delivery` from the repository's root. Ctrl-C stops all.
#   ./start.sh
set -eu
cd "$(dirname "$0")"
exec node ../../bin/multizone.js up --config topology.yaml
