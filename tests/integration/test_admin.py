#!/usr/bin/env python3
"""test_admin: a view declared on a running consumer through its admin socket.

A consumer (default admin socket ipc://DATA/admin.sock, named in
DATA/admin.endpoint and on its ready line) takes a stream of events with
duplicates, revisions and retractions in three parts: before, during and
after a VIEW_ADD request sent over the admin socket (a plain DEALER with an
AdminRequest: the protocol itself, not only the CLI). While the middle part
streams, the request is answered ok (ingest goes on: every batch of the
producer is answered), and a `optally subscribe --view NAME` started right
after it follows the new view. After the stream:
  - `optally query --view NAME` and the snapshot service's rows of the view
    equal a model of the whole stream (the view's filter and dimensions
    applied to the current, non-retracted revisions), field by field;
  - the subscriber's output, folded (snapshot, then updates in view_seq
    order without a gap), equals the same model: it saw every change after
    the fill;
  - bad requests (a taken name, an unknown dimension, junk bytes) are
    answered usage=true with a reason, and change nothing;
  - after SIGTERM the endpoint file is gone.
"""

import os
import random
import time

import otharness as h
import subharness as sh
from otharness import pb, zmq

VIEW = "iq_pf_month"
DIMS = ("partner_force", "month")
WHERE = ("country=IQ",)


def admin_call(endpoint, req, timeout_ms=60000):
    """Send req (pb.AdminRequest) on a fresh DEALER; the pb.AdminReply."""
    s = sh.CTX.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, timeout_ms)
    s.connect(endpoint)
    try:
        s.send(req if isinstance(req, bytes) else req.SerializeToString())
        rep = pb.AdminReply()
        rep.ParseFromString(s.recv())
        return rep
    finally:
        s.close()


def model_view(events):
    """{(partner_force, month): counters} of VIEW over the stream events."""
    m = h.Model()
    m.apply_all(events)
    out = {}
    for e in m.current.values():
        if e["retracted"] or e["country"] != "IQ":
            continue
        key = (e["partner_force"], e["occurred_on"][:7])
        t = out.setdefault(key, dict.fromkeys(h.COUNTERS, 0))
        t["events"] += 1
        for f in h.COUNTERS[1:]:
            t[f] += h.counter_of(e, f)
    return {k: c for k, c in out.items() if any(c.values())}


def rows_table(rows, label):
    """Query-shaped rows of VIEW -> {key tuple: counters}, all-zero dropped."""
    out = {}
    for r in rows:
        assert r.get("view") == VIEW, "%s: a row of view %r: %r" % (label, r.get("view"), r)
        key = tuple(r[d] for d in DIMS)
        assert key not in out, "%s: key %r twice" % (label, key)
        c = {f: int(r[f]) for f in h.COUNTERS}
        if any(c.values()):
            out[key] = c
    return out


def fold_view(lines):
    """Fold `subscribe --view VIEW --format json` lines; assert view_seq rises
    by one per update after each snapshot. Returns (table, updates seen)."""
    table, last, updates = {}, None, 0
    for ln in lines:
        kind = ln.get("kind")
        if kind == "resync":
            table, last = {}, None
        elif kind == "snapshot":
            table[tuple(ln[d] for d in DIMS)] = {f: int(ln[f]) for f in h.COUNTERS}
        elif kind == "snapshot_end":
            last = ln.get("view_seq")
        elif kind == "update":
            if last is not None:
                assert ln["view_seq"] == last + 1, "view_seq %d after %d: a change was missed" % (
                    ln["view_seq"], last)
            last = ln["view_seq"]
            updates += 1
            table[tuple(ln[d] for d in DIMS)] = {f: int(ln[f]) for f in h.COUNTERS}
    return {k: c for k, c in table.items() if any(c.values())}, updates


def diff(got, want, label):
    if got != want:
        keys = sorted(set(got) | set(want))
        bad = [(k, got.get(k), want.get(k)) for k in keys if got.get(k) != want.get(k)]
        raise AssertionError("%s differs from the model in %d keys, e.g. %r" % (label, len(bad), bad[:3]))


def check_bad_requests(ep):
    taken = pb.AdminRequest(op=pb.AdminRequest.VIEW_ADD, request_id=11,
                            view=pb.ViewDef(name=VIEW, group_by=["country"]))
    unknown_dim = pb.AdminRequest(op=pb.AdminRequest.VIEW_ADD, request_id=12,
                                  view=pb.ViewDef(name="v2", group_by=["colour"]))
    bad_filter = pb.AdminRequest(op=pb.AdminRequest.VIEW_ADD, request_id=13,
                                 view=pb.ViewDef(name="v3", group_by=["country"], where=["country~IQ"]))
    for req, word in ((taken, VIEW), (unknown_dim, "colour"), (bad_filter, "country~IQ")):
        rep = admin_call(ep, req)
        assert not rep.ok and rep.usage and word in rep.error and rep.request_id == req.request_id, \
            "bad request %r: %r" % (req.view.name, rep)
    rep = admin_call(ep, b"\x0f\xff\x00junk")
    assert not rep.ok and rep.usage and "malformed" in rep.error, rep
    rep = admin_call(ep, pb.AdminRequest(op=pb.AdminRequest.VIEW_LIST, request_id=14))
    assert rep.ok and [v.name for v in rep.views] == [VIEW], "after bad requests: %r" % rep
    h.log("bad requests answered usage: taken name, unknown dimension, bad filter, junk")


def test():
    rng = random.Random(h.seed_from_env())
    with h.tempdir("ot-admin-") as tmp:
        data = os.path.join(tmp, "data")
        events = h.gen_events(rng, 6000)
        parts = [events[:1500], events[1500:4500], events[4500:]]
        files = []
        for i, p in enumerate(parts):
            path = os.path.join(tmp, "part%d.jsonl" % i)
            h.write_jsonl(path, p)
            files.append(path)
        c, ingest, pub, snap = sh.sub_consumer(data)
        ready = [ln for ln in c.stderr().splitlines() if "ready ingest=" in ln][0]
        want_ep = "ipc://%s/admin.sock" % os.path.realpath(data)
        assert ready.endswith(" admin=" + want_ep), "ready line: %r" % ready
        with open(os.path.join(data, "admin.endpoint")) as f:
            assert f.read() == want_ep + "\n"

        rc, out, err = h.run_produce(["--to", ingest, files[0]])
        assert rc == 0, "produce part 0: %d %s" % (rc, err)
        outp, errp = os.path.join(tmp, "p1.out"), os.path.join(tmp, "p1.err")
        bg = h.produce_bg(["--to", ingest, "--batch", "5", "--window", "1", files[1]], outp, errp)
        time.sleep(0.5)
        assert bg.poll() is None, "the middle part ended before the request: make it longer"
        t0 = time.monotonic()
        rep = admin_call(want_ep, pb.AdminRequest(
            op=pb.AdminRequest.VIEW_ADD, request_id=7,
            view=pb.ViewDef(name=VIEW, group_by=list(DIMS), where=list(WHERE))))
        took = time.monotonic() - t0
        assert rep.ok and rep.request_id == 7, "view add: %r" % rep
        assert rep.filled_events >= len(parts[0]) // 2 and rep.log_seq >= rep.filled_events - 1, rep
        assert [v.name for v in rep.views] == [VIEW] and list(rep.views[0].group_by) == list(DIMS)
        mid = bg.poll() is None
        sub = sh.Subscriber(pub, snap, ["--view", VIEW])
        h.log("view added mid-stream in %.2fs: %d log records folded, log seq %d; producer still "
              "streaming: %s" % (took, rep.filled_events, rep.log_seq, mid))
        assert bg.wait(120) == 0, "produce part 1: %s" % open(errp).read()
        rc, out, err = h.run_produce(["--to", ingest, files[2]])
        assert rc == 0, "produce part 2: %d %s" % (rc, err)

        want = model_view(events)
        assert want, "the model of the view is empty: a useless test"
        got_snap = rows_table(
            [dict([("view", t.view)] + list(zip(t.fields, t.values)) +
                  [(f, getattr(t.counts, f)) for f in h.COUNTERS])
             for t in sh.snapshot(snap, view=VIEW).tallies], "snapshot")
        diff(got_snap, want, "the snapshot service's rows of %s" % VIEW)
        diff(rows_table(h.query(data, VIEW), "query"), want, "optally query --view %s" % VIEW)

        def sub_done():
            table, _ = fold_view(sub.lines())
            return table == want
        h.wait_for(sub_done, 30)
        table, updates = fold_view(sub.lines())
        diff(table, want, "the subscriber of %s" % VIEW)
        assert updates > 0, "the subscriber saw no update after the fill"
        h.log("%s: query, snapshot and subscriber (%d updates) equal the model (%d keys)" % (
            VIEW, updates, len(want)))
        sub.stop()

        check_bad_requests(want_ep)
        c.stop()
        assert not os.path.exists(os.path.join(data, "admin.endpoint")), "endpoint file left behind"


if __name__ == "__main__":
    h.main(test)
