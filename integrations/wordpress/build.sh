#!/usr/bin/env bash
# Builds liveroom.zip, the WordPress plugin as WordPress's "Upload Plugin" takes it
# (one folder, liveroom/, at the top of the archive). Prints the zip's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/dist/liveroom.zip}
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
rm -f "$out"
command -v zip >/dev/null || { echo "build.sh needs zip (apt-get install zip)" >&2; exit 1; }
for f in $(cd "$here" && find liveroom -name '*.php'); do
  if command -v php >/dev/null; then php -l "$here/$f" >/dev/null; fi
done
(cd "$here" && zip -q -r -X "$out" liveroom -x '*/.*')
echo "$out"
