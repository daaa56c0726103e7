#!/usr/bin/env bash
# Runs every test: formatting, vet, and the race-enabled suite, which includes
# the end-to-end tests in headless Chromium. scripts/deps.sh installs the
# Debian packages the tests need (Chromium, ...) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed on: $unformatted" >&2
  exit 1
fi
if ! go mod tidy -diff >/dev/null; then
  echo "go.mod or go.sum is not tidy: run go mod tidy" >&2
  exit 1
fi
go vet ./...
go test -race -count=1 -timeout 20m ./...
