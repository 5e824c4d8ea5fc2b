#!/usr/bin/python3
"""Crash loop: SIGKILL the consumer again and again while producers stream.

Standalone, full size by default (the issue's figures):

    /usr/bin/python3 tests/crash/crashloop.py --events 200000 --kills 20

(build first; OPTALLY_BIN / OPTALLY_PYPATH / OPTALLY_SRC as for the
integration tests, default build/optally). tests/integration/test_crashloop.py
runs it shortened in ctest (20,000 events, 5 kills), or full size when
OPTALLY_CRASHLOOP_FULL=1.

What happens. gen_events() makes N events in file order (random ids, ~8%
corrected, ~3% retracted, ~5% exact duplicate lines; the seed is printed and
--seed / $OPTALLY_TEST_SEED replays it). They go to two producers at once:
  - `optally produce`, over the input cut into parts, with random --batch
    and --retries (0, 2 or 20): a run that gives up at a kill (exit 2) is
    re-run on its whole part (dedup makes re-sends safe) until it exits 0;
  - a "witness" (otharness.AckClient, a DEALER in a thread) for ~10% of the
    event_ids, which keeps every answer with its log seq and resends until
    every batch is answered.
Meanwhile the consumer (durable: fsync at every commit, unless --nosync) is
killed with SIGKILL at K random moments, each when the log has reached a
random point of the stream (read with mdb_stat), and restarted on the same
data directory. Some kills come right after a restart (while the id index is
rebuilt or the first commits run).

What must hold at the end:
  1. every produce run ended 0 with nothing rejected, the witness got an
     answer for every batch, and all K kills happened mid-stream;
  2. every tally equals the model's fold of the input (no loss, no double
     count), and `optally rejects` is empty, before anything is re-sent;
  3. re-sending everything stores nothing new (STORED/SUPERSEDED 0): no
     acknowledged event was lost;
  4. the log (read with mdb_dump, and with `optally log export`) holds
     each (event_id, revision) at most once, only what was sent, the
     current revision of every event, and at each seq the witness was
     told (STORED/SUPERSEDED/DUPLICATE) exactly that event; the fold of
     the log equals the tallies;
  5. `optally rebuild --check` exits 0;
  6. the last consumer stops cleanly (exit 0) and the tallies still match.
Exit 0 and a figures line, or 1 with the failure.
"""

import argparse
import os
import random
import sys
import threading
import time
import zlib

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "integration"))

import otharness as h  # noqa: E402

WITNESS_SHARE = 10          # one event_id in WITNESS_SHARE goes to the witness
PARTS = 8                   # produce input cut into this many parts
WITNESS_CHUNKS = 50         # the witness sends its share in this many steps


class Producers:
    """The two producers, each in its own thread; failures are kept and
    re-raised by check()."""

    def __init__(self, rng, data, ep, parts, witness_events, top):
        self.rng, self.data, self.ep, self.parts, self.top = rng, data, ep, parts, top
        self.witness = h.AckClient(ep, batch=20, window=4, timeout_ms=1500)
        self.witness_events = witness_events
        self.errors = []
        self.produce_runs = []  # (part, attempt, rc, summary line)
        self.done_produce = threading.Event()
        self.done_witness = threading.Event()
        self.threads = [threading.Thread(target=self._guard, args=(self._produce, self.done_produce)),
                        threading.Thread(target=self._guard, args=(self._witness, self.done_witness))]

    def start(self):
        for t in self.threads:
            t.start()

    def _guard(self, fn, done):
        try:
            fn()
        except BaseException as e:  # noqa: B902 - re-raised in check()
            self.errors.append(e)
        finally:
            done.set()

    def _produce(self):
        for n, part in enumerate(self.parts, 1):
            for attempt in range(1, 61):
                # Few retries make some runs give up (exit 2) at a kill and
                # run again; many make others ride through the restart.
                batch = self.rng.choice(["1", "10", "100", "1000"])
                retries = self.rng.choice(["0", "2", "20"])
                rc, out, err = h.run_produce(["--to", self.ep, "--batch", batch, "--timeout-ms", "1000",
                                              "--retries", retries, "--quiet", part], timeout=600)
                self.produce_runs.append((n, attempt, rc, out.strip()))
                h.log("produce part %d/%d attempt %d (--batch %s --retries %s): exit %d" % (
                    n, len(self.parts), attempt, batch, retries, rc))
                if rc in (0, 1):
                    break
            assert rc == 0, "produce of part %d: exit %d after %d attempts, want 0\n%s%s" % (
                n, rc, attempt, out, err[-2000:])
            got = h.parse_summary(out)
            nlines = len(h.read_jsonl(part))
            assert got["rejected"] == 0 and sum(got.values()) == nlines, \
                "produce of part %d: summary %r for %d lines" % (n, got, nlines)

    def _witness(self):
        """Spread over the whole stream: chunk j goes out once the log has
        reached j/WITNESS_CHUNKS of the expected size (or produce is done),
        so the witness has batches in flight at the kills too."""
        ev = self.witness_events
        for j in range(WITNESS_CHUNKS):
            while (not self.done_produce.is_set() and
                   h.log_entries(self.data) < j * self.top // WITNESS_CHUNKS):
                time.sleep(0.02)
            self.witness.submit(ev[j * len(ev) // WITNESS_CHUNKS:(j + 1) * len(ev) // WITNESS_CHUNKS])
            assert self.witness.pump(900), "witness: %d events still unanswered after 900 s" % (
                len(self.witness.unanswered()))

    def finished(self):
        return self.done_produce.is_set() and self.done_witness.is_set()

    def check(self):
        for t in self.threads:
            t.join()
        if self.errors:
            raise self.errors[0]


def run(n_events, kills, seed=None, nosync=False, label="crash loop"):
    """The whole crash loop; raises AssertionError on a failure. Returns
    the figures as a dict."""
    if seed is None:
        seed = h.seed_from_env()
    else:
        h.log("random seed %d" % seed)
    rng = random.Random(seed)
    t_start = time.monotonic()
    events = h.gen_events(rng, n_events)
    model = h.Model()
    counts, _ = model.apply_all(events, check=False)
    inputs = {}
    for e in events:
        inputs[(e["event_id"], int(e.get("revision", 0)))] = h.content(e)
    def to_witness(e):
        return zlib.crc32(e["event_id"].encode()) % WITNESS_SHARE == 0
    witness_events = [e for e in events if to_witness(e)]
    produce_events = [e for e in events if not to_witness(e)]
    h.log("%s: %d events (%d distinct revisions; %r), %d via optally produce, %d via the witness; "
          "%d kills; %s consumer" % (label, len(events), len(inputs), counts, len(produce_events),
                                     len(witness_events), kills, "--nosync" if nosync else "durable"))
    extra = ["--quiet"] + (["--nosync"] if nosync else [])

    with h.tempdir("ot-crashloop-") as tmp:
        whole = os.path.join(tmp, "produce.jsonl")
        h.write_jsonl(whole, produce_events)
        parts = []
        for i in range(PARTS):
            parts.append(os.path.join(tmp, "part%d.jsonl" % i))
            h.write_jsonl(parts[-1], produce_events[i * len(produce_events) // PARTS:
                                                    (i + 1) * len(produce_events) // PARTS])
        data = os.path.join(tmp, "data")
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep, extra)

        # Kill points: when the log reaches these entry counts (spread over
        # the stream; a few kills instead come right after a restart).
        # Revisions that arrive after a higher one are STALE and never
        # logged, so aim below the number of distinct revisions.
        top = int(len(inputs) * 0.85)
        points = sorted(rng.randint(top // 50, top) for _ in range(kills))
        prod = Producers(random.Random(seed + 1), data, ep, parts, witness_events, top)
        prod.start()
        done_kills = []
        try:
            k = 0
            while k < kills:
                if prod.finished():
                    break
                early = k > 0 and rng.random() < 0.2
                if early:
                    time.sleep(rng.uniform(0.0, 0.3))   # right after the restart
                else:
                    target = points[k]
                    while not prod.finished() and h.log_entries(data) < target:
                        time.sleep(0.02)
                    if prod.finished():
                        break
                    time.sleep(rng.uniform(0.0, 0.05))
                n_log = h.log_entries(data)
                c.kill()
                k += 1
                done_kills.append(n_log)
                h.log("kill %d/%d: SIGKILL at %d log entries%s" % (
                    k, kills, n_log, " (right after a restart)" if early else ""))
                c = h.Consumer(data, ep, extra)
        except BaseException:
            prod.witness.close()
            raise
        h.log("kills done: %d; waiting for the producers" % len(done_kills))
        prod.check()
        runs = prod.produce_runs
        h.log("produce runs: %d (%d re-run after exit 2); witness: %d sends, %d replies, %d late" % (
            len(runs), sum(1 for r in runs if r[2] == 2), prod.witness.sends, prod.witness.replies,
            prod.witness.late))
        assert len(done_kills) == kills, \
            "only %d of %d kills happened while the producers were streaming (seed %d): " \
            "the stream ended first" % (len(done_kills), kills, seed)
        assert c.alive(), "consumer died on its own; stderr:\n%s" % c.stderr()

        # 2. Tallies and rejects, as the stream left them: every event has
        # been answered, so they must equal the model already (checked
        # before the re-send, which must not be what makes them right).
        h.assert_tallies(data, model, "%s (seed %d)" % (label, seed))
        rows = h.rejects(data)
        assert rows == [], "rejects after the crash loop (seed %d): %r" % (seed, rows[:5])

        # 3. Nothing acknowledged was lost: a full re-send stores nothing.
        rc, out, err = h.run_produce(["--to", ep, "--quiet", whole], timeout=600)
        assert rc == 0, "final produce: exit %d\n%s%s" % (rc, out, err[-2000:])
        got = h.parse_summary(out)
        assert got["stored"] == 0 and got["superseded"] == 0 and got["rejected"] == 0, \
            "re-sending every line after the crash loop stored new events (an acknowledged " \
            "event was lost, or dedup failed; seed %d): %r" % (seed, got)
        again = h.AckClient(ep, batch=200)
        again.submit(witness_events)
        assert again.pump(300), "witness re-send not answered"
        new = [a for a in again.ack_list() if a[2] in ("STORED", "SUPERSEDED")]
        assert not new, "re-sending the witness events stored %d again (seed %d), e.g. %r" % (
            len(new), seed, new[:3])
        acks = prod.witness.ack_list() + again.ack_list()
        prod.witness.close()
        again.close()

        # 4. The log: each acknowledged event exactly once.
        log_rows = h.mdb_log(data)
        h.check_log(log_rows, inputs, acks, model, "log (mdb_dump, seed %d)" % seed)
        exported = h.log_export(data, tmp)
        h.check_log(exported, inputs, acks, model, "optally log export (seed %d)" % seed)
        a = [(s, r.event.event_id, r.event.revision) for s, r in exported]
        b = [(s, r.event.event_id, r.event.revision) for s, r in log_rows]
        assert a == b, "optally log export differs from mdb_dump's log (%d vs %d records)" % (len(a), len(b))
        js = h.log_export(data, tmp, "json")
        c_ = [(s, r.event.event_id, r.event.revision) for s, r in js]
        assert c_ == b, "optally log export --format json differs from mdb_dump's log"
        h.log("optally log export (pb and json): %d records each, same as mdb_dump" % len(exported))

        # 5. rebuild --check.
        rb = h.rebuild_check(data)
        assert rb[0] == 0, "optally rebuild --check: exit %d (want 0)\n%s%s" % rb
        h.log("optally rebuild --check: exit 0")

        # 6. Clean stop, same tallies.
        c.stop()
        h.assert_tallies(data, model, "%s, after stop (seed %d)" % (label, seed))
        figures = {"seed": seed, "events": len(events), "revisions": len(inputs),
                   "kills": len(done_kills), "log_entries": len(log_rows),
                   "witness_acks": len(acks), "produce_runs": len(runs),
                   "seconds": round(time.monotonic() - t_start, 1)}
        h.log("%s figures: %r" % (label, figures))
        return figures


def expect_failure(regex, n_events, kills, seed, nosync, overcount=False):
    """Run the crash loop against a broken build (e.g. optally_broken_nodedup)
    and pass only when it fails for the expected reason: that shows the
    crash loop can fail (STYLE 9). overcount: the failure must also show
    the total tally of events above the model's (counted twice)."""
    import ast
    import re
    h.log("BROKEN VARIANT (%s): the crash loop is expected to FAIL with /%s/%s" % (
        h.BIN, regex, " and an over-count" if overcount else ""))
    try:
        run(n_events, kills, seed, nosync, label="crash loop (broken variant)")
    except AssertionError as e:
        msg = str(e)
        assert re.search(regex, msg), "the crash loop failed, but not with /%s/:\n%s" % (regex, msg)
        if overcount:
            m = re.search(r"^  total -: got (\{.*?\}), want (\{.*?\})$", msg, re.M)
            assert m, "the crash loop failed, but its message shows no total row:\n%s" % msg[:3000]
            got, want = ast.literal_eval(m.group(1)), ast.literal_eval(m.group(2))
            assert got and want and got["events"] > want["events"], \
                "the crash loop failed, but the total is not over-counted (got %r, want %r)" % (got, want)
        h._cleanup()
        h.log("as expected, the crash loop caught the broken build:\n%s" % msg[:2000])
        return
    raise AssertionError("the crash loop PASSED against the broken build %s: it cannot see the "
                         "defect it exists to catch" % h.BIN)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=200000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--nosync", action="store_true", help="consumer without fsync (faster, same crash safety "
                                                            "against SIGKILL; not against power loss)")
    ap.add_argument("--expect-failure", metavar="REGEX", default=None,
                    help="for a deliberately broken build: exit 0 only when the crash loop fails "
                         "with a message matching REGEX (it can see the defect), 1 otherwise")
    ap.add_argument("--expect-overcount", action="store_true",
                    help="with --expect-failure: the failure must show the total tally above the model")
    args = ap.parse_args()
    if args.expect_failure is None:
        h.main(lambda: run(args.events, args.kills, args.seed, args.nosync))
    else:
        h.main(lambda: expect_failure(args.expect_failure, args.events, args.kills, args.seed, args.nosync,
                                      args.expect_overcount))


if __name__ == "__main__":
    main()
