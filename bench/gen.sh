#!/usr/bin/env bash
# Regenerates bench/benchpb from bench/proto. The output is committed, so running the benchmark
# needs no protoc; run this only after changing bench.proto or bench.yaml.
#
# Needs protoc and, on PATH (go install ...@version):
#   google.golang.org/protobuf/cmd/protoc-gen-go
#   google.golang.org/grpc/cmd/protoc-gen-go-grpc
#   github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$(go env GOPATH)/bin:$PATH"
protoc -I proto \
  --go_out=benchpb --go_opt=paths=source_relative \
  --go-grpc_out=benchpb --go-grpc_opt=paths=source_relative \
  --grpc-gateway_out=benchpb --grpc-gateway_opt=paths=source_relative \
  --grpc-gateway_opt=grpc_api_configuration=proto/bench.yaml \
  proto/bench.proto
gofmt -l benchpb
