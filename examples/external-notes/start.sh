#!/bin/sh
# Starts the notes example: one notes app per zone (node, the default, or python; see app.sh),
# then `multizone up` with topology.yaml in the foreground. Ctrl-C stops multizone and the apps.
#   ./start.sh [node|python]
set -eu
cd "$(dirname "$0")"
lang="${1:-node}"
case "$lang" in node|python) ;; *) echo "usage: ./start.sh [node|python]" >&2; exit 64 ;; esac
mkdir -p .multizone
echo "$lang" > .multizone/lang
[ -f .multizone/app-key ] || { od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > .multizone/app-key; chmod 600 .multizone/app-key; }
[ -f .multizone/cluster-secret ] || { od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > .multizone/cluster-secret; chmod 600 .multizone/cluster-secret; }
zones="sh-a sh-b bj-a gz-a"
trap 'for z in $zones; do ./app.sh kill $z; done' EXIT INT TERM
for z in $zones; do ./app.sh start "$z" "$lang"; done
node ../../bin/multizone.js up --config topology.yaml
