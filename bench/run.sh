#!/usr/bin/env bash
# make bench: optally end to end against two real baselines (SQLite, Redis)
# and the limits under it (raw ZeroMQ, raw LMDB), on this machine, in one go.
#
#   bench/run.sh [--events N] [--scale] [--rev REV]   (make bench / make bench-10m)
#
# Progress goes to stderr, the table and the ratios to stdout and to
# bench/results/last.txt; every measurement's raw RESULT line is kept in
# bench/results/last.raw. Inputs are generated before anything is timed;
# every data directory lives under build/bench/run on the real disk and is
# removed after its run; every server started here is stopped by its pid
# (otb_e2e and otb_redis do that, and wait for it).
#
# --scale: the 10M run instead (make bench-10m): optally end to end with
# random ids and the start-up over that store; written to
# bench/results/last-10m.txt.
# --rev REV (make bench BENCH_REV=HEAD): measure a committed revision,
# built from `git archive REV` under build/bench/rev with the benchmark
# programs of that revision, instead of the work tree's build (useful while
# the work tree is in flux). Revisions whose bench/ still had a Makefile
# are built with it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
EVENTS=${BENCH_EVENTS:-1000000}
SCALE=0
REV=${BENCH_REV:-}
while [ $# -gt 0 ]; do
  case $1 in
    --events) EVENTS=$2; shift 2 ;;
    --scale) SCALE=1; shift ;;
    --rev) REV=$2; shift 2 ;;
    *) echo "usage: bench/run.sh [--events N] [--scale] [--rev REV]" >&2; exit 64 ;;
  esac
done
[ "$SCALE" = 1 ] && [ -z "${BENCH_EVENTS:-}" ] && EVENTS=10000000

RUN=$BUILD/bench/run
RESULTS=$ROOT/bench/results
mkdir -p "$RUN" "$RESULTS"
say() { echo "bench: $*" >&2; }

# What is measured: the work tree's build, or a committed revision. The
# programs of bench/ are CMake targets of the project (bench/CMakeLists.txt;
# otb_all builds them and optally), so both come from the same sources.
OTBUILD=$BUILD
# (a clean tree makes grep fail: under pipefail that must not end the run)
DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | head -c1 || true)
WHAT="work tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')${DIRTY:+ + local changes}"
# build DIR TARGET: a quiet parallel build; on failure again, with the errors shown.
build() {
  cmake --build "$1" -j "$(nproc)" --target "$2" >/dev/null 2>&1 || cmake --build "$1" --target "$2"
}
if [ -n "$REV" ]; then
  SRC=$BUILD/bench/rev
  say "building optally at $REV in $SRC"
  rm -rf "$SRC" && mkdir -p "$SRC"
  git -C "$ROOT" archive "$REV" | tar -x -C "$SRC"
  cmake -S "$SRC" -B "$SRC/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOPTALLY_TESTS=OFF >/dev/null
  OTBUILD=$SRC/build
  if [ -f "$SRC/bench/CMakeLists.txt" ]; then
    build "$OTBUILD" otb_all
  elif [ -f "$SRC/bench/Makefile" ]; then
    # A revision from before bench/ was built by CMake: its own programs,
    # by its own bench/Makefile, against its build (same command-line
    # options and RESULT lines as today's).
    build "$OTBUILD" optally
    make -s -C "$SRC/bench" BUILD="$OTBUILD" SRC="$SRC" >/dev/null
  else
    say "revision $REV has no bench/ programs to measure it with"
    exit 2
  fi
  WHAT="revision $(git -C "$ROOT" rev-parse --short "$REV")"
else
  if grep -qs '^OPTALLY_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt"; then
    say "$BUILD is a sanitizer build: its figures would be meaningless; set BUILD to another directory"
    exit 2
  fi
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  build "$BUILD" otb_all
fi
BIN=$OTBUILD/bench
OPTALLY=$OTBUILD/optally

# ---- where the data goes: the real disk, never tmpfs ----------------------
fstype=$(df -PT "$RUN" | awk 'NR==2 {print $2}')
avail_kb=$(df -Pk "$RUN" | awk 'NR==2 {print $4}')
if [ "$fstype" = tmpfs ] || [ "$fstype" = ramfs ]; then
  say "$RUN is on $fstype: durable figures would be meaningless; set BUILD to a disk path"
  exit 2
fi
need_kb=$((EVENTS * 3))   # ~3 KB per event at the peak (inputs + the largest store)
if [ "$avail_kb" -lt "$need_kb" ]; then
  say "not enough disk under $RUN: $((avail_kb / 1024)) MiB free, need about $((need_kb / 1024)) MiB"
  exit 2
fi
rm -rf "${RUN:?}"/*
RAW=$RESULTS/last.raw
[ "$SCALE" = 1 ] && RAW=$RESULTS/last-10m.raw
: > "$RAW"
EP=ipc://$RUN/ingest.sock

# Run one measurement; keep its RESULT line. A failed check stops the run.
measure() {
  local out
  if ! out=$("$@"); then
    say "FAILED: $*"
    echo "$out" >&2
    exit 1
  fi
  echo "$out" | grep '^RESULT' >> "$RAW"
  echo "$out" | grep '^RESULT' | cut -f2- | tr '\t' ' ' | cut -c1-200 | sed 's/^/bench:   /' >&2
}
field() {   # field ROW KEY: a value from the raw results
  awk -F'\t' -v row="$1" -v key="$2" '$2 == row { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == key) v = kv[2] } } END { print v }' "$RAW"
}
fresh() { rm -rf "$RUN/$1" "$RUN/$1".pub "$RUN/$1".snap; echo "$RUN/$1"; }
cleanup_dir() { rm -rf "$RUN/$1" "$RUN/$1".pub "$RUN/$1".snap; }

# Check the consumer's tallies against the generator's: the fold is exact.
check_tallies() {   # DATA EXPECTED
  "$OPTALLY" query --data "$1" --format json | python3 -c '
import json, sys
fields = {"total": [], "country": ["country"], "country,quarter": ["country", "quarter"],
          "country,month": ["country", "month"], "country,partner_force": ["country", "partner_force"]}
got = {}
for line in sys.stdin:
    r = json.loads(line)
    key = "/".join([r["view"]] + [r.get(f, "") for f in fields[r["view"]]])
    got[key] = [r.get(c, 0) for c in ("events", "operations", "killed", "detained", "wounded")]
want = {}
for line in open(sys.argv[1]):
    k, *v = line.rstrip("\n").rsplit(" ", 5)
    want[k] = [int(x) for x in v]
bad = [k for k in set(got) | set(want) if got.get(k) != want.get(k)]
if bad:
    print("bench: tallies differ from the expected ones for %d keys, e.g. %s: %s vs %s" %
          (len(bad), bad[0], got.get(bad[0]), want.get(bad[0])), file=sys.stderr)
    sys.exit(1)
print("bench:   tallies match the expected ones exactly (%d keys)" % len(want), file=sys.stderr)
' "$2"
}

startup_runs() {   # ROW DATA: three start-ups over an existing store, keep the median
  local row=$1 data=$2 i
  for i in 1 2 3; do
    measure "$BIN/otb_e2e" --optally "$OPTALLY" --data "$data" --ingest "$EP" --name "$row-$i" --startup-only
  done
}

say "events: $EVENTS; optally: $WHAT; data under $RUN ($fstype, $((avail_kb / 1024 / 1024)) GiB free); $(nproc) CPUs"
echo "RESULT	info	what=$WHAT	when=$(date -u +%Y-%m-%dT%H:%MZ)	cpus=$(nproc)	fs=$fstype" >> "$RAW"

# ---- inputs, outside the timed part ---------------------------------------
say "generating inputs"
IN=$RUN/in
mkdir -p "$IN"
if [ "$SCALE" = 1 ]; then
  "$BIN/otb_gen" --n "$EVENTS" --ids random --jsonl "$IN/random.jsonl" --tallies "$IN/random.tallies"
else
  "$BIN/otb_gen" --n "$EVENTS" --ids random --jsonl "$IN/random.jsonl" --bin "$IN/random.bin" \
    --tallies "$IN/random.tallies"
  "$BIN/otb_gen" --n "$EVENTS" --ids ordered --jsonl "$IN/ordered.jsonl" --bin "$IN/ordered.bin" \
    --tallies "$IN/ordered.tallies"
fi
sync

# ---- 1. optally end to end, durable ---------------------------------------
# optally produce -> optally consume with random ids, its tallies checked;
# then start-up over that store, and the id index alone at that size.
e2e_random() {
  D=$(fresh e2e)
  measure "$BIN/otb_e2e" --optally "$OPTALLY" --data "$D" --ingest "$EP" --name e2e-random --produce "$IN/random.jsonl"
  check_tallies "$D" "$IN/random.tallies"
  say "    start-up of optally consume over that store (3 times)"
  startup_runs startup "$D"
  cleanup_dir e2e
  say "    the in-memory id index alone, $(field e2e-random distinct) ids (its growth pauses)"
  measure "$BIN/otb_idindex" --n "$(field e2e-random distinct)" --name idindex
}

if [ "$SCALE" = 1 ]; then
  say "optally end to end, random ids, $EVENTS events (optally produce -> optally consume)"
  e2e_random
  rm -rf "$IN" "$RUN/ingest.sock"
  "$ROOT/bench/report.sh" "$RAW" --scale | tee "$RESULTS/last-10m.txt"
  exit 0
fi

say "1/5 optally end to end, random ids (optally produce JSON Lines -> optally consume, durable)"
e2e_random

say "    optally end to end, time-ordered ids"
D=$(fresh e2e)
measure "$BIN/otb_e2e" --optally "$OPTALLY" --data "$D" --ingest "$EP" --name e2e-ordered --produce "$IN/ordered.jsonl"
check_tallies "$D" "$IN/ordered.tallies"
cleanup_dir e2e

say "    optally, random ids, C driver (the producer library, 1000 per batch, 8 in flight): the consumer's maximum"
D=$(fresh e2e)
measure "$BIN/otb_e2e" --optally "$OPTALLY" --data "$D" --ingest "$EP" --name e2e-driver --drive "$IN/random.bin" --batch 1000 --window 8
cleanup_dir e2e

say "    the same with 100 events per batch, 64 in flight (the latency run's batch size): its maximum"
D=$(fresh e2e)
measure "$BIN/otb_e2e" --optally "$OPTALLY" --data "$D" --ingest "$EP" --name e2e-driver100 --drive "$IN/random.bin" --batch 100 --window 64
cleanup_dir e2e

max=$(field e2e-driver100 evps)
half=$(awk -v m="$max" 'BEGIN { printf "%d", m / 2 }')
say "    ack latency at half that rate ($half events/s, batches of 100, open loop)"
D=$(fresh e2e)
measure "$BIN/otb_e2e" --optally "$OPTALLY" --data "$D" --ingest "$EP" --name e2e-latency --drive "$IN/random.bin" --batch 100 --window 1024 --rate "$half"
cleanup_dir e2e

# ---- 2. baselines ---------------------------------------------------------
say "2/5 SQLite WAL synchronous=FULL, transactions of 1000, random ids"
D=$(fresh sqlite); mkdir -p "$D"
measure "$BIN/otb_sqlite" --db "$D/bench.db" --events "$IN/random.bin" --txn 1000 --name sqlite-random
cleanup_dir sqlite
say "    SQLite, time-ordered ids"
D=$(fresh sqlite); mkdir -p "$D"
measure "$BIN/otb_sqlite" --db "$D/bench.db" --events "$IN/ordered.bin" --txn 1000 --name sqlite-ordered
cleanup_dir sqlite

REDIS=$(command -v redis-server || echo /usr/bin/redis-server)
for fs in everysec always; do
  say "3/5 Redis $("$REDIS" --version | sed 's/.*v=\([^ ]*\).*/\1/') + Lua, pipelined 1000, AOF appendfsync $fs, random ids"
  D=$(fresh redis); mkdir -p "$D"
  measure "$BIN/otb_redis" --server "$REDIS" --dir "$D" --fsync $fs --events "$IN/random.bin" --pipeline 1000 --name redis-$fs
  cleanup_dir redis
done

# ---- 3. limits ------------------------------------------------------------
say "4/5 raw ZeroMQ, tcp loopback, the same messages"
measure "$BIN/otb_zmq" --events "$IN/random.bin" --per-frame 1 --name zmq-1
measure "$BIN/otb_zmq" --events "$IN/random.bin" --per-frame 100 --name zmq-100

# LogRecord bytes: the event plus seq, receive time and producer identity.
vsize=$(( $(awk '$1 == "avg_bytes" {print $2}' "$IN/random.bin.meta") + 20 ))
commits=$(field e2e-ordered txns)
match=$(awk -v n="$EVENTS" -v c="$commits" 'BEGIN { m = c > 0 ? int(n / c + 0.5) : 1000; print m < 1 ? 1 : m }')
say "5/5 raw LMDB appends, durable, $vsize-byte values (commit every 1000, 10000, and $match as optally's time-ordered run did)"
for spec in lmdb-c1000:1000 lmdb-c10000:10000 "lmdb-match:$match"; do
  D=$(fresh lmdb)
  measure "$BIN/otb_lmdb" --dir "$D" --n "$EVENTS" --value-size "$vsize" --commit "${spec#*:}" --name "${spec%%:*}"
  cleanup_dir lmdb
done
for ids in random ordered; do
  say "    raw LMDB appends + a B-tree id index of 16-byte $ids ids, commit every 1000"
  D=$(fresh lmdb)
  measure "$BIN/otb_lmdb" --dir "$D" --n "$EVENTS" --value-size "$vsize" --commit 1000 --ids $ids --name lmdb-btree-$ids
  cleanup_dir lmdb
done

rm -rf "$IN" "$RUN/ingest.sock"
"$ROOT/bench/report.sh" "$RAW" | tee "$RESULTS/last.txt"
