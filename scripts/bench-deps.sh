#!/bin/sh
# Install what `make bench` needs beyond the build's own packages
# (scripts/deps.sh): the two baselines (SQLite's C library, Redis 7 and its
# C client) and python3 for the tally check; only those missing (Debian 12,
# as root or with sudo). Installing redis-server may start Debian's own
# service; the benchmark never uses it (it starts its own on a free port).
set -eu
PKGS="libsqlite3-dev redis-server libhiredis-dev python3"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "optally bench: installing missing packages:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
