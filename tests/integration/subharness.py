"""subharness: what the live-subscription tests share (on top of otharness).

  sub_consumer(data, extra)  a Consumer with free --publish/--snapshot ports
  Subscriber                 one `optally subscribe --format json` process whose
                             stdout a thread reads (and can stop reading: a
                             stalled subscriber)
  fold(lines, ...)           JSON Lines of subscribe -> {view: table}, checking
                             that every segment is gap-free
  snapshot_request()         one SnapshotRequest over a fresh DEALER or REQ
  snapshot()                 a whole SnapshotReply (its chunks merged)
  wait_equal()               poll until a subscriber's table equals the query

A subscriber's output is folded as a script would: a "resync" line voids
everything; "snapshot" rows and the "snapshot_end" line rebuild the table;
each "update" sets its row (all counters zero: the row is gone). Between a
snapshot_end and the next resync, the tracked sequence (seq without a
filter, view_seq with --view) must rise by exactly one per update: the
client promises gap-free output, and the test checks it from the outside.
"""

import json
import os
import signal
import subprocess
import tempfile
import threading
import time

import otharness as h
from otharness import pb, zmq

CTX = zmq.Context.instance()


def sub_consumer(data_dir, extra=(), publish=None, snapshot=None, ingest=None):
    """A Consumer on data_dir with its own ingest, publish and snapshot
    endpoints (free TCP ports unless given). Returns (consumer, ingest,
    publish, snapshot)."""
    ingest = ingest or h.tcp_endpoint()
    publish = publish or h.tcp_endpoint()
    snapshot = snapshot or h.tcp_endpoint()
    c = h.Consumer(data_dir, ingest, ["--publish", publish, "--snapshot", snapshot] + list(extra))
    return c, ingest, publish, snapshot


def key_of(row):
    """(view, key tuple) of a query or subscribe row."""
    v = row["view"]
    return v, tuple(row[f] for f in h.VIEWS[v])


def fold(lines, track=None, gapless=True):
    """Fold subscribe JSON lines (dicts) into {view: {key: counters}} without
    all-zero rows. track: None (check seq), or a view name (check its
    view_seq); gapless=False (a --prefix filter hides some updates of the
    view): the sequence need only rise. Returns (tables, complete, stats) where complete says the last
    snapshot ended, and stats counts snapshots, updates and resyncs.
    Raises AssertionError on a gap in the printed stream."""
    table = {}
    complete = False
    last = None
    stats = {"snapshots": 0, "updates": 0, "resyncs": 0, "rows": 0}
    for n, r in enumerate(lines, 1):
        kind = r.get("kind")
        if kind == "resync":
            table, complete, last = {}, False, None
            stats["resyncs"] += 1
        elif kind == "snapshot":
            assert not complete, "line %d: a snapshot row after snapshot_end: %r" % (n, r)
            table[key_of(r)] = {c: int(r[c]) for c in h.COUNTERS}
            stats["rows"] += 1
        elif kind == "snapshot_end":
            complete = True
            last = r["view_seq"] if track else r["seq"]
            stats["snapshots"] += 1
        elif kind == "update":
            assert complete, "line %d: an update before snapshot_end: %r" % (n, r)
            s = r["view_seq"] if track else r["seq"]
            if track:
                assert r["view"] == track, "line %d: update of view %s under --view %s" % (n, r["view"], track)
            assert s == last + 1 or (not gapless and s > last), "line %d: printed %s %d after %d: a gap in the output: %r" % (
                n, "view_seq" if track else "seq", s, last, r)
            last = s
            table[key_of(r)] = {c: int(r[c]) for c in h.COUNTERS}
            stats["updates"] += 1
        else:
            raise AssertionError("line %d: unknown kind: %r" % (n, r))
    out = {}
    for (v, k), c in table.items():
        if any(c.values()):
            out.setdefault(v, {})[k] = c
    return out, complete, stats


class Subscriber:
    """`optally subscribe --from PUB,SNAP --format json ARGS`.

    A thread reads stdout line by line and keeps (monotonic time of the
    read, raw line). pause() makes it stop reading: the pipe fills and the
    subscriber blocks writing, as a stalled consumer of its output would make
    it; resume() reads on. stop() sends SIGTERM and asserts exit code 0."""

    def __init__(self, publish, snapshot, args=(), track=None, gapless=True):
        self.track = track
        self.gapless = gapless
        self.args = [h.BIN, "subscribe", "--from", publish + "," + snapshot, "--format", "json"] + list(args)
        fd, self.stderr_path = tempfile.mkstemp(prefix="optally-subscribe-", suffix=".stderr", dir="/tmp")
        self._err = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._err)
        self.raw = []           # (monotonic time read, bytes line)
        self._lock = threading.Lock()
        self._go = threading.Event()
        self._go.set()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        h._live.append(self)    # killed by otharness at exit, whatever happens

    def _read(self):
        f = self.proc.stdout
        while True:
            self._go.wait()
            line = f.readline()
            if not line:
                return
            t = time.monotonic()
            with self._lock:
                self.raw.append((t, line))

    def pause(self):
        self._go.clear()

    def resume(self):
        self._go.set()

    def lines(self):
        with self._lock:
            raw = list(self.raw)
        out = []
        for i, (_, line) in enumerate(raw, 1):
            try:
                out.append(json.loads(line))
            except ValueError as e:
                raise AssertionError("subscribe stdout line %d is not JSON (%s): %r\nstderr:\n%s" % (
                    i, e, line, self.stderr()))
        return out

    def table(self):
        """(tables, complete, stats) of fold() over the lines so far."""
        return fold(self.lines(), self.track, self.gapless)

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM; assert exit code 0. Returns the stderr text."""
        assert self.alive(), "subscriber died (rc %s); stderr:\n%s" % (self.proc.returncode, self.stderr())
        self.resume()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("subscriber still running %ds after SIGTERM; stderr:\n%s" % (
                timeout, self.stderr()))
        self._thread.join(5)
        err = self.stderr()
        assert rc == 0, "subscriber exit %d after SIGTERM (want 0); stderr:\n%s" % (rc, err)
        self.close()
        return err

    def close(self):
        """SIGKILL if still running; forget the stderr file. Safe twice."""
        if self in h._live:
            h._live.remove(self)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self._err.closed:
            self._err.close()
        try:
            os.unlink(self.stderr_path)
        except OSError:
            pass

    kill = close    # what otharness's exit clean-up calls

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def want_tables(data_dir, views=None):
    """The query's tables (all-zero rows dropped) for views (default all)."""
    views = views or list(h.VIEWS)
    return {v: t for v, t in ((v, h.tally_table(h.query(data_dir, v), v)) for v in views) if t}


def restrict(tables, prefix):
    """Only the rows whose tally key starts with prefix (keys as view/v/v)."""
    out = {}
    for v, t in tables.items():
        for k, c in t.items():
            key = "/".join((v,) + tuple(x.replace("%", "%25").replace("/", "%2F") for x in k))
            if key.startswith(prefix):
                out.setdefault(v, {})[k] = c
    return out


def wait_equal(sub, want, timeout, label):
    """Poll sub's folded table until it equals want; AssertionError with the
    differences otherwise. Returns the fold's stats."""
    deadline = time.monotonic() + timeout
    while True:
        got, complete, stats = sub.table()
        if complete and got == want:
            return stats
        if time.monotonic() >= deadline:
            d = h.diff_tables(got, want, label) or "(tables equal, but the last snapshot is incomplete)"
            raise AssertionError("%s: subscriber's table differs from the query after %ds (stats %r):\n%s"
                                 "\nsubscriber stderr:\n%s" % (label, timeout, stats, d[:4000],
                                                                sub.stderr()[-3000:]))
        time.sleep(0.2)


def snapshot_request(endpoint, frames, req=False, timeout_ms=5000):
    """Send frames (a list of bytes) on a fresh DEALER (or REQ when req) and
    return the reply's frames, or None without a reply within timeout_ms."""
    s = CTX.socket(zmq.REQ if req else zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    try:
        s.connect(endpoint)
        s.send_multipart(frames)
        try:
            return s.recv_multipart()
        except zmq.Again:
            return None
    finally:
        s.close()


def snapshot(endpoint, view="", prefix="", req=False, max_message_bytes=0, stats=None):
    """A decoded pb.SnapshotReply for SnapshotRequest(view, prefix,
    max_message_bytes). Over a DEALER (snapshot_chunks), every message of
    the reply (chunks of at most max_message_bytes, or 1 MiB) merged into
    one; over a REQ, its one message. stats (a dict, optional) gets
    "chunks" and "max_bytes"."""
    if not req:
        return snapshot_chunks(endpoint, view, prefix, max_message_bytes, stats=stats)
    rq = pb.SnapshotRequest(view=view, prefix=prefix, max_message_bytes=max_message_bytes)
    frames = snapshot_request(endpoint, [rq.SerializeToString()], req)
    assert frames is not None, "no snapshot reply from %s within 5 s" % endpoint
    r = pb.SnapshotReply()
    r.ParseFromString(frames[-1])
    if stats is not None:
        stats.update(chunks=1, max_bytes=len(frames[-1]))
    return r


def snapshot_chunks(endpoint, view="", prefix="", max_message_bytes=0, timeout_ms=5000, stats=None):
    """The reply to SnapshotRequest(view, prefix, max_message_bytes) over a
    DEALER: every message up to the one with last set (or an error), each
    checked (its chunk index 0, 1, ...; at most max_message_bytes when
    given), merged into one SnapshotReply (the rows of all, the sequences of
    the last), whose rows count must match (an older consumer's single
    message has chunk = rows = 0: not checked)."""
    rq = pb.SnapshotRequest(view=view, prefix=prefix, max_message_bytes=max_message_bytes)
    s = CTX.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    merged = pb.SnapshotReply()
    sizes = []
    try:
        s.connect(endpoint)
        s.send(rq.SerializeToString())
        while True:
            try:
                frames = s.recv_multipart()
            except zmq.Again:
                raise AssertionError("snapshot from %s: no message %d within %d ms" % (
                    endpoint, len(sizes), timeout_ms))
            part = pb.SnapshotReply()
            part.ParseFromString(frames[-1])
            assert part.chunk == len(sizes), "snapshot message %d has chunk index %d" % (
                len(sizes), part.chunk)
            assert not max_message_bytes or len(frames[-1]) <= max_message_bytes, \
                "snapshot message %d of %d bytes, over the %d asked" % (
                    len(sizes), len(frames[-1]), max_message_bytes)
            sizes.append(len(frames[-1]))
            merged.MergeFrom(part)
            if part.last or part.error:
                break
    finally:
        s.close()
    assert merged.error or not (merged.rows or merged.chunk) or merged.rows == len(merged.tallies), \
        "snapshot: %d rows received, the last message says %d" % (len(merged.tallies), merged.rows)
    if stats is not None:
        stats.update(chunks=len(sizes), max_bytes=max(sizes))
    return merged
