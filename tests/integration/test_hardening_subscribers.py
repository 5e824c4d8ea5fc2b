#!/usr/bin/python3
"""Idle subscribers cannot stop the consumer (issue 10, item 2).

40 SUB sockets connect to the consumer's update stream with ZMQ_RCVHWM 1,
each takes one heartbeat (so its subscription is in effect) and then never
reads again, while a producer sends a steady stream of N_EVENTS events,
each with its own partner_force: one update per event at least, even when
a commit holds many (updates are one per changed tally and commit), so
every queue passes any per-subscriber limit. One `optally subscribe`
keeps reading. The consumer's memory is sampled every 50 ms. A control
run first sends the same stream with no idle subscriber: what the store,
the id index and the allocator take (in a sanitizer build the ASan
quarantine, up to 256 MiB) is not queued updates.

Asserted:
  - the producer is served throughout: it exits 0 with every event stored;
  - the consumer stays alive under a --max-rss-mb ceiling of what the
    control needed plus twice the bound, and stops cleanly;
  - its peak anonymous memory (RssAnon: LMDB's mapped file is not in it)
    exceeds the control's by less than the stated bound of 40 queues:
    40 x min(--pub-hwm, OT_PUBLISH_QUEUE_TOTAL / OT_PUBLISH_MAX_SUBSCRIBERS)
    = 40 x 15,625 updates at BYTES_PER_UPDATE, plus SLACK_MIB;
  - the subscriber that reads ends equal to `optally query`.

On the code before the cap (each queue --pub-hwm 100,000, no total) the
queues take ~12-20 MB per idle subscriber: the ceiling stops the consumer
("MEMORY CEILING PASSED") and the producer fails.

BYTES_PER_UPDATE: what libzmq keeps per queued update and subscriber (two
64-byte queue entries: topic and payload) plus the messages themselves
(topic and payload allocations, shared by the queues); measured ~130
bytes in a plain build, ~210 with ASan's redzones; 256 leaves room.
"""

import os
import random
import time

import otharness as h
import subharness as sh
from otharness import zmq

N_IDLE = 40
N_EVENTS = int(os.environ.get("OPTALLY_SUB_IDLE_EVENTS", "120000"))
PER_QUEUE = 1000000 // 64          # OT_PUBLISH_QUEUE_TOTAL / OT_PUBLISH_MAX_SUBSCRIBERS
BYTES_PER_UPDATE = 256
SLACK_MIB = 32
MIB = 1024 * 1024


def bound_mib():
    return N_IDLE * PER_QUEUE * BYTES_PER_UPDATE / MIB + SLACK_MIB


def rss_anon_kib(pid):
    """RssAnon of a process in KiB (0 once it is gone): its resident memory
    without file pages, so LMDB's mapped store (RssFile), which grows with
    the events stored, does not count as queued updates."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k == "RssAnon":
                    return int(v.split()[0])
    except OSError:
        pass
    return 0


def idle_subscribers(ctx, endpoint, n):
    """n SUB sockets subscribed to everything, RCVHWM 1, each having taken
    one message (a heartbeat: its subscription is in effect) and then left
    alone."""
    subs = []
    for _ in range(n):
        s = ctx.socket(zmq.SUB)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 1)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(endpoint)
        subs.append(s)
    for i, s in enumerate(subs):
        assert s.poll(5000), "idle subscriber %d got no heartbeat within 5 s" % i
        s.recv_multipart()
    return subs


def gen_distinct(rng, n):
    """n valid events, each with a partner_force of its own."""
    countries = ["IQ", "SY", "AF", "SO", "YE"]
    return [{"event_id": "idle-%d" % i, "source": "TEST", "country": rng.choice(countries),
             "occurred_on": "2024-%02d-%02d" % (rng.randint(1, 12), rng.randint(1, 28)),
             "partner_force": "PF-%06d" % i, "operations": 1, "killed": rng.randint(0, 3)}
            for i in range(n)]


def run(tmp, name, events_path, n_idle, extra=()):
    """A consumer on a fresh data directory, n_idle idle subscribers and
    one that reads, while the events of events_path are produced. Returns
    (anon growth KiB, RSS before KiB, RSS growth KiB, seconds, consumer
    alive, produce rc, produce stdout, produce stderr, consumer stderr).
    Leaves the consumer stopped (or dead), the sockets closed."""
    ctx = zmq.Context()
    data = os.path.join(tmp, name)
    c, ingest, pub, snap = sh.sub_consumer(data, ["--nosync"] + list(extra))
    subs = idle_subscribers(ctx, pub, n_idle)
    reader = sh.Subscriber(pub, snap)
    h.wait_for(lambda: reader.table()[1], 20)
    assert reader.table()[1], "the reading subscriber got no snapshot:\n%s" % reader.stderr()
    anon0, rss0 = rss_anon_kib(c.pid), h.rss_kib(c.pid)[0]
    out_p, err_p = os.path.join(tmp, name + ".out"), os.path.join(tmp, name + ".err")
    t0 = time.monotonic()
    bg = h.produce_bg(["--to", ingest, "--batch", "200", "--window", "4", events_path], out_p, err_p)
    anon, rss = anon0, rss0

    def sample():
        nonlocal anon, rss
        anon = max(anon, rss_anon_kib(c.pid))
        rss = max(rss, h.rss_kib(c.pid)[0])
    while bg.poll() is None and c.alive() and time.monotonic() - t0 < 300:
        sample()
        time.sleep(0.05)
    took = time.monotonic() - t0
    # The last commits' updates reach the queues a moment later.
    end = time.monotonic() + 1.0
    while time.monotonic() < end and c.alive():
        sample()
        time.sleep(0.05)
    alive = c.alive()
    rc = bg.wait(60) if bg.poll() is None else bg.returncode
    with open(out_p) as f:
        out = f.read()
    with open(err_p) as f:
        err = f.read()
    if alive and rc == 0:
        st = sh.wait_equal(reader, sh.want_tables(data), 60, "subscriber that reads (%s)" % name)
        h.log("%s: reading subscriber %r" % (name, st))
    reader.stop()
    for s in subs:
        s.close(0)
    cerr = c.stderr()
    if alive:
        c.stop()
    else:
        c.kill()
    ctx.term()
    return anon - anon0, rss0, rss - rss0, took, alive, rc, out, err, cerr


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    events = gen_distinct(rng, N_EVENTS)
    with h.tempdir("ot-subidle-") as tmp:
        path = os.path.join(tmp, "events.jsonl")
        h.write_jsonl(path, events)
        # The control: the same stream, no idle subscriber. What the store,
        # the id index and the allocator (the ASan quarantine in a sanitizer
        # build) take is not queued updates.
        a0, r_base, r0, t_ctl, alive, rc, out, err, cerr = run(tmp, "control", path, 0)
        assert alive and rc == 0, "control run failed: produce %d\n%s%s\n%s" % (rc, out, err, cerr)
        h.log("control: anon +%.1f MiB, rss %.1f -> +%.1f MiB, %d events in %.1f s" % (
            a0 / 1024, r_base / 1024, r0 / 1024, N_EVENTS, t_ctl))
        # The ceiling a careful operator would set: what the control needed
        # plus twice the bound.
        ceiling = int((r_base + r0) / 1024 + 2 * bound_mib())
        a1, r_base1, r1, took, alive, rc, out, err, cerr = run(
            tmp, "idle", path, N_IDLE, ["--max-rss-mb", str(ceiling)])
        grown = (a1 - a0) / 1024
        h.log("rss: +%.1f MiB anon over the control with %d idle subscribers (%.0f bytes per "
              "queued update at %d x %d; bound %.0f MiB); rss %.1f -> +%.1f MiB (ceiling %d MiB); "
              "%d events in %.1f s (control %.1f s)" % (
                  grown, N_IDLE, grown * MIB / (N_IDLE * PER_QUEUE), N_IDLE, PER_QUEUE, bound_mib(),
                  r_base1 / 1024, r1 / 1024, ceiling, N_EVENTS, took, t_ctl))
        assert alive, "the consumer stopped under %d idle subscribers:\n%s" % (N_IDLE, cerr[-3000:])
        assert rc == 0, "produce exit %d (the producer was not served):\n%s\n%s" % (rc, out, err[-2000:])
        summary = h.parse_summary(out)
        assert summary["stored"] == N_EVENTS, "produce summary: %s" % out
        assert grown <= bound_mib(), (
            "consumer memory grew by %.1f MiB more than without subscribers, with %d idle ones: "
            "over the bound of %.0f MiB" % (grown, N_IDLE, bound_mib()))


if __name__ == "__main__":
    h.main(test)
