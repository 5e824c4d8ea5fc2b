#!/usr/bin/python3
"""Live subscriptions: subscribers that join in the middle of a stream end
with exactly the query's tallies, and print a gap-free stream.

100,000 events (random ids, duplicates, corrections, retractions; seed
printed, $OPTALLY_TEST_SEED repeats it; $OPTALLY_SUB_EVENTS sets another
count) go to a consumer with --nosync (fast; durability is not what is
tested here). Once about a fifth of them is in the store, while the
producer still sends, three `optally subscribe --format json` start:
everything, --view country,month, and --prefix country,partner_force/IQ/.
When the producer is done, each subscriber's folded output (snapshot rows,
then each update applied; see subharness.fold, which also checks that the
printed sequence has no gap) must equal `optally query --format json`
field by field, ignoring all-zero rows, and --once must print exactly the
query's rows. A subscriber that keeps up must not have needed a resync.
"""

import os
import random
import time

import otharness as h
import subharness as sh

N_EVENTS = int(os.environ.get("OPTALLY_SUB_EVENTS", "100000"))


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    events = h.gen_events(rng, N_EVENTS)
    with h.tempdir("ot-subjoin-") as tmp:
        path = os.path.join(tmp, "events.jsonl")
        h.write_jsonl(path, events)
        data = os.path.join(tmp, "data")
        c, ingest, pub, snap = sh.sub_consumer(data, ["--nosync"])
        out_p, err_p = os.path.join(tmp, "produce.out"), os.path.join(tmp, "produce.err")
        t0 = time.monotonic()
        bg = h.produce_bg(["--to", ingest, "--batch", "200", path], out_p, err_p)

        def stored():
            rows = h.query(data, "total")
            return rows[0]["events"] if rows else 0
        h.wait_for(lambda: stored() >= len(events) // 6 or bg.poll() is not None, 60, 0.1)
        joined = stored()
        subs = {
            "all": sh.Subscriber(pub, snap),
            "view": sh.Subscriber(pub, snap, ["--view", "country,month"], track="country,month"),
            "prefix": sh.Subscriber(pub, snap, ["--prefix", "country,partner_force/IQ/"],
                                    track="country,partner_force", gapless=False),
        }
        still_sending = bg.poll() is None
        h.log("subscribers joined with %d events stored (producer %s)" % (
            joined, "still sending" if still_sending else "already done"))
        rc = bg.wait(300)
        took = time.monotonic() - t0
        with open(out_p) as f:
            out = f.read()
        assert rc == 0, "produce exit %d\n%s" % (rc, out)
        h.log("produce: %s in %.1fs" % (out.strip(), took))

        want = sh.want_tables(data)
        stats = sh.wait_equal(subs["all"], want, 60, "no filter")
        h.log("no filter: %r" % stats)
        stats_v = sh.wait_equal(subs["view"], {"country,month": want["country,month"]}, 30, "--view")
        h.log("--view country,month: %r" % stats_v)
        stats_p = sh.wait_equal(subs["prefix"], sh.restrict(want, "country,partner_force/IQ/"), 30,
                                "--prefix")
        h.log("--prefix country,partner_force/IQ/: %r" % stats_p)
        for name, s in subs.items():
            err = s.stop()
            _, _, st = s.table()
            assert st["resyncs"] == 0, "%s: %d resync(s) though it kept up:\n%s" % (name, st["resyncs"], err)
            assert st["snapshots"] == 1, "%s: %d snapshots" % (name, st["snapshots"])
        if still_sending:
            assert stats["updates"] > 0, "joined mid-stream but printed no update"

        # --once prints exactly the query's rows (same order, same fields).
        rc, out, err = h._run(["subscribe", "--from", pub + "," + snap, "--once", "--format", "json"])
        assert rc == 0, "subscribe --once: exit %d\n%s" % (rc, err)
        rows = [r for r in (h._jsonl(out, "subscribe --once")) if r.get("kind") == "snapshot"]
        q = h.query(data)
        strip = [{k: v for k, v in r.items() if k not in ("kind", "seq")} for r in rows]
        assert strip == q, "--once rows differ from the query's (%d vs %d rows)" % (len(strip), len(q))
        rc, out, err = h._run(["subscribe", "--from", pub + "," + snap, "--once", "--view", "country"])
        rc2, qout, _ = h._run(["query", "--data", data, "--view", "country"])
        assert rc == 0 and out == qout, "--once table differs from the query table:\n%s\n---\n%s" % (out, qout)
        c.stop()


if __name__ == "__main__":
    h.main(test)
