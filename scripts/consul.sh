#!/usr/bin/env bash
# Prints the path of a Consul binary, building it from the Go module proxy once and caching it.
# There is no Debian package for Consul, so the tests build github.com/hashicorp/consul at a pinned
# version inside a scratch module. The result is cached under $XDG_CACHE_HOME (or ~/.cache) and
# reused by every later run; CONSUL_BIN overrides the whole thing.
set -euo pipefail
version="${CONSUL_VERSION:-v1.14.11}"
if [ -n "${CONSUL_BIN:-}" ] && [ -x "${CONSUL_BIN}" ]; then
  echo "${CONSUL_BIN}"
  exit 0
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/gateway/consul-${version}"
bin="${cache}/consul"
if [ -x "${bin}" ] && "${bin}" version >/dev/null 2>&1; then
  echo "${bin}"
  exit 0
fi
mkdir -p "${cache}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
echo "building consul ${version} into ${bin} (takes a few minutes, once)" >&2
(
  cd "${work}"
  go mod init consulbuild >/dev/null 2>&1
  export GONOSUMDB=github.com/hashicorp/consul GOFLAGS=-mod=mod
  go get "github.com/hashicorp/consul@${version}" >&2
  go build -o "${bin}.tmp" github.com/hashicorp/consul >&2
)
mv "${bin}.tmp" "${bin}"
echo "${bin}"
