#!/usr/bin/python3
"""Measure live subscriptions (not a ctest test: run it by hand, on a build
without sanitizers for meaningful figures):

  OPTALLY_BIN=build/optally OPTALLY_PYPATH=build/tests/py \\
      /usr/bin/python3 tests/integration/measure_subscribe.py [--events N] [--rate R]

1. Latency, producer's send -> subscriber's print. A Python DEALER sends one
   event per batch at R events/s, each with its own partner_force, so each
   event makes exactly one new key of view country,partner_force; `optally
   subscribe --view country,partner_force --format json` prints it; a thread
   stamps each line as it reads it. Latency = that stamp - the send time
   (one clock, one process). Against a durable consumer (fsync per commit)
   and one with --nosync. Prints p50, p90, p99, max.
2. Rate: `optally produce --batch B` sends N events to a --nosync consumer
   while one `optally subscribe --format json` (no filter) prints every
   update to a reading thread. Reports updates published, how fast, whether
   the subscriber needed a resync (it did not keep up) and how long after
   the last commit it printed the last update.
"""

import argparse
import json
import os
import random
import time

import otharness as h
import subharness as sh
from otharness import pb, zmq


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def latency(rate, seconds, nosync):
    with h.tempdir("ot-measure-") as tmp:
        data = os.path.join(tmp, "data")
        c, ingest, pub, snap = sh.sub_consumer(data, ["--nosync"] if nosync else [])
        sub = sh.Subscriber(pub, snap, ["--view", "country,partner_force"], track="country,partner_force")
        h.wait_for(lambda: sub.table()[1], 20)
        d = sh.CTX.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.connect(ingest)
        n = int(rate * seconds)
        sent = {}
        t0 = time.monotonic()
        for i in range(n):
            at = t0 + i / float(rate)
            while time.monotonic() < at:
                try:
                    d.recv(zmq.NOBLOCK)
                except zmq.Again:
                    time.sleep(min(0.0005, max(0.0, at - time.monotonic())))
            pf = "L%07d" % i
            ev = pb.OperationEvent(event_id="lat-%d" % i, source="MEASURE", occurred_on="2024-02-01",
                                   country="IQ", partner_force=pf, operations=1)
            b = pb.EventBatch(events=[ev], batch_id=i + 1).SerializeToString()
            sent[pf] = time.monotonic()
            d.send(b)
        h.wait_for(lambda: sum(1 for _, l in list(sub.raw) if b'"L' in l) >= n, 30)
        got = {}
        for t, line in list(sub.raw):
            r = json.loads(line)
            pf = r.get("partner_force")
            if r.get("kind") == "update" and pf in sent and pf not in got:
                got[pf] = t
        lat = [(got[k] - sent[k]) * 1000.0 for k in got]
        st = sub.table()[2]
        sub.stop()
        d.close()
        c.stop()
    return n, lat, st


def rate_run(n_events, batch):
    rng = random.Random(1)
    events = h.gen_events(rng, n_events)
    with h.tempdir("ot-measure-") as tmp:
        path = os.path.join(tmp, "events.jsonl")
        h.write_jsonl(path, events)
        data = os.path.join(tmp, "data")
        c, ingest, pub, snap = sh.sub_consumer(data, ["--nosync"])
        sub = sh.Subscriber(pub, snap)
        h.wait_for(lambda: sub.table()[1], 20)
        t0 = time.monotonic()
        rc, out, err = h.run_produce(["--to", ingest, "--batch", str(batch), "--quiet", path], timeout=600)
        t1 = time.monotonic()
        assert rc == 0, (rc, out, err)
        want = sh.want_tables(data)
        st = sh.wait_equal(sub, want, 120, "rate run")
        raw = list(sub.raw)
        upd = [(t, json.loads(l)) for t, l in raw if b'"kind":"update"' in l]
        last_t = upd[-1][0] if upd else t1
        first_t = upd[0][0] if upd else t0
        sub.stop()
        c.stop()
    return {"events": len(events), "produce_s": t1 - t0, "updates": len(upd),
            "publish_rate": len(upd) / (t1 - t0), "print_span_s": last_t - first_t,
            "print_rate": len(upd) / max(1e-9, last_t - first_t),
            "lag_after_produce_ms": (last_t - t1) * 1000.0, "resyncs": st["resyncs"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=300000)
    ap.add_argument("--rate", type=int, default=1000, help="latency run: events per second")
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    for nosync in (False, True):
        n, lat, st = latency(a.rate, a.seconds, nosync)
        h.log("latency, %s consumer, %d events at %d/s, one event per batch: printed %d; "
              "p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; resyncs %d" % (
                  "--nosync" if nosync else "durable (fsync)", n, a.rate, len(lat),
                  pct(lat, 50), pct(lat, 90), pct(lat, 99), max(lat), st["resyncs"]))
    for batch in (1000, 20):
        r = rate_run(a.events, batch)
        h.log("rate, produce --batch %d, %d events in %.2fs: %d updates published (%.0f/s); the "
              "subscriber printed them at %.0f/s, the last %.0f ms after produce returned; resyncs %d" % (
                  batch, r["events"], r["produce_s"], r["updates"], r["publish_rate"], r["print_rate"],
                  r["lag_after_produce_ms"], r["resyncs"]))


if __name__ == "__main__":
    main()
