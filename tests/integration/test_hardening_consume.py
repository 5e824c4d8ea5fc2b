#!/usr/bin/python3
"""`optally consume`: errors with words, loopback by name and IPv6, and no
litter after a failed start (issue 10, item 8, the consume parts).

  1. Limits are stated: `--flush-ms 60001` and `--pub-hwm 10000001` exit 64
     with one message giving the range, and `--help` states the range of
     every numeric flag.
  2. `--bogus` exits 64 with "optally consume: unknown option '--bogus'" and
     a hint to --help, not the whole help.
  3. A number beyond 64 bits (`--map-size 99999999999999999999`, also for
     --batch, --max-msg-size, --max-rss-mb) is "out of range", not "needs an
     integer >= N".
  4. `--ingest tcp://localhost:P` and `tcp://[::1]:P` serve (they failed with
     "No such device"): a producer given tcp://localhost:P stores, a ZeroMQ
     client over IPv6 loopback stores; the publish and snapshot endpoints
     take localhost and [::1] as well (a snapshot and a heartbeat arrive
     through them). A name that does not resolve fails with words, and
     "is another consumer running?" is said only for an address in use.
  5. A consume that cannot start (ingest, publish or snapshot address in
     use, an unresolvable name) removes the data directory it had just
     created; a directory that existed (an empty one, or a store with
     events) is left as it was.
"""

import json
import os
import socket
import subprocess
import time

import otharness as h
from otharness import pb, zmq

MAX64 = "99999999999999999999"


def consume(args, timeout=30):
    """Run `optally consume ARGS` to its end (a usage error, a failed
    start). Returns (rc, stderr)."""
    p = subprocess.run([h.BIN, "consume"] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def ev(n):
    return {"event_id": "hard-consume-%d" % n, "source": "TEST", "occurred_on": "2024-02-10",
            "country": "IQ", "partner_force": "ISF", "operations": 1, "type": "PARTNERED"}


def send_v6(endpoint, n, timeout_ms=5000):
    """One batch of one event over a REQ socket with ZMQ_IPV6 on. Returns the
    IngestReply, or None when none came in time."""
    s = h._CTX.socket(zmq.REQ)
    s.setsockopt(zmq.IPV6, 1)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    try:
        s.connect(endpoint)
        s.send(h.make_batch([ev(n)], batch_id=n))
        try:
            frames = s.recv_multipart()
        except zmq.Again:
            return None
    finally:
        s.close(0)
    rep = pb.IngestReply()
    rep.ParseFromString(frames[-1])
    return rep


def test_limits_stated():
    for args, want in ((["--flush-ms", "60001"], "0..60000"),
                       (["--pub-hwm", "10000001"], "1..10000000"),
                       (["--flush-ms", "-1"], "0..60000"),
                       (["--pub-hwm", "0"], "1..10000000")):
        rc, err = consume(args)
        assert rc == 64, "%s: rc %d (want 64)\n%s" % (args, rc, err)
        assert err.startswith("optally consume: %s" % args[0]) and want in err, \
            "%s: the message does not state the range %s:\n%s" % (args, want, err)
    p = subprocess.run([h.BIN, "consume", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    out = p.stdout.decode()
    assert p.returncode == 0, p.returncode
    for flag, rng in (("--flush-ms", "0..60000"), ("--pub-hwm", "1..10000000"),
                      ("--batch", ">= 1"), ("--max-msg-size", ">= 64"),
                      ("--map-size", ">= 1048576"), ("--max-rss-mb", ">= 64")):
        line = [l for l in out.splitlines() if l.lstrip().startswith(flag + " ")]
        text = out[out.index(line[0]):] if line else ""
        # The range is on the flag's line or the next one.
        near = "\n".join(text.splitlines()[:2])
        assert rng in near, "--help does not state %s for %s:\n%s" % (rng, flag, out)
    h.log("limits: range messages and --help state every bound")


def test_unknown_option():
    rc, err = consume(["--bogus"])
    assert rc == 64, "rc %d\n%s" % (rc, err)
    lines = err.strip().splitlines()
    assert lines[0] == "optally consume: unknown option '--bogus'", err
    assert "--help" in err and len(lines) <= 2, "want the message and a hint, got:\n%s" % err
    assert "usage:" not in err, "the whole help was printed:\n%s" % err
    h.log("unknown option: one line and a hint")


def test_out_of_range():
    for flag in ("--map-size", "--batch", "--max-msg-size", "--max-rss-mb", "--flush-ms",
                 "--pub-hwm"):
        rc, err = consume([flag, MAX64])
        assert rc == 64, "%s: rc %d\n%s" % (flag, rc, err)
        assert "out of range" in err and "needs an integer >=" not in err, \
            "%s %s: want 'out of range', got:\n%s" % (flag, MAX64, err)
    # Not a number at all: still its own message.
    rc, err = consume(["--map-size", "lots"])
    assert rc == 64 and "integer" in err and "'lots'" in err, err
    h.log("out of range: said so")


def test_loopback_names_and_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s6:
            s6.bind(("::1", 0))
    except OSError as e:
        raise AssertionError("this machine has no IPv6 loopback (%s): the test needs ::1" % e)
    with h.tempdir() as d:
        # localhost for ingest; [::1] for publish and snapshot.
        data = os.path.join(d, "a")
        ingest = "tcp://localhost:%d" % h.free_port()
        pub, snap = "tcp://[::1]:%d" % h.free_port(), "tcp://[::1]:%d" % h.free_port()
        c = h.Consumer(data, ingest, ["--publish", pub, "--snapshot", snap])
        rc, out, err = h.run_produce(["--to", ingest], input=json.dumps(ev(1)) + "\n")
        assert rc == 0 and h.parse_summary(out)["stored"] == 1, "produce to %s: rc %d\n%s%s" % (
            ingest, rc, out, err)
        check_subscription_side(pub, snap, events=1)
        # optally subscribe itself reaches IPv6 literals (ZMQ_IPV6 on its sockets)
        p = subprocess.run([h.BIN, "subscribe", "--from", pub + "," + snap, "--once",
                            "--view", "total", "--format", "json"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        assert p.returncode == 0 and b'"events":1' in p.stdout, \
            "subscribe over [::1]: rc %d\n%s%s" % (p.returncode, p.stdout, p.stderr)
        c.stop()

        # [::1] for ingest; localhost for publish and snapshot.
        data = os.path.join(d, "b")
        ingest = "tcp://[::1]:%d" % h.free_port()
        pub, snap = "tcp://localhost:%d" % h.free_port(), "tcp://localhost:%d" % h.free_port()
        c = h.Consumer(data, ingest, ["--publish", pub, "--snapshot", snap])
        rep = send_v6(ingest, 2)
        assert rep is not None and [h.status_name(r.status) for r in rep.results] == ["STORED"], \
            "over IPv6 loopback: %s" % (h.brief(rep) if rep else "no reply")
        check_subscription_side(pub, snap, events=1)
        # optally produce itself reaches an IPv6 literal (the producer sets
        # ZMQ_IPV6 for tcp://[...]: without it the run gets no answer).
        rc, out, err = h.run_produce(["--to", ingest, "--timeout-ms", "2000", "--retries", "1"],
                                     input=json.dumps(ev(3)) + "\n")
        assert rc == 0 and h.parse_summary(out)["stored"] == 1, "produce to %s: rc %d\n%s%s" % (
            ingest, rc, out, err)
        c.stop()

        # A name that does not resolve: words, exit 2, nothing left behind.
        data = os.path.join(d, "c")
        rc, err = consume(["--data", data, "--ingest", "tcp://no-such-host.invalid:%d" % h.free_port(),
                           "--publish", "none", "--snapshot", "none"])
        assert rc == 2 and "no-such-host.invalid" in err and "resolve" in err, err
        assert "another consumer" not in err, "a resolution failure blamed another consumer:\n" + err
        assert not os.path.exists(data), "left %s behind" % data
    h.log("loopback: localhost and [::1] serve ingest, publish and snapshot")


def check_subscription_side(pub, snap, events):
    """A snapshot through snap and a heartbeat through pub, both over sockets
    with ZMQ_IPV6 (which also reach IPv4 addresses)."""
    ctx = h._CTX
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.IPV6, 1)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(snap.replace("localhost", "127.0.0.1"))
    s.send(pb.SnapshotRequest(view="total").SerializeToString())
    assert s.poll(10000), "no snapshot reply through %s" % snap
    r = pb.SnapshotReply.FromString(s.recv_multipart()[-1])
    assert r.tallies and r.tallies[0].counts.events == events, r
    s.close()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.IPV6, 1)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(pub.replace("localhost", "127.0.0.1"))
    # A heartbeat comes after 1 s without updates.
    assert sub.poll(10000), "nothing published through %s" % pub
    sub.close()


def listening_port(family=socket.AF_INET, host="127.0.0.1"):
    """A socket listening on a free port (to make a bind fail). Returns (sock, port)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(1)
    return s, s.getsockname()[1]


def test_failed_start_leaves_nothing():
    with h.tempdir() as d:
        busy, port = listening_port()
        free = lambda: "tcp://127.0.0.1:%d" % h.free_port()
        taken = "tcp://127.0.0.1:%d" % port
        cases = (("ingest", ["--ingest", taken, "--publish", "none", "--snapshot", "none"]),
                 ("publish", ["--ingest", free(), "--publish", taken, "--snapshot", "none"]),
                 ("snapshot", ["--ingest", free(), "--publish", free(), "--snapshot", taken]))
        for what, args in cases:
            data = os.path.join(d, "new-" + what)
            rc, err = consume(["--data", data] + args)
            assert rc == 2 and "Address already in use" in err, "%s: rc %d\n%s" % (what, rc, err)
            assert "is another consumer running?" in err, err
            assert not os.path.exists(data), "%s in use: left a new data directory %s (%s)" % (
                what, data, os.listdir(data))

        # A directory that was there stays, empty or not.
        empty = os.path.join(d, "empty")
        os.mkdir(empty, 0o700)
        rc, err = consume(["--data", empty, "--ingest", taken, "--publish", "none", "--snapshot", "none"])
        assert rc == 2 and os.path.isdir(empty), "removed a directory it did not make: %s" % err

        store = os.path.join(d, "store")
        ep = free()
        c = h.Consumer(store, ep)
        assert h.req_send(ep, h.make_batch([ev(3)], batch_id=3)).results[0].status == pb.STORED
        c.stop()
        before = sorted(os.listdir(store))
        rc, err = consume(["--data", store, "--ingest", taken, "--publish", "none", "--snapshot", "none"])
        assert rc == 2, err
        assert sorted(os.listdir(store)) == before, "the existing store changed: %s -> %s" % (
            before, sorted(os.listdir(store)))
        rows = h.query(store, "total")
        assert rows and rows[0]["events"] == 1, "the existing store lost its event: %s" % rows
        busy.close()
    h.log("failed start: a new directory removed, existing ones untouched")


def main():
    test_limits_stated()
    test_unknown_option()
    test_out_of_range()
    test_loopback_names_and_ipv6()
    test_failed_start_leaves_nothing()
    h.log("OK")


if __name__ == "__main__":
    main()
