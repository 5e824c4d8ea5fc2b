#!/usr/bin/python3
"""Snapshots come in chunks (issue 10, item 7).

A consumer stores N_EVENTS events, each with its own partner_force (a
tally each: ~N_EVENTS rows, ~110 bytes a row). Then, over a DEALER:
  - asked with max_message_bytes 64 KiB, the snapshot comes in messages of
    at most 64 KiB, indexed 0, 1, ..., the last counting the rows and
    carrying the sequences; merged, it equals `optally query` row for row;
  - asked without a limit, in chunks of at most 1 MiB (OT_SNAPSHOT_CHUNK_MAX),
    several of them for this store;
  - a REQ socket, which takes one reply only, gets a final error naming
    the DEALER for a snapshot over one message, and a small view whole.
The consumer's RSS while it sends the big snapshot is logged (the figures
of docs/RELIABILITY.md come from a larger run of the same steps).

On the code before chunking every one of these replies is one message of
several MB: the first check fails on its size.
"""

import os
import random
import time

import otharness as h
import subharness as sh

N_EVENTS = int(os.environ.get("OPTALLY_SUB_SNAPSHOT_EVENTS", "30000"))
LIMIT = 65536
CHUNK_MAX = 1 << 20


def gen_distinct(rng, n):
    countries = ["IQ", "SY", "AF", "SO", "YE"]
    return [{"event_id": "snap-%d" % i, "source": "TEST", "country": rng.choice(countries),
             "occurred_on": "2024-%02d-%02d" % (rng.randint(1, 12), rng.randint(1, 28)),
             "partner_force": "PF-%06d" % i, "operations": 1, "killed": rng.randint(0, 3)}
            for i in range(n)]


def rows_of(reply):
    """{view: {key tuple: counters}} of a SnapshotReply, like want_tables."""
    out = {}
    for t in reply.tallies:
        counts = {c: getattr(t.counts, c) for c in h.COUNTERS}
        if any(counts.values()):
            out.setdefault(t.view, {})[tuple(t.values)] = counts
    return out


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    with h.tempdir("ot-subsnap-") as tmp:
        path = os.path.join(tmp, "events.jsonl")
        h.write_jsonl(path, gen_distinct(rng, N_EVENTS))
        data = os.path.join(tmp, "data")
        c, ingest, pub, snap = sh.sub_consumer(data, ["--nosync"])
        rc, out, err = h.run_produce(["--to", ingest, "--batch", "1000", path])
        assert rc == 0, "produce exit %d\n%s\n%s" % (rc, out, err)
        assert h.parse_summary(out)["stored"] == N_EVENTS, out

        rss0, _ = h.rss_kib(c.pid)
        st = {}
        t0 = time.monotonic()
        r = sh.snapshot_chunks(snap, max_message_bytes=LIMIT, stats=st, timeout_ms=10000)
        took = time.monotonic() - t0
        rss1, _ = h.rss_kib(c.pid)
        assert not r.error, r.error
        assert r.last and r.rows == len(r.tallies) >= N_EVENTS, (r.last, r.rows, len(r.tallies))
        assert st["chunks"] >= N_EVENTS * 100 // LIMIT, st
        want = sh.want_tables(data)
        d = h.diff_tables(rows_of(r), want, "chunked snapshot")
        assert not d, d
        h.log("%d tallies at %d bytes a message: %d chunks (largest %d bytes) in %.2f s; consumer rss "
              "%.1f -> %.1f MiB" % (r.rows, LIMIT, st["chunks"], st["max_bytes"], took, rss0 / 1024,
                                    rss1 / 1024))

        st = {}
        r = sh.snapshot_chunks(snap, stats=st, timeout_ms=10000)
        assert r.rows == len(r.tallies) and st["max_bytes"] <= CHUNK_MAX and st["chunks"] >= 2, (
            r.rows, st)
        h.log("default chunks: %d tallies in %d messages, largest %d bytes" % (
            r.rows, st["chunks"], st["max_bytes"]))

        r = sh.snapshot(snap, req=True, max_message_bytes=LIMIT)
        assert "ask with a DEALER" in r.error and not r.retry, r
        r = sh.snapshot(snap, view="total", req=True)
        assert not r.error and len(r.tallies) == 1, r
        c.stop()


if __name__ == "__main__":
    h.main(test)
