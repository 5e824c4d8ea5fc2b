#!/usr/bin/python3
"""Live subscriptions: the wire protocol seen from another language, hostile
snapshot requests, and the command line's errors.

Against a consumer holding the demo data:
  - the snapshot service answers a DEALER and a REQ client; a view, a
    prefix, everything: rows as the query's, one message, last=true, the
    sequences of every view; an unknown view gets a clear error (naming the
    views) and no rows;
  - malformed requests (random bytes, several frames, an oversized message,
    a burst of them) do not disturb the daemon: a good request is still
    answered, events are still ingested, and SIGTERM still exits 0;
  - the update stream: two frames per update (topic = key, TallyUpdate),
    seq rising by one, a heartbeat after a quiet second carrying the last seq;
  - `optally subscribe`: unknown view, --view with --prefix, a prefix no key
    can have, a bad --from, a bad --format are usage errors (64) that say
    what is wrong; --once with no consumer gives up with exit 2.
"""

import os
import random
import subprocess
import time

import otharness as h
import subharness as sh
from otharness import pb, zmq


def check_snapshots(data, snap):
    q = h.query(data, "country")
    for req in (False, True):
        r = sh.snapshot(snap, view="country", req=req)
        assert not r.error and r.last, "view request: %r" % r
        rows = [dict([("view", t.view)] + list(zip(t.fields, t.values)) +
                     [(c, getattr(t.counts, c)) for c in h.COUNTERS]) for t in r.tallies]
        assert rows == q, "snapshot of view country (%s) != query:\n%r\n%r" % (
            "REQ" if req else "DEALER", rows, q)
        assert {v.view for v in r.views} == set(h.VIEWS), "views in the reply: %r" % list(r.views)
        assert r.seq > 0 and all(t.key.startswith("country/") for t in r.tallies)
    r = sh.snapshot(snap, prefix="country,quarter/IQ/")
    assert [t.key for t in r.tallies] == ["country,quarter/IQ/2024-Q1"], r
    r = sh.snapshot(snap)
    assert len(r.tallies) == len(h.query(data)), "everything: %d rows" % len(r.tallies)
    r = sh.snapshot(snap, view="nope")
    assert r.error.startswith("unknown view 'nope'") and "country,quarter" in r.error and not r.tallies, \
        "unknown view: %r" % r
    h.log("snapshot service: rows as the query's; unknown view -> %r" % r.error)


def check_hostile(snap, rng):
    garbage = [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))) for _ in range(50)]
    answered = 0
    for g in garbage:
        frames = sh.snapshot_request(snap, [g], timeout_ms=2000)
        if frames is not None:
            answered += 1
            rep = pb.SnapshotReply()
            rep.ParseFromString(frames[-1])
            assert rep.error or rep.last, "garbage got a reply that is neither an error nor a snapshot"
    frames = sh.snapshot_request(snap, [b"a", b"b", b"c"], timeout_ms=2000)
    assert frames is not None, "a multi-frame request got no answer"
    rep = pb.SnapshotReply()
    rep.ParseFromString(frames[-1])
    assert "malformed" in rep.error and not rep.tallies, "multi-frame: %r" % rep
    big = sh.snapshot_request(snap, [b"\x0a" + b"\xff" * 200000], timeout_ms=1000)
    assert big is None, "an oversized request was answered"
    # A burst of unanswered junk from many sockets at once.
    socks = []
    for _ in range(100):
        s = sh.CTX.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(snap)
        s.send(bytes(rng.getrandbits(8) for _ in range(64)))
        socks.append(s)
    time.sleep(0.3)
    for s in socks:
        s.close()
    h.log("hostile requests: %d/50 random ones got an (error) answer, multi-frame: %r" % (answered, rep.error))


def check_stream(ingest, pub, data):
    sub = sh.CTX.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.RCVTIMEO, 5000)
    sub.connect(pub)
    sub.recv_multipart()    # a heartbeat: the subscription is in effect
    rc, out, err = h.run_produce(["--to", ingest, h.UPDATES_FILE])
    last = None
    updates = 0
    while True:
        frames = sub.recv_multipart()
        assert len(frames) == 2, "a message of %d frames on the update stream" % len(frames)
        if frames[0] == b"~heartbeat":
            hb = pb.Heartbeat()
            hb.ParseFromString(frames[1])
            if updates:
                assert hb.seq == last, "heartbeat seq %d after update seq %d" % (hb.seq, last)
                break
            continue
        u = pb.TallyUpdate()
        u.ParseFromString(frames[1])
        assert frames[0].decode() == u.key and u.key.startswith(u.view)
        assert last is None or u.seq == last + 1, "seq %d after %d" % (u.seq, last)
        last = u.seq
        updates += 1
    sub.close()
    h.log("update stream: %d updates, seq up to %d, then a heartbeat with seq %d" % (updates, last, last))
    return rc, out


def check_cli(pub, snap):
    frm = pub + "," + snap
    cases = [
        (["--view", "nope"], "unknown view 'nope'; views: total country country,quarter"),
        (["--view", "country", "--prefix", "country/"], "--view and --prefix exclude each other"),
        (["--prefix", "zzz"], "no tally key can start with 'zzz'"),
        (["--prefix", "nope/x"], "no tally key can start with 'nope/x'"),
        (["--format", "xml"], "--format is table or json"),
    ]
    for args, want in cases:
        rc, out, err = h._run(["subscribe", "--from", frm] + args, timeout=20)
        assert rc == 64 and want in err, "subscribe %s: exit %d (want 64), stderr %r" % (args, rc, err)
    rc, out, err = h._run(["subscribe", "--from", "tcp://127.0.0.1:1"], timeout=20)
    assert rc == 64 and "--from takes PUB_ENDPOINT,SNAPSHOT_ENDPOINT" in err, (rc, err)
    rc, out, err = h._run(["subscribe", "--from", "nonsense,nonsense"], timeout=20)
    assert rc == 64 and "endpoint not understood" in err, (rc, err)
    rc, out, err = h._run(["subscribe", "--help"])
    assert rc == 0 and "--snapshot-timeout-ms" in out and "OPTALLY_PUBLISH" in out, (rc, out)
    # Nobody there: --once tries 3 times and exits 2.
    nobody = h.tcp_endpoint() + "," + h.tcp_endpoint()
    t0 = time.monotonic()
    rc, out, err = h._run(["subscribe", "--from", nobody, "--once", "--snapshot-timeout-ms", "200"], timeout=30)
    took = time.monotonic() - t0
    assert rc == 2 and "did not answer within 200 ms (3 attempts)" in err and took < 10, \
        "--once without a consumer: exit %d after %.1fs, stderr:\n%s" % (rc, took, err)
    h.log("CLI usage errors exit 64; --once without a consumer exits 2 after %.1fs" % took)


def test():
    rng = random.Random(h.seed_from_env())
    with h.tempdir("ot-subproto-") as tmp:
        data = os.path.join(tmp, "data")
        c, ingest, pub, snap = sh.sub_consumer(data)
        rc, out, err = h.run_produce(["--to", ingest, h.DEMO_FILE])
        assert rc == 0, "produce demo: %d %s" % (rc, err)
        check_snapshots(data, snap)
        check_hostile(snap, rng)
        assert c.alive(), "consumer died after hostile requests:\n%s" % c.stderr()
        r = sh.snapshot(snap, view="total")
        assert not r.error and len(r.tallies) == 1 and r.tallies[0].counts.events == 94, r
        rc, out = check_stream(ingest, pub, data)
        assert h.parse_summary(out)["superseded"] == 2, "ingest after hostile requests: %s" % out
        # The subscriber's view of it all equals the query.
        rc, out, err = h._run(["subscribe", "--from", pub + "," + snap, "--once", "--format", "json"])
        rows = [{k: v for k, v in r.items() if k not in ("kind", "seq")}
                for r in h._jsonl(out, "subscribe --once") if r.get("kind") == "snapshot"]
        assert rc == 0 and rows == h.query(data), "subscribe --once != query"
        check_cli(pub, snap)
        c.stop()


if __name__ == "__main__":
    h.main(test)
