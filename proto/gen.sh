#!/usr/bin/env bash
# Regenerates the gateway's own protobuf Go code (a developer step; CI uses the committed files).
# Needs protoc and protoc-gen-go (go install google.golang.org/protobuf/cmd/protoc-gen-go).
set -euo pipefail
cd "$(dirname "$0")"
protoc --go_out=. --go_opt=paths=source_relative api/api.proto
