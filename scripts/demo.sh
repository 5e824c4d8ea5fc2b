#!/bin/sh
# The demo pipeline on bundled data: a consumer on a fresh data directory,
# the seed's 94 Q1-2024 events, then the release itself as published (its
# period totals and point-in-time figures) set beside them (reconcile,
# difference 0) and its figures, then a file of re-sends, a correction, a
# retraction and invalid events, then one raid reported by two sources and a
# disagreement; prints tallies and rejects; stops cleanly.
set -eu
BIN=${1:-build/optally}
DATA=$(mktemp -d /tmp/optally-demo.XXXXXX)
PORT=${OPTALLY_DEMO_PORT:-7710}
EP="tcp://127.0.0.1:$PORT"
PUB="tcp://127.0.0.1:$((PORT + 1))"
SNAP="tcp://127.0.0.1:$((PORT + 2))"
SUBLOG="$DATA.subscriber.jsonl"
LOG="$DATA.consumer.log"
cleanup() {
  [ -n "${SUBPID:-}" ] && kill "$SUBPID" 2>/dev/null
  [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null
  true
}
trap cleanup EXIT

echo "== optally demo: consumer on $EP, data in $DATA/store"
echo "   (source ranking CENTCOM,SDF: of two reports of one incident, CENTCOM's counts)"
"$BIN" consume --data "$DATA/store" --ingest "$EP" --publish "$PUB" --snapshot "$SNAP" \
  --source-rank CENTCOM,SDF 2>"$LOG" &
PID=$!
i=0
until grep -q ready "$LOG" 2>/dev/null; do
  i=$((i + 1))
  if [ $i -gt 100 ] || ! kill -0 "$PID" 2>/dev/null; then
    echo "consumer did not start:"; cat "$LOG"; exit 2
  fi
  sleep 0.1
done

# A live subscriber to the country,quarter view, running beside the producer.
"$BIN" subscribe --from "$PUB,$SNAP" --view country,quarter --format json >"$SUBLOG" 2>"$SUBLOG.err" &
SUBPID=$!
i=0
until grep -q snapshot_end "$SUBLOG" 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 100 ] && { echo "subscriber did not start:"; cat "$SUBLOG.err"; exit 2; }
  sleep 0.1
done
echo "   subscriber following country,quarter (JSON Lines in $SUBLOG)"

echo
echo "== 1. produce data/centcom-q1-2024.jsonl (94 partnered missions, Jan-Mar 2024)"
"$BIN" produce --to "$EP" data/centcom-q1-2024.jsonl
echo
echo "== tallies by country and quarter (seed: IQ 66 ops, 11 killed, 36 detained; SY 28, 7, 27)"
"$BIN" query --data "$DATA/store" --view country,quarter
"$BIN" query --data "$DATA/store" --view country,quarter --format json > "$DATA/q1.json"
grep -q '"country":"IQ","quarter":"2024-Q1","events":66,"operations":66,"killed":11,"detained":36' "$DATA/q1.json" &&
grep -q '"country":"SY","quarter":"2024-Q1","events":28,"operations":28,"killed":7,"detained":27' "$DATA/q1.json" ||
  { echo "demo: tallies do not match the seed's published figures"; exit 1; }
echo "   (matches the published figures)"

echo
echo "== 2. produce data/centcom-q1-2024-release.jsonl (the release as published: 3 aggregates, 3 figures)"
"$BIN" produce --to "$EP" data/centcom-q1-2024-release.jsonl
echo
echo "== reported (the release's totals) beside observed (the operations), by country and quarter"
"$BIN" reconcile --data "$DATA/store" --view country,quarter
"$BIN" reconcile --data "$DATA/store" --view country,quarter --format json > "$DATA/rec.json"
# The reported side is the release's own figures, the observed side the
# operation-level file's sums: every counter but events (one aggregate
# against 66 operations) differs by 0.
for row in \
  '"country":"IQ","quarter":"2024-Q1","reported":{"events":1,"operations":66,"killed":11,"detained":36,"wounded":0,"killed_low":11,"killed_high":11},"observed":{"events":66,"operations":66,"killed":11,"detained":36,"wounded":0,"killed_low":11,"killed_high":11},"difference":{"events":65,"operations":0,"killed":0,"detained":0,"wounded":0,"killed_low":0,"killed_high":0},"aggregates":["centcom-2024q1-dis-iq"]}' \
  '"country":"SY","quarter":"2024-Q1","reported":{"events":1,"operations":28,"killed":7,"detained":27,"wounded":0,"killed_low":7,"killed_high":7},"observed":{"events":28,"operations":28,"killed":7,"detained":27,"wounded":0,"killed_low":7,"killed_high":7},"difference":{"events":27,"operations":0,"killed":0,"detained":0,"wounded":0,"killed_low":0,"killed_high":0},"aggregates":["centcom-2024q1-dis-sy"]}' \
  '{"view":"country,quarter","unplaced":["centcom-2024q1-dis"]}'; do
  grep -qF "$row" "$DATA/rec.json" ||
    { echo "demo: reconcile does not show the release beside the operations with difference 0:"; cat "$DATA/rec.json"; exit 1; }
done
echo "   (difference 0 for IQ and SY 2024-Q1; the theatre-wide total names two countries,"
echo "    so no key of this view is its own: it is listed as unplaced)"
echo
echo "== the same in the total view: the theatre-wide 94 counts, its Iraq and Syria parts are its breakdown"
"$BIN" reconcile --data "$DATA/store" --view total
"$BIN" reconcile --data "$DATA/store" --check-parts
echo
echo "== the release's point-in-time figures (never summed; the latest of each metric, scope, source)"
"$BIN" figures --data "$DATA/store"
n=$("$BIN" figures --data "$DATA/store" --format json | grep -c '"source":"CENTCOM"')
[ "$n" = 3 ] || { echo "demo: figures shows $n of the release's 3 figures"; exit 1; }

echo
echo "== 3. produce data/centcom-q1-2024-updates.jsonl (re-sends, a correction, a retraction, invalid events)"
set +e
"$BIN" produce --to "$EP" data/centcom-q1-2024-updates.jsonl
rc=$?
set -e
echo "   (produce exit code $rc: 1 means some events were rejected, as this file intends)"
echo
echo "== tallies after the updates"
"$BIN" query --data "$DATA/store" --view country,quarter
"$BIN" query --data "$DATA/store" --view total
echo
echo "== 4. produce data/incidents-example.jsonl (two raids, each reported by CENTCOM and by the SDF)"
"$BIN" produce --to "$EP" data/incidents-example.jsonl
echo
echo "== tallies: each raid counts once (SY 2024-Q2: 2 operations, CENTCOM's counts where they differ)"
"$BIN" query --data "$DATA/store" --view country,quarter
"$BIN" query --data "$DATA/store" --view country,quarter --format json > "$DATA/q2.json"
grep -qF '"country":"SY","quarter":"2024-Q2","events":2,"operations":2,"killed":1,"detained":3,"wounded":0,"killed_low":1,"killed_high":1}' "$DATA/q2.json" ||
  { echo "demo: the incidents are not counted once each, with CENTCOM's counts"; cat "$DATA/q2.json"; exit 1; }
echo
echo "== incidents whose reports disagree (* the counted report)"
"$BIN" disagreements --data "$DATA/store"
echo
echo "== 5. a view declared at run time, filled by the running consumer: killed per partner force per"
echo "      month in Syria, CENTCOM only"
"$BIN" view add syria_pf_month --data "$DATA/store" --group-by partner_force,month \
  --where country=SY --where source=CENTCOM
"$BIN" query --data "$DATA/store" --view syria_pf_month
echo
echo "== where one of its numbers comes from (the first 3 events, then their sum = the tally)"
"$BIN" explain --data "$DATA/store" --view syria_pf_month --key partner_force=SDF,month=2024-02 --limit 3
"$BIN" explain --data "$DATA/store" --view syria_pf_month --key partner_force=SDF,month=2024-02 \
  --format json > "$DATA/explain.json"
want=$("$BIN" query --data "$DATA/store" --view syria_pf_month --format json --quiet |
  grep '"partner_force":"SDF","month":"2024-02"' | sed 's/.*"events":\([0-9]*\),.*/\1/')
tail -1 "$DATA/explain.json" | grep -q "\"events\":$want}" ||
  { echo "demo: explain does not add up to the tally ($want events)"; tail -1 "$DATA/explain.json"; exit 1; }
echo
echo "== what it said as of log seq 80 (mid-February of the base file), and the store's state"
"$BIN" query --data "$DATA/store" --view syria_pf_month --as-of-seq 80
"$BIN" status --data "$DATA/store"
echo
echo "== what the live subscriber printed meanwhile (snapshot, then each committed change)"
sleep 0.5
kill -TERM "$SUBPID"; wait "$SUBPID" || true; SUBPID=
cat "$SUBLOG"
echo
echo "== rejects kept in the store, with reasons"
"$BIN" rejects --data "$DATA/store"
echo
echo "== stopping the consumer (SIGTERM drains and exits 0)"
kill -TERM "$PID"
wait "$PID"
PID=
echo "   consumer exited cleanly; data kept in $DATA/store"
