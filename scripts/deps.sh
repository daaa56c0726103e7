#!/usr/bin/env bash
# Installs the Debian packages the tests need when their commands are missing.
# One line per command: `need COMMAND PACKAGE...`. Root (as on CI) installs with
# apt-get; anyone else is told what to install.
set -euo pipefail

missing=()
need() {
  local cmd=$1
  shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  missing+=("$@")
}

# The end-to-end tests drive headless Chromium; LIVEROOM_CHROMIUM names another binary.
[ -n "${LIVEROOM_CHROMIUM:-}" ] || need chromium chromium
# Recording tests make VP8/Opus clips, check files and mix them.
need ffprobe ffmpeg
need ffmpeg ffmpeg

# The WordPress plugin's tests: Debian's WordPress on MariaDB and PHP's built-in
# server, PHP_CodeSniffer, node for the block scripts, zip for the plugin package.
need php php-cli php-mysql
command -v php >/dev/null 2>&1 && ! php -r 'exit(extension_loaded("mysqli") ? 0 : 1);' && missing+=(php-mysql)
[ -f /usr/share/wordpress/wp-settings.php ] || missing+=(wordpress)
need mariadbd mariadb-server
need phpcs php-codesniffer
need node nodejs
need zip zip

# HOG=1 scripts/test.sh runs the suite beside a CPU hog.
[ -z "${HOG:-}" ] || need stress-ng stress-ng

# Cluster tests: a real PostgreSQL (initdb/pg_ctl; Debian keeps them in
# /usr/lib/postgresql/<version>/bin, which the tests also search), etcd and HAProxy.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need initdb postgresql
  need pg_ctl postgresql
fi
need etcd etcd-server
need haproxy haproxy

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "The tests need these Debian packages: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
