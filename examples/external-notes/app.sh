#!/bin/sh
# Starts or kills one zone's notes app (in the background, its pid in .multizone/app-ZONE.pid):
#   ./app.sh start ZONE [node|python]     ./app.sh kill ZONE
# A drill uses it as its fault: multizone drill --zone gz-a --path /notes \
#   --fault-cmd './app.sh kill $MZ_ZONE' --heal-cmd './app.sh start $MZ_ZONE' --failback
set -eu
cd "$(dirname "$0")"
what="${1:-}"; zone="${2:-}"
case "$zone" in
  sh-a) n=1 ;; sh-b) n=2 ;; bj-a) n=3 ;; gz-a) n=4 ;;
  *) echo "usage: ./app.sh start|kill sh-a|sh-b|bj-a|gz-a [node|python]" >&2; exit 64 ;;
esac
mkdir -p .multizone
pidfile=".multizone/app-$zone.pid"
case "$what" in
  kill)
    [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile" ;;
  start)
    lang="${3:-$(cat .multizone/lang 2>/dev/null || echo node)}"
    export NOTES_ZONE="$zone" NOTES_HOST="127.0.$n.1" NOTES_PORT=18082 NOTES_KEY_FILE=.multizone/app-key
    export NOTES_DB=".multizone/notes-$zone.sqlite"
    case "$lang" in
      node) nohup node node/notes.mjs > ".multizone/app-$zone.log" 2>&1 & ;;
      python) nohup python3 python/notes.py > ".multizone/app-$zone.log" 2>&1 & ;;
      *) echo "usage: ./app.sh start ZONE [node|python]" >&2; exit 64 ;;
    esac
    echo $! > "$pidfile" ;;
  *) echo "usage: ./app.sh start|kill ZONE [node|python]" >&2; exit 64 ;;
esac
