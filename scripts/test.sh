#!/usr/bin/env bash
# Runs every test: formatting, vet, and the race-enabled suite, which includes
# the end-to-end tests in headless Chromium. Installs Chromium with apt-get
# when it is missing and we are root (as on CI).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${LIVEROOM_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  else
    echo "Chromium is needed for the end-to-end tests: sudo apt-get install -y chromium" >&2
    exit 1
  fi
fi

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed on: $unformatted" >&2
  exit 1
fi
go vet ./...
go test -race -count=1 -timeout 20m ./...
