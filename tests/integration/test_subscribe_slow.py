#!/usr/bin/python3
"""Live subscriptions: a stalled subscriber loses updates at the high-water
marks, notices the gap, re-snapshots by itself, and still ends equal to the
query.

The consumer publishes on ipc:// (small kernel buffers) with --pub-hwm 5000 (room for the burst of one commit);
`optally subscribe --hwm 100 --format json` runs with its stdout pipe not
read (it blocks writing, as behind a slow reader of its output) while a
producer sends the first ~40% of ~30,000 events in small batches (many
commits, many updates); then the pipe is read again while the rest flows. The subscriber must say on stderr
that it detected a gap (or a heartbeat ahead of it) and is re-snapshotting,
print a "resync" line, and its folded output (gap-free between resyncs)
must equal `optally query` once the producer is done. A second subscriber
that keeps reading must need no resync at all: the drops were per slow peer.
"""

import os
import random
import re
import time

import otharness as h
import subharness as sh

N_EVENTS = int(os.environ.get("OPTALLY_SUB_SLOW_EVENTS", "30000"))


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    events = h.gen_events(rng, N_EVENTS)
    with h.tempdir("ot-subslow-") as tmp:
        path = os.path.join(tmp, "events.jsonl")
        h.write_jsonl(path, events)
        data = os.path.join(tmp, "data")
        pub = "ipc://" + os.path.join(tmp, "pub.sock")
        c, ingest, pub, snap = sh.sub_consumer(data, ["--nosync", "--pub-hwm", "5000"], publish=pub)
        slow = sh.Subscriber(pub, snap, ["--hwm", "100"])
        fast = sh.Subscriber(pub, snap)
        # Both have their first snapshot before the stall.
        h.wait_for(lambda: slow.table()[1] and fast.table()[1], 20)
        assert slow.table()[1] and fast.table()[1], "no snapshot within 20 s:\n%s%s" % (
            slow.stderr(), fast.stderr())
        slow.pause()
        out_p, err_p = os.path.join(tmp, "produce.out"), os.path.join(tmp, "produce.err")
        bg = h.produce_bg(["--to", ingest, "--batch", "20", "--window", "4", path], out_p, err_p)
        # Stall until about 40% of the events are in: the rest still flows
        # when the subscriber reads again, so it meets the gap mid-stream.
        t0 = time.monotonic()

        def stored():
            rows = h.query(data, "total")
            return rows[0]["events"] if rows else 0
        h.wait_for(lambda: stored() >= N_EVENTS * 0.4 or bg.poll() is not None, 60, 0.05)
        stall = time.monotonic() - t0
        stalled_through = bg.poll() is None
        slow.resume()
        rc = bg.wait(300)
        with open(out_p) as f:
            out = f.read()
        assert rc == 0, "produce exit %d\n%s" % (rc, out)
        h.log("produce: %s (the stall of %.1fs %s)" % (
            out.strip(), stall, "ended while it still sent" if stalled_through else "outlasted it"))

        want = sh.want_tables(data)
        st_fast = sh.wait_equal(fast, want, 60, "subscriber that kept up")
        st_slow = sh.wait_equal(slow, want, 60, "stalled subscriber")
        h.log("kept up: %r; stalled: %r" % (st_fast, st_slow))
        err = slow.stop()
        fast_err = fast.stop()
        assert st_slow["resyncs"] >= 1 and st_slow["snapshots"] >= 2, \
            "the stalled subscriber did not re-snapshot (%r); stderr:\n%s" % (st_slow, err)
        assert re.search(r"optally subscribe: (gap detected \(expected seq \d+, got \d+\)|missed update\(s\): "
                         r"heartbeat says seq \d+, last applied \d+); re-snapshotting", err), \
            "no gap message on stderr:\n%s" % err
        h.log("stalled subscriber's stderr: %s" % err.strip().splitlines()[0])
        assert st_fast["resyncs"] == 0, "the subscriber that kept reading resynced:\n%s" % fast_err
        c.stop()


if __name__ == "__main__":
    h.main(test)
