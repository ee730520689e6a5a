#!/usr/bin/env bash
# Builds the gateway, the backend and the peers, runs every benchmark scenario side by side and
# writes bench/RESULTS.md. See bench/README.md.
#
#   ./run.sh                 full run, ~10 minutes (3 x 8 s closed loop + 3 x 4 s open loop per target)
#   QUICK=1 ./run.sh         smoke run, ~2 minutes (1 x 3 s + 1 x 2 s)
#
# Knobs (environment): REPS, DURATION, LAT_DURATION, WARMUP, CONNS (default 64),
# ONLY=rpc,http,ws,events,registry (a subset), OUT (default RESULTS.md), NGINX=skip (no NGINX peer),
# EVENTS_DUP_WINDOW=10s (the gateway's events.duplicate_window; default the gateway's 2m),
# PROFILE=1 (CPU and allocation profiles of the first closed-loop run of each process into
# .out/profiles; see README.md for reading them), KEEP=1 (keep the scratch directory with configs and logs), NICE (default -10 as root, else 0:
# the priority of the harness and everything it starts, against other work on a shared machine).
#
# Needs Go. Installs NGINX from the distribution's packages when it is missing and the script runs
# as root (or with password-less sudo); without it the NGINX row is left out. Not part of the test
# suite: CI does not run benchmarks.
set -euo pipefail
cd "$(dirname "$0")"
BENCH=$PWD

if [[ "${QUICK:-}" == 1 ]]; then
  : "${REPS:=1}" "${DURATION:=3s}" "${LAT_DURATION:=2s}" "${WARMUP:=500ms}" "${MODE:=quick}"
fi
: "${REPS:=3}" "${DURATION:=8s}" "${LAT_DURATION:=4s}" "${WARMUP:=1s}" "${CONNS:=64}" "${OUT:=RESULTS.md}" "${MODE:=full}"

command -v go >/dev/null || { echo "run.sh: Go is required" >&2; exit 1; }

find_nginx() {
  local n
  for n in "$(command -v nginx 2>/dev/null || true)" /usr/sbin/nginx /usr/local/sbin/nginx; do
    [[ -n "$n" && -x "$n" ]] && { echo "$n"; return; }
  done
}

install_nginx() {
  local sudo=""
  if [[ $(id -u) != 0 ]]; then
    sudo -n true 2>/dev/null || return 1
    sudo="sudo -n"
  fi
  command -v apt-get >/dev/null || return 1
  echo "run.sh: installing nginx (apt-get)" >&2
  # Keep the package from starting a system-wide nginx on port 80: policy-rc.d refuses service
  # starts during the install (only when none is in place already).
  local policy=/usr/sbin/policy-rc.d added=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && added=1
  fi
  local ok=0
  $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx >/dev/null || ok=1
  [[ -n $added ]] && $sudo rm -f "$policy"
  return $ok
}

NGINX_BIN=""
if [[ "${NGINX:-}" != skip ]]; then
  NGINX_BIN=$(find_nginx || true)
  if [[ -z $NGINX_BIN ]]; then
    install_nginx || echo "run.sh: could not install nginx; the NGINX peer is skipped" >&2
    NGINX_BIN=$(find_nginx || true)
  fi
fi

BIN=$BENCH/.out/bin
mkdir -p "$BIN"
echo "run.sh: building" >&2
# The gateway gets bench/overlay/debug.go.in added at build time (pprof and allocation counts on a
# side listener, only when BENCH_DEBUG_ADDR is set); its source is not touched.
ROOT=$(cd .. && pwd)
printf '{"Replace":{"%s/cmd/gateway/zz_bench_debug.go":"%s/overlay/debug.go.in"}}\n' "$ROOT" "$BENCH" >.out/overlay.json
if ! (cd .. && go build -overlay "$BENCH/.out/overlay.json" -o "$BIN/gateway" ./cmd/gateway); then
  echo "run.sh: gateway build with the debug overlay failed; building it plain (no allocation figures)" >&2
  (cd .. && go build -o "$BIN/gateway" ./cmd/gateway)
fi
go build -o "$BIN/" ./cmd/backend ./cmd/grpcgw ./cmd/rproxy ./cmd/floor ./cmd/evloop ./cmd/regscale ./cmd/harness

if [[ -n "${PROFILE:-}" ]]; then mkdir -p .out/profiles; fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gateway-bench.XXXXXX")
PIDFILE=$WORK/pids
HARNESS_PID=""
cleanup() {
  local pid
  if [[ -n $HARNESS_PID ]] && kill -0 "$HARNESS_PID" 2>/dev/null; then
    kill -TERM "$HARNESS_PID" 2>/dev/null || true
    wait "$HARNESS_PID" 2>/dev/null || true
  fi
  # Whatever the harness started and did not stop (each in its own process group).
  if [[ -f $PIDFILE ]]; then
    while read -r pid; do
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    done <"$PIDFILE"
  fi
  if [[ "${KEEP:-}" == 1 ]]; then
    echo "run.sh: scratch directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "${NICE:-}" ]]; then
  if [[ $(id -u) == 0 ]]; then NICE=-10; else NICE=0; fi
fi

nice -n "$NICE" "$BIN/harness" -bin "$BIN" -work "$WORK" -pidfile "$PIDFILE" -out "$OUT" -nginx "$NGINX_BIN" \
  -reps "$REPS" -duration "$DURATION" -latency-duration "$LAT_DURATION" -warmup "$WARMUP" \
  -conns "$CONNS" -mode "$MODE" ${ONLY:+-only "$ONLY"} ${EVENTS_DUP_WINDOW:+-events-duplicate-window "$EVENTS_DUP_WINDOW"} ${PROFILE:+-profile-dir "$BENCH/.out/profiles"} &
HARNESS_PID=$!
status=0
wait "$HARNESS_PID" || status=$?
HARNESS_PID=""
exit $status
