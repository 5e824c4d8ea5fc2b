#!/bin/bash
# bench/compare.sh: optally end to end, the work tree beside a committed
# revision, in one run on the same inputs (make bench-compare BENCH_REV=X).
#
#   bench/compare.sh --rev REV [--events N] [--rounds K]
#
# Both builds are RelWithDebInfo. Each round runs, for the baseline then the
# work tree, the JSON path (optally produce -> consume, durable, random ids)
# and the driver path (pre-packed protobuf -> consume): interleaving rounds
# spreads the noise of a shared machine over both. Prints the median of each
# and the ratio work tree / baseline. What a change costs is that ratio, not
# an absolute figure (docs/PERFORMANCE.md).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
REV=""; EVENTS=300000; ROUNDS=3
while [ $# -gt 0 ]; do
  case $1 in
    --rev) REV=$2; shift 2 ;;
    --events) EVENTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -h|--help) sed -n 2,12p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: bench/compare.sh --rev REV [--events N] [--rounds K]" >&2; exit 64 ;;
  esac
done
[ -n "$REV" ] || { echo "bench/compare.sh: --rev REV is required (e.g. --rev HEAD~3)" >&2; exit 64; }
say() { echo "compare: $*" >&2; }
build() { cmake --build "$1" -j "$(nproc)" --target "$2" >/dev/null 2>&1 || cmake --build "$1" --target "$2"; }

RUN=$BUILD/bench/compare
rm -rf "$RUN" && mkdir -p "$RUN"
say "building the work tree in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
build "$BUILD" otb_all
SRC=$RUN/rev
say "building $REV in $SRC"
mkdir -p "$SRC"
git -C "$ROOT" archive "$REV" | tar -x -C "$SRC"
cmake -S "$SRC" -B "$SRC/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOPTALLY_TESTS=OFF >/dev/null
build "$SRC/build" otb_all

IN=$RUN/in
mkdir -p "$IN"
# The baseline's generator: inputs that both builds accept.
"$SRC/build/bench/otb_gen" --n "$EVENTS" --ids random --jsonl "$IN/random.jsonl" --bin "$IN/random.bin" \
  --tallies "$IN/random.tallies" >/dev/null
sync
EP=ipc://$RUN/ingest.sock
RAW=$RUN/raw
: > "$RAW"
one() {   # NAME BUILDDIR MODE-ARGS...
  local name=$1 b=$2; shift 2
  rm -rf "$RUN/data"
  "$b/bench/otb_e2e" --optally "$b/optally" --data "$RUN/data" --ingest "$EP" --name "$name" "$@" \
    | grep '^RESULT' >> "$RAW"
}
for r in $(seq 1 "$ROUNDS"); do
  say "round $r/$ROUNDS"
  for side in base work; do
    b=$BUILD; [ $side = base ] && b=$SRC/build
    one "$side-json" "$b" --produce "$IN/random.jsonl"
    one "$side-driver" "$b" --drive "$IN/random.bin" --batch 1000 --window 8
  done
done
python3 - "$RAW" "$REV" "$EVENTS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
    rows.setdefault(f[1], []).append(kv)
def med(name, key):
    vals = [float(r[key]) for r in rows.get(name, []) if key in r]
    return statistics.median(vals) if vals else float("nan")
print("optally work tree vs %s, %s events, durable, random ids (median of %d rounds)"
      % (sys.argv[2], sys.argv[3], len(rows.get("work-json", []))))
n = float(sys.argv[3])
for rr in rows.values():
    for r in rr:   # consumer CPU per event, the figure issue 15 targets
        if "cpu_consumer_s" in r:
            r["consumer_us_per_event"] = str(float(r["cpu_consumer_s"]) * 1e6 / n)
keys = [k for k in ("evps", "consumer_us_per_event", "p99_ms", "rss_anon_end_kb")
        if any(k in r for rr in rows.values() for r in rr)]
print("%-8s %-28s %14s %14s %8s" % ("path", "figure", "baseline", "work tree", "ratio"))
for path in ("json", "driver"):
    for k in keys:
        b, w = med("base-" + path, k), med("work-" + path, k)
        print("%-8s %-28s %14.2f %14.2f %8.3f" % (path, k, b, w, w / b if b else float("nan")))
PY
