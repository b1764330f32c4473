#!/usr/bin/env bash
# Three slokeeper nodes on this machine, on one local PostgreSQL, to try a
# cluster out (README "Running several nodes"). Not for production: the
# backup target is a local directory and HTTP is plain, on loopback.
#
#   createdb slokeeper_cluster && createdb slokeeper_cluster_keys
#   SLOKEEPER_MQTT=mqtt://127.0.0.1:1883 examples/cluster/run-local.sh
set -euo pipefail

bin=${SLOKEEPER:-slokeeper}
dir=${DIR:-./cluster-demo}
db=${DB:-postgres://postgres@127.0.0.1:5432/slokeeper_cluster?sslmode=disable}
keys_db=${KEYS_DB:-postgres://postgres@127.0.0.1:5432/slokeeper_cluster_keys?sslmode=disable}
mkdir -p -m 0700 "$dir"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT

start() { # start N: node N on port 808N
  local n=$1
  mkdir -p -m 0700 "$dir/node$n"
  "$bin" serve --node "node$n" --data "$dir/node$n" --listen "127.0.0.1:808$n" \
    --db "$db" --keys-db "$keys_db" --master-key "$dir/node$n/master.key" \
    --backup-target "$dir/backups" --log-format json 2>>"$dir/node$n.log" &
  pids+=($!)
  for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:808$n/readyz" >/dev/null 2>&1 && { echo "node$n ready on http://127.0.0.1:808$n"; return; }
    sleep 1
  done
  echo "node$n did not become ready; see $dir/node$n.log" >&2
  exit 1
}

# The first node creates the cluster's master key at its first start; the
# others get a copy (on other machines: scp -p, then install -m 0600).
start 1
for n in 2 3; do
  mkdir -p -m 0700 "$dir/node$n"
  install -m 0600 "$dir/node1/master.key" "$dir/node$n/master.key"
  start "$n"
done
echo "three nodes serving; Ctrl-C stops them"
wait
