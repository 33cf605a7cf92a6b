#!/usr/bin/env bash
# Starts several mcpmsg-server nodes sharing one Redis, on this machine, from
# the built binaries (cargo build --release first), and stops them all on
# Ctrl-C or when this script is terminated.
#
#   scripts/nodes.sh [NODES] [FIRST_PORT] [REDIS_PORT]
#
# Defaults: 2 nodes on ports 8123, 8124, ...; Redis on 6390 with an
# append-only file synced on every write (so nothing acknowledged is lost on
# a Redis restart) under a temporary directory. Put any HTTP load balancer in
# front of the nodes: they keep no session state. Prints one URL a node.
set -euo pipefail

nodes=${1:-2}
first=${2:-8123}
redis_port=${3:-6390}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MCPMSG_BIN:-$root/target/release}
[ -x "$bin/mcpmsg-server" ] || { echo "nodes.sh: build first: cargo build --release (or set MCPMSG_BIN)" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "nodes.sh: redis-server is needed (apt-get install redis-server)" >&2; exit 2; }

data=$(mktemp -d "${TMPDIR:-/tmp}/mcpmsg-nodes.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
    --dir "$data" >"$data/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done

for i in $(seq 0 $((nodes - 1))); do
    port=$((first + i))
    "$bin/mcpmsg-server" --port "$port" --store "redis://127.0.0.1:$redis_port/0" >"$data/node$i.log" 2>&1 &
    pids+=($!)
done
for i in $(seq 0 $((nodes - 1))); do
    port=$((first + i))
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    echo "http://127.0.0.1:$port/mcp"
done
echo "ready: $nodes nodes on redis://127.0.0.1:$redis_port (logs in $data); Ctrl-C stops them" >&2
wait
