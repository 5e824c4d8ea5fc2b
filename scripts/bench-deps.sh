#!/bin/sh
# Install what `make bench` needs, only what is missing: the build's own
# packages plus the Redis server of the Redis baseline (scripts/deps.sh
# holds the list and the one install routine).
exec "$(dirname "$0")/deps.sh" --bench
