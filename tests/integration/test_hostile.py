#!/usr/bin/python3
"""Hostile input on every socket of the consumer, then the same daemon under
valgrind.

Phase 1, against the binary under test (ctest: the ASan+UBSan build), with
the ingest ROUTER, the snapshot ROUTER and the PUB socket all bound:
  ingest    empty frames; 2, 3, 1,000 and 100 x 64 KiB frames; one byte over
            --max-msg-size and exactly at it; random bytes (raw, and with an
            invalid first tag); truncations and bit flips of a batch; valid
            protobuf of every other message type; NUL and invalid UTF-8 in
            strings; over-long strings; a length varint that overflows; an
            unknown-field bomb over the decode budget; 10,001 events; a
            255-byte routing id; peers that leave before their reply.
  snapshot  empty frames, multi-frame, over its 64 KiB request limit, random
            bytes, other message types, unknown views, an over-long prefix,
            invalid UTF-8.
  PUB       an XSUB sending garbage and multi-frame messages, many
            subscriptions and unsubscriptions, a subscriber that never reads.
  all three ports: raw TCP peers that speak garbage instead of ZMTP, a ZMTP
            greeting followed by junk, a handshake with the wrong socket
            type, a frame header claiming 1 TiB, and 50 idle connections
            held open while a normal client is served.
Each bad input must get an error reply (or, where the protocol says so, be
dropped: over-size messages, garbage that is not ZMTP), and after each one a
fresh client must still be served (ingest: STORED; snapshot: a complete
reply; PUB: a new subscriber receives updates). Every ingest message answered
with a batch error must be counted in `optally rejects` (same number per
error name). The tallies must equal the fold of the event log (whatever
random bytes happened to be valid events), and every probe's acknowledged
seq must hold it.
  Last, a huge subscription: an XSUB sends one 4 MiB subscribe message and
disconnects. The daemon must keep answering (within 5 s) and grow by at
most 64 MiB. (A PUB socket without ZMQ_MAXMSGSIZE stores the topic in a
trie, about 32 bytes per byte, and tears it down when the peer leaves.)

Phase 2, valgrind: a plain (non-ASan) build of the same tree (the binary
under test when it is not ASan; else $OPTALLY_PLAIN_BIN when set; else one
built now with cmake from $OPTALLY_SRC into a temp dir, a few seconds) runs
`consume` under `valgrind --leak-check=full --error-exitcode=99` for a short
session: the demo data and its updates (produce, itself under valgrind), a
few bad inputs on each socket, a subscriber, query and rejects (under
valgrind), then SIGTERM. Every valgrind run must exit as the program would
without valgrind (no 99), its log must say "ERROR SUMMARY: 0 errors" and
report no definitely / indirectly / possibly lost block.

Failures are collected and reported together at the end, so one run shows
every broken case; the number of bad inputs tried per socket is printed.
"""

import collections
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import otharness as h

pb = h.pb
zmq = h.zmq
MAXMSG = 4 * 1024 * 1024
SNAP_MAX = 65536
NO_REPLY_S = 1.5
HUGE_SUB = 4 * 1024 * 1024
HUGE_SUB_GROWTH_MIB = 64


class Run:
    """Counts and failures of the whole test."""

    def __init__(self):
        self.tried = collections.Counter()     # socket -> bad inputs tried
        self.error_replies = collections.Counter()  # ingest batch error name -> n
        self.failures = []
        self.model_acks = []                    # (event_id, revision, status, seq) of probes
        self.probes = 0

    def check(self, cond, msg):
        if not cond:
            self.failures.append(msg)
            h.log("  FAILED: " + msg)
        return cond


def event(tag, **kw):
    d = {"event_id": "hostile-%s" % tag, "source": "TEST", "occurred_on": "2024-03-01",
         "country": "SY", "partner_force": "SDF", "operations": 1, "detained": 1, "type": "PARTNERED"}
    d.update(kw)
    return d


def dealer(ep, identity=None):
    s = h._CTX.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if identity is not None:
        s.setsockopt(zmq.ROUTING_ID, identity)
    s.connect(ep)
    return s


def recv_within(s, seconds):
    if s.poll(int(seconds * 1000)):
        return s.recv_multipart()
    return None


# --- probes: the daemon still serves ------------------------------------------

def probe_ingest(run, ep, label):
    run.probes += 1
    ev = event("probe-%04d" % run.probes)
    rep = h.req_send(ep, h.make_batch([ev], batch_id=run.probes), timeout_ms=5000)
    st = [h.status_name(r.status) for r in rep.results] if rep else []
    if run.check(rep is not None and rep.error == pb.BATCH_OK and st == ["STORED"],
                 "ingest after %s: a fresh client got %s, want STORED" % (label, h.brief(rep))):
        run.model_acks.append((ev["event_id"], 0, "STORED", rep.results[0].seq))
        return True
    return False


def snapshot(ep, payload_frames, wait=5.0):
    """Send frames on a fresh DEALER; return [SnapshotReply] up to last, or
    None without a (complete) reply."""
    s = dealer(ep)
    try:
        s.send_multipart(payload_frames)
        out = []
        while True:
            frames = recv_within(s, wait)
            if frames is None:
                return None
            r = pb.SnapshotReply.FromString(frames[-1])
            out.append(r)
            if r.last:
                return out
    finally:
        s.close(0)


def probe_snapshot(run, ep, label):
    reps = snapshot(ep, [pb.SnapshotRequest(view="total").SerializeToString()])
    return run.check(reps is not None and not reps[-1].error,
                     "snapshot after %s: %s" % (label, "no reply" if reps is None else
                                                 "error %r" % reps[-1].error))


def probe_pub(run, pub_ep, ingest_ep, label):
    """A new subscriber gets an update (or a heartbeat) within 3 s of a store."""
    s = h._CTX.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(pub_ep)
    try:
        time.sleep(0.3)   # the subscription must reach the PUB first
        probe_ingest(run, ingest_ep, label + " (for the subscriber)")
        got = recv_within(s, 3.0)
        return run.check(got is not None, "PUB after %s: a new subscriber got nothing in 3 s" % label)
    finally:
        s.close(0)


# --- ingest -------------------------------------------------------------------

def ingest_try(run, ep, label, frames, want, req=False, identity=None):
    """One bad input on a fresh socket. want: 'error' (a batch error reply,
    no results), 'any' (some well-formed IngestReply), 'drop' (no reply),
    or a list of statuses."""
    run.tried["ingest"] += 1
    s = h._CTX.socket(zmq.REQ if req else zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if identity is not None:
        s.setsockopt(zmq.ROUTING_ID, identity)
    s.connect(ep)
    try:
        s.send_multipart(frames)
        got = recv_within(s, NO_REPLY_S if want == "drop" else 5.0)
    finally:
        s.close(0)
    if want == "drop":
        return run.check(got is None, "ingest %s: got a reply, want the message dropped" % label)
    if not run.check(got is not None, "ingest %s: no reply within 5 s" % label):
        return False
    rep = pb.IngestReply()
    try:
        rep.ParseFromString(got[-1])
    except Exception as e:
        return run.check(False, "ingest %s: the reply is not an IngestReply (%s)" % (label, e))
    if rep.error != pb.BATCH_OK:
        run.error_replies[h.batch_error_name(rep.error)] += 1
        run.check(len(rep.results) == 0, "ingest %s: error reply with results" % label)
    if want == "error":
        return run.check(rep.error != pb.BATCH_OK, "ingest %s: %s, want a batch error" % (label, h.brief(rep)))
    if isinstance(want, list):
        st = [h.status_name(r.status) for r in rep.results]
        return run.check(st == want, "ingest %s: %s, want %r" % (label, h.brief(rep), want))
    return True


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def raw_event_bytes(fields):
    """An OperationEvent from (field number, bytes) string fields, unchecked."""
    out = b""
    for num, val in fields:
        out += varint(num << 3 | 2) + varint(len(val)) + val
    return out + varint(11 << 3) + varint(1)   # operations = 1


def batch_of_raw(events):
    return b"".join(b"\x0a" + varint(len(e)) + e for e in events)


def phase_ingest(run, rng, ep):
    h.log("ingest socket:")
    valid = h.make_batch([event("v1")])
    rejected3 = h.make_batch([event("zz%d" % i, country="ZZ") for i in range(3)], batch_id=9)
    cases = [
        ("empty frame (DEALER)", [b""], "any", False),
        ("empty frame (REQ)", [b""], "any", True),
        ("delimiter + empty payload", [b"", b""], "any", False),
        ("two payload frames", [valid, valid], "error", False),
        ("delimiter + two frames", [b"", valid, valid], "error", False),
        ("three frames", [b"a", b"b", b"c"], "error", False),
        ("1,000 one-byte frames", [b"x"] * 1000, "error", False),
        ("100 frames of 64 KiB", [os.urandom(65536) for _ in range(100)], "error", False),
        ("one byte over --max-msg-size", [b"\x0f" * (MAXMSG + 1)], "drop", False),
        ("exactly --max-msg-size of junk", [b"\x0f" + os.urandom(MAXMSG - 1)], "error", False),
        ("length varint overflowing 64 bits", [b"\x0a" + b"\xff" * 10 + b"\x01"], "error", False),
        ("length beyond the message", [b"\x0a\xff\xff\x03" + b"x" * 10], "error", False),
        ("group wire type", [b"\x0b\x0c"], "error", False),
    ]
    for label, frames, want, req in cases:
        ingest_try(run, ep, label, frames, want, req)
        probe_ingest(run, ep, label)

    for i in range(150):
        n = rng.choice([1, 2, 3, 10, 100, 1000, 8192])
        ingest_try(run, ep, "random bytes #%d (%d)" % (i, n), [rng.randbytes(n)], "any")
    probe_ingest(run, ep, "150 random messages")
    for i in range(40):
        n = rng.choice([1, 10, 1000, 65536])
        ingest_try(run, ep, "junk with an invalid tag #%d" % i, [b"\x0f" + rng.randbytes(n)], "error")
    probe_ingest(run, ep, "40 junk messages")
    for i in range(40):
        cut = rng.randrange(1, len(rejected3))
        ingest_try(run, ep, "truncated at %d" % cut, [rejected3[:cut]], "any")
    for i in range(40):
        b = bytearray(rejected3)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        ingest_try(run, ep, "bit flips #%d" % i, [bytes(b)], "any")
    probe_ingest(run, ep, "truncations and bit flips")

    ev = h.make_event(**event("other"))
    others = [
        ("SnapshotRequest", pb.SnapshotRequest(view="country", prefix="x")),
        ("SnapshotReply", pb.SnapshotReply(last=True, seq=5, error="nope")),
        ("IngestReply", pb.IngestReply(results=[pb.EventResult(status=1, seq=3)], error_text="hi")),
        ("TallyUpdate", pb.TallyUpdate(view="country", key="country/IQ", fields=["country"], values=["IQ"])),
        ("LogRecord", pb.LogRecord(seq=7, received_at=1, producer=b"p", event=ev)),
        ("RejectRecord", pb.RejectRecord(seq=1, reason=3, raw=b"\x00" * 50)),
        ("Heartbeat", pb.Heartbeat(seq=1, views=[pb.ViewSeq(view="total", view_seq=4)])),
        ("Counts", pb.Counts(events=-1, killed=-5)),
        ("OperationEvent alone", ev),
    ]
    for name, msg in others:
        ingest_try(run, ep, "a %s" % name, [msg.SerializeToString()], "any")
    probe_ingest(run, ep, "other message types")

    # Strings: NUL, invalid UTF-8, over-long.
    base = [(4, b"TEST"), (6, b"2024-03-02"), (8, b"IQ")]
    nul = raw_event_bytes([(1, b"hostile-nul\x00id")] + base)
    nul2 = raw_event_bytes([(1, b"hostile-nul2")] + base + [(16, b"a\x00b")])
    utf = raw_event_bytes([(1, b"hostile-utf8")] + base + [(16, b"\xff\xfe\xc3")])
    long_id = raw_event_bytes([(1, b"h" * 129)] + base)
    big_notes = raw_event_bytes([(1, b"hostile-notes")] + base + [(16, b"n" * (1 << 20))])
    ingest_try(run, ep, "NUL in event_id, NUL in notes",
               [batch_of_raw([nul, nul2])], ["REJECTED", "REJECTED"])
    ingest_try(run, ep, "invalid UTF-8 in notes", [batch_of_raw([utf])], ["REJECTED"])
    for num, name in ((4, "source"), (6, "occurred_on"), (8, "country"), (10, "partner_force")):
        fields = dict(base + [(1, b"hostile-utf8-" + name.encode())])
        fields[num] = b"\xff\xfe"
        ingest_try(run, ep, "invalid UTF-8 in %s" % name,
                   [batch_of_raw([raw_event_bytes(sorted(fields.items()))])], ["REJECTED"])
    ingest_try(run, ep, "129-byte event_id", [batch_of_raw([long_id])], ["REJECTED"])
    ingest_try(run, ep, "1 MiB notes", [batch_of_raw([big_notes])], "any")
    probe_ingest(run, ep, "bad strings")

    ev = h.make_event(event_id="bomb-1", source="TEST", occurred_on="2024-01-05", country="IQ",
                      operations=1).SerializeToString() + b"\xa0\x06\x00" * 1300000
    ingest_try(run, ep, "unknown-field bomb (decode budget)", [b"\x0a" + varint(len(ev)) + ev], "error")
    b = pb.EventBatch(batch_id=5)
    for i in range(h.BATCH_MAX + 1):
        b.events.add(event_id="m%d" % i)
    ingest_try(run, ep, "10,001 events", [b.SerializeToString()], "error")
    probe_ingest(run, ep, "bomb and 10,001 events")

    ingest_try(run, ep, "255-byte routing id", [h.make_batch([event("longid")])], ["STORED"],
               identity=b"\x01" + os.urandom(254))
    for i in range(20):
        run.tried["ingest"] += 1
        s = dealer(ep)
        s.send(h.make_batch([event("gone-%02d" % i)]))
        s.close(0)   # gone before the reply
    time.sleep(0.5)
    probe_ingest(run, ep, "20 peers that left before their reply")


# --- snapshot -----------------------------------------------------------------

def snap_try(run, ep, label, frames, want):
    """want: 'error' (a SnapshotReply with error), 'served' (no error),
    'any' (some complete SnapshotReply), 'drop' (no reply)."""
    run.tried["snapshot"] += 1
    try:
        reps = snapshot(ep, frames, NO_REPLY_S if want == "drop" else 5.0)
    except Exception as e:
        return run.check(False, "snapshot %s: the reply is not a SnapshotReply (%s)" % (label, e))
    if want == "drop":
        return run.check(reps is None, "snapshot %s: got a reply, want it dropped" % label)
    if not run.check(reps is not None, "snapshot %s: no complete reply within 5 s" % label):
        return False
    if want == "error":
        return run.check(bool(reps[-1].error), "snapshot %s: served, want an error reply" % label)
    if want == "served":
        return run.check(not reps[-1].error, "snapshot %s: error %r, want it served" % (label, reps[-1].error))
    return True


def phase_snapshot(run, rng, ep, ingest_ep):
    h.log("snapshot socket:")
    req = pb.SnapshotRequest(view="country").SerializeToString()
    cases = [
        ("empty frame", [b""], "served"),
        ("delimiter + empty request", [b"", b""], "served"),
        ("two frames", [req, req], "error"),
        ("delimiter + two frames", [b"", req, req], "error"),
        ("1,000 frames", [b"x"] * 1000, "error"),
        ("over the 64 KiB request limit", [b"\x0f" * (SNAP_MAX + 1)], "drop"),
        ("unknown view", [pb.SnapshotRequest(view="nope").SerializeToString()], "error"),
        ("prefix of 10 KiB", [pb.SnapshotRequest(prefix="p" * 10240).SerializeToString()], "error"),
        ("view with invalid UTF-8", [b"\x0a\x03\xff\xfe\x00"], "any"),
        ("an EventBatch", [h.make_batch([event("snap")])], "any"),
        ("an IngestReply", [pb.IngestReply(error=1, error_text="x").SerializeToString()], "any"),
        ("junk with an invalid tag", [b"\x0f" + os.urandom(1000)], "error"),
    ]
    for label, frames, want in cases:
        snap_try(run, ep, label, frames, want)
        probe_snapshot(run, ep, label)
    unparsable = 0
    for i in range(100):
        n = rng.choice([1, 2, 5, 50, 500, 5000])
        run.tried["snapshot"] += 1
        try:
            reps = snapshot(ep, [rng.randbytes(n)])
            run.check(reps is not None, "snapshot random bytes #%d (%d): no complete reply within 5 s" % (i, n))
        except Exception:
            unparsable += 1
    run.check(unparsable == 0, "snapshot: %d of 100 random requests got a reply that is not a valid "
              "SnapshotReply (invalid UTF-8 echoed into the error string?)" % unparsable)
    probe_snapshot(run, ep, "100 random requests")
    probe_ingest(run, ingest_ep, "the snapshot cases")


# --- PUB ----------------------------------------------------------------------

def phase_pub(run, rng, pub_ep, ingest_ep):
    h.log("PUB socket:")
    x = h._CTX.socket(zmq.XSUB)
    x.setsockopt(zmq.LINGER, 0)
    x.connect(pub_ep)
    time.sleep(0.2)
    for i in range(100):
        x.send(b"\x02" + rng.randbytes(rng.choice([0, 10, 1000])))   # neither subscribe nor cancel
        run.tried["pub"] += 1
    for i in range(50):
        x.send_multipart([b"\x01" + rng.randbytes(8), rng.randbytes(100), b""])
        run.tried["pub"] += 1
    for i in range(2000):
        x.send(b"\x01topic-%d" % i)
    for i in range(2000):
        x.send(b"\x00topic-%d" % i)
    x.send(b"")
    run.tried["pub"] += 4001
    time.sleep(0.3)
    x.close(0)
    lazy = h._CTX.socket(zmq.SUB)   # subscribes to everything, never reads
    lazy.setsockopt(zmq.LINGER, 0)
    lazy.setsockopt(zmq.RCVHWM, 10)
    lazy.setsockopt(zmq.SUBSCRIBE, b"")
    lazy.connect(pub_ep)
    run.tried["pub"] += 1
    probe_pub(run, pub_ep, ingest_ep, "garbage, multi-frame and 4,000 (un)subscriptions from an XSUB")
    for i in range(30):
        probe_ingest(run, ingest_ep, "a subscriber that never reads")
    lazy.close(0)


HUGE_SUB_CODE = r'''
import os, sys, time, zmq
c = zmq.Context()
x = c.socket(zmq.XSUB)
x.connect(sys.argv[1])
time.sleep(0.3)
x.send(b"\x01" + os.urandom(int(sys.argv[2])))
time.sleep(1.0)
os._exit(0)   # no clean close: pyzmq's own XSUB trie of a 4 MiB topic overflows its stack
'''


def phase_huge_subscription(run, c, pub_ep, ingest_ep):
    h.log("PUB socket, one %d MiB subscription:" % (HUGE_SUB // (1024 * 1024)))
    rss0, _ = h.rss_kib(c.pid)
    run.tried["pub"] += 1
    p = subprocess.Popen([sys.executable, "-c", HUGE_SUB_CODE, pub_ep, str(HUGE_SUB)])
    worst, slow = rss0, []
    t0 = time.monotonic()
    while time.monotonic() - t0 < 8:
        t = time.monotonic()
        rep = h.req_send(ingest_ep, h.make_batch([event("sub-%d" % int((t - t0) * 10))]), timeout_ms=5000)
        worst = max(worst, h.rss_kib(c.pid)[0])
        if rep is None:
            slow.append(round(t - t0, 1))
            break
        run.model_acks.append((event("sub-%d" % int((t - t0) * 10))["event_id"], 0,
                               h.status_name(rep.results[0].status), rep.results[0].seq))
        time.sleep(0.25)
    p.wait(10)
    growth = (worst - rss0) // 1024
    h.log("  consumer RSS %d MiB before, %d MiB at worst (+%d MiB); ingest %s" % (
        rss0 // 1024, worst // 1024, growth,
        "stalled (no reply in 5 s at %s s)" % slow if slow else "answered throughout"))
    run.check(not slow, "a %d MiB subscription from one unauthenticated XSUB (then gone) stalled ingest: "
              "no reply within 5 s, %.1f s after it was sent" % (HUGE_SUB >> 20, slow[0] if slow else 0))
    run.check(growth <= HUGE_SUB_GROWTH_MIB,
              "a %d MiB subscription grew the consumer by %d MiB (bound %d MiB): the PUB socket has no "
              "ZMQ_MAXMSGSIZE" % (HUGE_SUB >> 20, growth, HUGE_SUB_GROWTH_MIB))


# --- raw TCP ------------------------------------------------------------------

def zmtp_greeting():
    return b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31


def zmtp_ready(socket_type):
    prop = b"\x0bSocket-Type" + len(socket_type).to_bytes(4, "big") + socket_type
    body = b"\x05READY" + prop
    return b"\x04" + bytes([len(body)]) + body


def tcp_send(port, data, hold=0.2):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
            time.sleep(hold)
        except OSError:
            pass   # the daemon closed on us: fine


def phase_tcp(run, rng, ports, ingest_ep, snap_ep, pub_ep, cons):
    """cons: [the Consumer, a function that starts a new one]; a consumer
    that dies is recorded and replaced, so the other cases still run."""
    h.log("raw TCP on each port:")
    for name, port, stype in ports:
        cases = [
            ("64 KiB of random bytes", rng.randbytes(65536)),
            ("HTTP", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("a ZMTP greeting then junk", zmtp_greeting() + rng.randbytes(4096)),
            ("a handshake with the wrong socket type", zmtp_greeting() + zmtp_ready(b"PUSH") + b"\x00\x01x"),
            ("a frame claiming 1 TiB", zmtp_greeting() + zmtp_ready(stype) + b"\x02" +
             (1 << 40).to_bytes(8, "big") + rng.randbytes(4096)),
            ("a greeting cut short", zmtp_greeting()[:20]),
        ]
        for label, data in cases:
            run.tried["tcp:" + name] += 1
            tcp_send(port, data)
            time.sleep(0.1)
            c = cons[0]
            if not c.alive():
                err = c.stderr()
                run.check(False, "raw TCP on the %s port, %s: the consumer died (exit %s):\n%s" % (
                    name, label, c.proc.returncode, err[-1500:]))
                c.kill()
                cons[0] = cons[1]()
        idle = []
        for _ in range(50):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        run.tried["tcp:" + name] += 50
        probe_ingest(run, ingest_ep, "raw TCP on the %s port (50 idle connections open)" % name)
        probe_snapshot(run, snap_ep, "raw TCP on the %s port" % name)
        for s in idle:
            s.close()
    probe_pub(run, pub_ep, ingest_ep, "raw TCP on every port")


# --- checks of the store ------------------------------------------------------

def check_store(run, data):
    rows = h.mdb_log(data)
    try:
        folded = h.check_log(rows, None, run.model_acks, None, "log after the hostile input")
        d = h.diff_tables(h.query_all(data), folded.tables(), "tallies vs the fold of the log")
        run.check(not d, d)
    except AssertionError as e:
        run.check(False, str(e))
    names = set(pb.BatchError.keys())
    counted = collections.Counter(r.get("reason") for r in h.rejects(data) if r.get("reason") in names)
    run.check(counted == run.error_replies,
              "optally rejects counts batch errors %r, but the consumer answered %r" % (
                  dict(counted), dict(run.error_replies)))
    h.log("rejects: %r batch-level records, matching the error replies" % dict(counted))


# --- phase 2: valgrind --------------------------------------------------------

def plain_binary(tmp):
    """A binary without ASan for valgrind: (path, how it was found)."""
    env = os.environ.get("OPTALLY_PLAIN_BIN")
    if env:
        assert os.access(env, os.X_OK), "OPTALLY_PLAIN_BIN=%s is not executable" % env
        return env, "$OPTALLY_PLAIN_BIN"
    p = subprocess.run(["ldd", h.BIN], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if b"libasan" not in p.stdout:
        return h.BIN, "the binary under test (no ASan)"
    build = os.path.join(tmp, "plain")
    t0 = time.monotonic()
    for args in (["cmake", "-S", h.SRC, "-B", build, "-DOPTALLY_TESTS=OFF", "-DCMAKE_BUILD_TYPE=Debug"],
                 ["cmake", "--build", build, "-j", "2", "--target", "optally"]):
        q = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert q.returncode == 0, "building a plain binary for valgrind failed: %s\n%s" % (
            " ".join(args), q.stdout.decode("utf-8", "replace")[-3000:])
    return os.path.join(build, "optally"), "built from %s in %.1f s" % (h.SRC, time.monotonic() - t0)


VG = ["valgrind", "--error-exitcode=99", "--leak-check=full", "--show-leak-kinds=definite,indirect,possible",
      "--errors-for-leak-kinds=definite,indirect,possible", "--num-callers=30"]


def vg_log_ok(run, path, what):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    ok = "ERROR SUMMARY: 0 errors" in text
    for kind in ("definitely lost", "indirectly lost", "possibly lost"):
        for line in text.splitlines():
            if kind + ":" in line and " 0 bytes in 0 blocks" not in line:
                ok = False
    run.check(ok, "valgrind found errors or leaks in %s:\n%s" % (what, text[-6000:]))
    return ok


def vg_run(run, tmp, binary, args, what, want_rc, stdin=None):
    logp = os.path.join(tmp, "vg-%d.log" % (len(os.listdir(tmp))))
    p = subprocess.run(VG + ["--log-file=" + logp, binary] + args, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    run.check(p.returncode in want_rc, "valgrind %s: exit %d (99 = valgrind errors), want %r\n%s" % (
        what, p.returncode, want_rc, p.stderr.decode("utf-8", "replace")[-2000:]))
    vg_log_ok(run, logp, what)
    return p


def phase_valgrind(run, rng, tmp):
    binary, how = plain_binary(tmp)
    h.log("valgrind phase: %s (%s)" % (binary, how))
    vtmp = tempfile.mkdtemp(prefix="vg-", dir=tmp)
    data = os.path.join(vtmp, "data")
    ep, snap_ep, pub_ep = h.tcp_endpoint(), h.tcp_endpoint(), h.tcp_endpoint()
    logp = os.path.join(vtmp, "consume.vglog")
    errp = os.path.join(vtmp, "consume.stderr")
    args = VG + ["--log-file=" + logp, binary, "consume", "--data", data, "--ingest", ep,
                 "--publish", pub_ep, "--snapshot", snap_ep]
    t0 = time.monotonic()
    with open(errp, "wb") as err:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    try:
        def ready():
            with open(errp, encoding="utf-8", errors="replace") as f:
                return h.is_ready(f.read()) or proc.poll() is not None
        assert h.wait_for(ready, 60) and proc.poll() is None, \
            "consumer under valgrind did not get ready: %s" % open(errp).read()
        sub = h._CTX.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(pub_ep)
        time.sleep(0.3)
        vg_run(run, vtmp, binary, ["produce", "--to", ep, h.DEMO_FILE, h.UPDATES_FILE],
               "produce (demo data + updates)", (1,))
        run.check(recv_within(sub, 5) is not None, "valgrind session: the subscriber got no update")
        sub.close(0)
        for label, frames, want in (("random bytes", [rng.randbytes(500)], "any"),
                                    ("junk", [b"\x0f" + rng.randbytes(100)], "error"),
                                    ("three frames", [b"a", b"b", b"c"], "error"),
                                    ("over --max-msg-size", [b"\x0f" * (MAXMSG + 1)], "drop"),
                                    ("a LogRecord", [pb.LogRecord(seq=1).SerializeToString()], "any"),
                                    ("bad strings", [batch_of_raw([raw_event_bytes(
                                        [(1, b"vg\x00"), (4, b"T"), (6, b"2024-01-01"), (8, b"IQ")])])],
                                     ["REJECTED"])):
            ingest_try(run, ep, "(valgrind) " + label, frames, want)
        for label, frames, want in (("all tallies", [b""], "served"),
                                    ("unknown view", [pb.SnapshotRequest(view="x").SerializeToString()], "error"),
                                    ("two frames", [b"a", b"b"], "error"),
                                    ("random", [rng.randbytes(300)], "any")):
            snap_try(run, snap_ep, "(valgrind) " + label, frames, want)
        x = h._CTX.socket(zmq.XSUB)
        x.setsockopt(zmq.LINGER, 0)
        x.connect(pub_ep)
        time.sleep(0.2)
        x.send(b"\x02junk")
        x.send(b"\x01a-topic")
        x.close(0)
        tcp_send(int(ep.rsplit(":", 1)[1]), rng.randbytes(2048))
        run.tried["valgrind"] += 13
        probe_ingest(run, ep, "(valgrind) bad inputs")
        vg_run(run, vtmp, binary, ["query", "--data", data, "--format", "json"], "query", (0,))
        vg_run(run, vtmp, binary, ["rejects", "--data", data, "--format", "json"], "rejects", (0,))
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = None
        run.check(rc == 0, "consumer under valgrind: exit %s after SIGTERM (want 0; 99 = valgrind "
                  "errors)\n%s" % (rc, open(errp, encoding="utf-8", errors="replace").read()[-2000:]))
        vg_log_ok(run, logp, "consume")
        h.log("valgrind phase: %.1f s; consume, produce, query and rejects checked" % (time.monotonic() - t0))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    run = Run()
    with h.tempdir("ot-hostile-") as tmp:
        data = os.path.join(tmp, "data")
        ports = {k: h.free_port() for k in ("ingest", "snapshot", "publish")}
        ep, snap_ep, pub_ep = ("tcp://127.0.0.1:%d" % ports[k] for k in ("ingest", "snapshot", "publish"))
        def start():
            return h.Consumer(data, ep, ["--snapshot", snap_ep, "--publish", pub_ep, "--nosync"])
        c = start()
        probe_ingest(run, ep, "start")
        phase_ingest(run, rng, ep)
        phase_snapshot(run, rng, snap_ep, ep)
        phase_pub(run, rng, pub_ep, ep)
        run.check(c.alive(), "the consumer died during the hostile input; stderr:\n%s" % c.stderr()[-3000:])
        check_store(run, data)
        cons = [c, start]
        phase_tcp(run, rng, [("ingest", ports["ingest"], b"DEALER"),
                             ("snapshot", ports["snapshot"], b"DEALER"),
                             ("publish", ports["publish"], b"SUB")], ep, snap_ep, pub_ep, cons)
        c = cons[0]
        phase_huge_subscription(run, c, pub_ep, ep)
        if c.alive():
            c.proc.send_signal(signal.SIGTERM)
            try:
                rc = c.proc.wait(20)
                run.check(rc == 0, "consumer exit %d after SIGTERM" % rc)
            except subprocess.TimeoutExpired:
                run.check(False, "consumer still running 20 s after SIGTERM (after the huge subscription)")
            c.kill()
        if shutil.which("valgrind"):
            phase_valgrind(run, rng, tmp)
        else:
            run.check(False, "valgrind is not installed (apt-get install valgrind): the valgrind phase "
                      "cannot run; it does not skip")
    total = sum(run.tried.values())
    h.log("bad inputs tried: %d (%s); probes served: %d" % (
        total, ", ".join("%s %d" % kv for kv in sorted(run.tried.items())), run.probes))
    assert not run.failures, "%d of the checks failed:\n- %s" % (len(run.failures), "\n- ".join(run.failures))


if __name__ == "__main__":
    h.main(test)
