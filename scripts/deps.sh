#!/bin/sh
# Install the Debian packages optally needs, but only those missing (a
# fresh Debian 12 machine, as root or with sudo). The one install routine
# of the project: scripts/bench-deps.sh calls it with --bench.
#
#   scripts/deps.sh           build, test and demo (the benchmark programs
#                             of bench/ are compiled with everything else,
#                             so their client libraries are here too)
#   scripts/deps.sh --bench   also what only running `make bench` needs:
#                             redis-server (the Redis baseline). Installing
#                             it may start Debian's own service; the
#                             benchmark never uses it (it starts its own on
#                             a free port).
set -eu
PKGS="build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
      liblmdb-dev libcjson-dev libcmocka-dev protobuf-compiler python3 python3-zmq
      python3-protobuf python3-lmdb lmdb-utils clang libclang-rt-dev
      libsqlite3-dev libhiredis-dev help2man dpkg-dev lintian"
WHAT="optally"
case ${1:-} in
  "") ;;
  --bench) PKGS="$PKGS redis-server"; WHAT="optally bench" ;;
  *) echo "usage: scripts/deps.sh [--bench]" >&2; exit 64 ;;
esac
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "$WHAT: installing missing packages:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
