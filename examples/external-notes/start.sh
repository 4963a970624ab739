#!/bin/sh
# Starts the notes example: one notes app per zone (node, the default, or python), then
# `multizone up` with topology.yaml in the foreground. Ctrl-C stops multizone; the apps are
# stopped with it. Run from anywhere: it works in this folder.
#   ./start.sh [node|python]
set -eu
cd "$(dirname "$0")"
lang="${1:-node}"
mkdir -p .multizone
[ -f .multizone/app-key ] || { od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > .multizone/app-key; chmod 600 .multizone/app-key; }
[ -f .multizone/cluster-secret ] || { od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > .multizone/cluster-secret; chmod 600 .multizone/cluster-secret; }
pids=""
trap 'kill $pids 2>/dev/null || true' EXIT INT TERM
n=1
for zone in sh-a sh-b bj-a gz-a; do
  export NOTES_ZONE="$zone" NOTES_HOST="127.0.$n.1" NOTES_PORT=18082 NOTES_KEY_FILE=.multizone/app-key
  export NOTES_DB=".multizone/notes-$zone.sqlite"
  case "$lang" in
    node) node node/notes.mjs & ;;
    python) python3 python/notes.py & ;;
    *) echo "usage: ./start.sh [node|python]" >&2; exit 64 ;;
  esac
  pids="$pids $!"
  n=$((n + 1))
done
node ../../bin/multizone.js up --config topology.yaml
