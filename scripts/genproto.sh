#!/usr/bin/env bash
# Regenerates proto/pb from proto/liveroom.proto.
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-go at the version in go.mod.
set -euo pipefail
cd "$(dirname "$0")/.."
go install google.golang.org/protobuf/cmd/protoc-gen-go
actor_dir=$(go list -m -f '{{.Dir}}' github.com/asynkron/protoactor-go)
PATH="$(go env GOPATH)/bin:$PATH" protoc \
  -I proto -I "$actor_dir" \
  --go_out=proto/pb --go_opt=paths=source_relative \
  --go_opt=Mactor/actor.proto=github.com/asynkron/protoactor-go/actor \
  proto/liveroom.proto
