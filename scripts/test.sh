#!/usr/bin/env bash
# Runs every test: formatting, vet, and the race-enabled suite, which includes
# the end-to-end tests in headless Chromium. scripts/deps.sh installs the
# Debian packages the tests need (Chromium, ...) when they are missing.
#
# HOG=1 runs the suite beside a CPU hog (stress-ng with one worker per CPU,
# or HOG_CPUS workers), the way a busy CI machine treats it: tests must not
# depend on how fast the machine is.
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
if [ -n "${HOG:-}" ]; then
  stress-ng --cpu "${HOG_CPUS:-$(nproc)}" --quiet &
  hog=$!
  trap 'kill "$hog" 2>/dev/null; wait "$hog" 2>/dev/null || true' EXIT
  echo "running beside stress-ng --cpu ${HOG_CPUS:-$(nproc)} (pid $hog)" >&2
fi
go test -race -count=1 -timeout 40m ./...
