#!/usr/bin/env bash
# Regenerates the Go code and descriptor sets of the example protos. A developer step: the
# generated files are committed and CI never runs this script.
#
# Needs protoc, protoc-gen-go and protoc-gen-go-grpc on PATH (or in $(go env GOPATH)/bin):
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@latest
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@latest
#
# Usage: examples/proto/gen.sh   (from any directory)
set -euo pipefail

cd "$(dirname "$0")"
PATH="$PATH:$(go env GOPATH)/bin"

protos=(user/user.proto order/order.proto clock/clock.proto)

# Go messages and gRPC stubs, next to each .proto.
protoc -I . \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  "${protos[@]}"

# Descriptor sets for the gateway's "protoset" descriptor source. File names inside are
# relative to this directory ("order/order.proto"), the same names reflection serves and the
# names a gateway compiling the .proto files with import path examples/proto sees.
protoc -I . --include_imports --descriptor_set_out=order.protoset order/order.proto
protoc -I . --include_imports --descriptor_set_out=user.protoset user/user.proto
