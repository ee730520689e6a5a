#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what is missing (a Consul binary built
# from the Go module proxy and cached under ~/.cache), checks formatting and vet, runs every
# test with the race detector (including those against a real Consul agent and a real embedded
# NATS server), then each fuzz target for a short, bounded time.
#
#   ./scripts/test.sh               everything
#   FUZZTIME=0 ./scripts/test.sh    skip the fuzz runs
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-8s}"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

echo "== go $(go env GOVERSION)"
go mod download

echo "== consul"
CONSUL_BIN="$(./scripts/consul.sh)"
export CONSUL_BIN
"${CONSUL_BIN}" version | sed -n 1p   # sed reads everything: no SIGPIPE under pipefail

echo "== chromium"
# The dashboard's browser test drives Debian's headless Chromium (skipped without it, except
# under CI, where it fails).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    log="$(mktemp)"
    if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >"${log}" 2>&1; then
      cat "${log}"; rm -f "${log}"; exit 1
    fi
    rm -f "${log}"
  else
    echo "chromium is missing and this is not root: the browser test will be skipped"
  fi
fi
{ command -v chromium >/dev/null 2>&1 && chromium --version 2>/dev/null | sed -n 1p; } || true

echo "== gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"
if [ -n "${unformatted}" ]; then
  echo "gofmt would change:"; echo "${unformatted}"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
# Two packages at a time: the machine has two cores and several suites start real servers.
go test -race -count=1 -p 2 -timeout 20m ./...

if [ "${fuzztime}" != "0" ]; then
  echo "== fuzz (${fuzztime} each)"
  for pkg in $(go list ./...); do
    for target in $(go test -list '^Fuzz' "${pkg}" 2>/dev/null | grep '^Fuzz' || true); do
      echo "-- ${pkg} ${target}"
      # A real crash is saved under testdata/fuzz and fails the rerun too (the seed corpus runs
      # first); the engine's own occasional "context deadline exceeded" at the end of -fuzztime
      # does not, so one rerun tells them apart.
      fuzz() { go test -run='^$' -fuzz="^${target}\$" -fuzztime="${fuzztime}" -fuzzminimizetime=2s "${pkg}" >/tmp/fuzz.$$.log 2>&1; }
      if ! fuzz; then
        # The engine's progress lines say nothing; what is left names the failure.
        echo "   first run failed; running it once more:"; grep -v '^fuzz: elapsed' /tmp/fuzz.$$.log | tail -8 || true
        fuzz || { cat /tmp/fuzz.$$.log; rm -f /tmp/fuzz.$$.log; exit 1; }
      fi
      tail -1 /tmp/fuzz.$$.log
    done
  done
  rm -f /tmp/fuzz.$$.log
fi
echo "== all tests passed"
