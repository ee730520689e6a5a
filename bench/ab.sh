#!/usr/bin/env bash
# Compares gateway binaries on the http scenario by hand, alternating them run after run so that
# the host's drift hits them alike: the same backend, the bench's load generator, one gateway at
# a time on a static route to it. Prints, per run: CPU seconds of the gateway per 10k requests
# (utime+stime from /proc), throughput and latency.
#
#   ./ab.sh OLD_BINARY NEW_BINARY                    # 4 rounds, fixed 8000 req/s, 6 s each
#   RATE=0 ROUNDS=3 ./ab.sh A B C                    # closed loop (saturated) instead
#
# Build the binaries first (e.g. `go build -o /tmp/new ../cmd/gateway`, and the same from a
# worktree of the old commit) and the bench tools (`./run.sh` once, or
# `go build -o .out/bin/ ./cmd/backend ./cmd/load`). Loopback only; bounded by time.
set -euo pipefail
cd "$(dirname "$0")"
: "${RATE:=8000}" "${ROUNDS:=4}" "${DURATION:=6s}" "${CONNS:=64}"
BIN=$PWD/.out/bin
[[ $# -ge 1 ]] || { sed -n '2,12p' "$0"; exit 2; }
for b in "$BIN/backend" "$BIN/load" "$@"; do [[ -x $b ]] || { echo "ab.sh: $b is missing" >&2; exit 1; }; done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gateway-ab.XXXXXX")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT
base=$((20000 + RANDOM % 20000)) # three ports from here on (random: one in use makes the run fail)
bp=$base gp=$((base + 1)) gw=$((base + 2))
"$BIN/backend" -grpc "127.0.0.1:$bp" -http "127.0.0.1:$gp" >"$WORK/backend.log" 2>&1 & pids+=($!)
cat >"$WORK/gw.yaml" <<YAML
server: {address: "127.0.0.1:$gw"}
log: {level: warn}
registry: {type: static, static: [{name: go.micro.api.hello, nodes: [{address: "127.0.0.1:$gp"}]}]}
dashboard: {enabled: false}
openapi: {enabled: false}
routes: [{path: /hello, method: GET, handler: http, service: go.micro.api.hello}]
YAML
for round in $(seq "$ROUNDS"); do
  for b in "$@"; do
    "$b" serve -config "$WORK/gw.yaml" >"$WORK/gw.log" 2>&1 & pid=$!
    for _ in $(seq 100); do curl -sf "127.0.0.1:$gw/hello" >/dev/null && break; sleep 0.1; done
    "$BIN/load" -addr "127.0.0.1:$gw" -path /hello -c "$CONNS" -d 1s -rate "$RATE" >/dev/null 2>&1 # warm-up
    t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
    out=$("$BIN/load" -addr "127.0.0.1:$gw" -path /hello -c "$CONNS" -d "$DURATION" -rate "$RATE" 2>&1)
    t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    n=$(awk '{print $2}' <<<"$out")
    printf 'round %d  %-28s CPU-s/10k %s | %s\n' "$round" "$(basename "$b")" \
      "$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN{printf "%.3f", t/hz/n*10000}')" \
      "$(awk '{print $5, $6, $7, $10, $11}' <<<"$out")"
  done
done
