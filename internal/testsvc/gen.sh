#!/usr/bin/env bash
# Regenerates the Go code and descriptor sets of the test service's protos. A developer step:
# the generated files are committed and CI never runs this script.
#
# Needs protoc, protoc-gen-go and protoc-gen-go-grpc on PATH (or in $(go env GOPATH)/bin):
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@latest
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@latest
#
# Usage: internal/testsvc/gen.sh   (from any directory)
set -euo pipefail

cd "$(dirname "$0")/proto"
PATH="$PATH:$(go env GOPATH)/bin"

protos=(testsvc/v1/echo.proto testsvc/v2/echo.proto)

protoc -I . \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  "${protos[@]}"

# Descriptor sets for the gateway's "protoset" source. File names inside are relative to this
# directory ("testsvc/v1/echo.proto"), the names reflection serves too. v1.protoset holds what a
# server started without WithV2 offers; all.protoset both packages.
protoc -I . --include_imports --descriptor_set_out=v1.protoset testsvc/v1/echo.proto
protoc -I . --include_imports --descriptor_set_out=all.protoset "${protos[@]}"
