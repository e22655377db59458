#!/usr/bin/env bash
# Runs the conformance suite against a local `syncprint serve` (make conformance):
# starts the server on a free loopback port with a temporary data dir and one
# collection per precedence rule, creates the tokens, runs server mode (and client
# mode against our own clientd when it is available), writes JUnit and JSON reports
# into the report directory, and stops the server.
#
#   conformance/run-local.sh BIN REPORT_DIR [EXTRA CONFORM FLAGS...]
set -euo pipefail
bin=${1:?usage: run-local.sh BIN REPORT_DIR}
out=${2:?usage: run-local.sh BIN REPORT_DIR}
shift 2
mkdir -p "$out"
tmp=$(mktemp -d)
pid=
cleanup() {
  # The server's log, without the token it prints on its first start.
  [ -f "$tmp/serve.log" ] && sed -E 's/sp_[A-Za-z0-9_-]{43}/sp_<redacted>/g' "$tmp/serve.log" >"$out/serve.log"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# server-wins is the default rule; every other rule gets a collection of its own.
"$bin" serve --addr 127.0.0.1:0 --data "$tmp/data" --log-level warn \
  --default-policy server-wins \
  --policy conform-client-wins=client-wins \
  --policy conform-latest-wins=latest-wins \
  --policy conform-manual=manual >"$tmp/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  [ -s "$tmp/data/server.url" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "conformance: syncprint serve exited:"; cat "$tmp/serve.log"; exit 1; }
  sleep 0.1
done
url=$(cat "$tmp/data/server.url")
tok() { "$bin" token create --data "$tmp/data" --user "$1" --device "$2" 2>/dev/null; }
SYNCPRINT_CONFORM_TOKEN=$(tok conform-a laptop)
SYNCPRINT_CONFORM_TOKEN_B=$(tok conform-b phone)
SYNCPRINT_CONFORM_TOKEN_C=$(tok conform-a phone)
SYNCPRINT_CONFORM_ADMIN_TOKEN=$(cat "$tmp/data/admin.token")
export SYNCPRINT_CONFORM_TOKEN SYNCPRINT_CONFORM_TOKEN_B SYNCPRINT_CONFORM_TOKEN_C SYNCPRINT_CONFORM_ADMIN_TOKEN
echo "conformance: server under test $url (log: $out/serve.log)"

status=0
"$bin" conform server --url "$url" --junit "$out/server.junit.xml" --json "$out/server.json" "$@" || status=$?
if "$bin" conform client --help >/dev/null 2>&1; then
  "$bin" conform client --driver "$bin client-driver" --junit "$out/client.junit.xml" --json "$out/client.json" || status=$?
fi
echo "conformance: reports in $out/"
exit $status
