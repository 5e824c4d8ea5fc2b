#!/bin/sh
# Install the Debian packages optally needs to build, test and demo, but
# only those missing (a fresh Debian 12 machine, as root or with sudo).
set -eu
PKGS="build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
      liblmdb-dev libcjson-dev libcmocka-dev protobuf-compiler python3 python3-zmq
      python3-protobuf python3-lmdb lmdb-utils clang libclang-rt-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "optally: installing missing packages:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
