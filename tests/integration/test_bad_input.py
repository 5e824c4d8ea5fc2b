#!/usr/bin/python3
"""Garbage on the ingest socket never hurts the daemon.

Each case uses a fresh zmq.REQ socket:
  - random bytes             -> reply with error UNDECODABLE, no results;
  - a truncated EventBatch   -> reply with an error, no results;
  - two payload frames       -> reply with error MULTI_FRAME, no results;
  - 10,001 minimal events    -> reply with error TOO_MANY_EVENTS, no results;
  - (consumer restarted with --max-msg-size 65536) 100 KB -> no reply at all
    (the connection is dropped), while a 30 KB batch still gets one.
After EVERY case a fresh REQ client gets STORED for a new valid event and the
consumer process is still alive. `optally rejects` lists the undecodable
message (reason UNDECODABLE). Tallies equal the model of the valid events.
"""

import random

import otharness as h

pb = h.pb
NO_REPLY_MS = 1500


def valid_event(tag, **kw):
    d = {"event_id": "bad-input-probe-%s" % tag, "source": "TEST", "occurred_on": "2024-03-15",
         "country": "IQ", "partner_force": "ISF", "operations": 1, "detained": 1, "type": "PARTNERED"}
    d.update(kw)
    return d


class Probe:
    """After each bad message: a new client must still be served."""

    def __init__(self, model):
        self.model = model
        self.n = 0

    def check(self, consumer, label):
        assert consumer.alive(), "%s: consumer died (rc %s); stderr:\n%s" % (
            label, consumer.proc.returncode, consumer.stderr())
        self.n += 1
        ev = valid_event("%02d" % self.n)
        rep = h.req_send(consumer.endpoint, h.make_batch([ev], batch_id=self.n))
        assert rep is not None, "%s: the daemon no longer answers a fresh client" % label
        assert rep.error == pb.BATCH_OK, "%s: then a valid batch got error %s (%s)" % (
            label, h.batch_error_name(rep.error), rep.error_text)
        st = [h.status_name(r.status) for r in rep.results]
        assert st == ["STORED"], "%s: then a new valid event got %r, want ['STORED']" % (label, st)
        assert rep.batch_id == self.n, "%s: batch_id %d echoed, want %d" % (label, rep.batch_id, self.n)
        self.model.apply(ev)
        assert consumer.alive(), "%s: consumer died after the probe" % label


def expect_error(ep, payload, want, label, multipart=False):
    """Send payload; assert an error reply (want: a BatchError name, or None
    for any error)."""
    if multipart:
        s = h._CTX.socket(h.zmq.REQ)
        s.setsockopt(h.zmq.LINGER, 0)
        s.setsockopt(h.zmq.RCVTIMEO, 5000)
        try:
            s.connect(ep)
            s.send_multipart(payload)
            try:
                frames = s.recv_multipart()
            except h.zmq.Again:
                frames = None
        finally:
            s.close(0)
        rep = None
        if frames is not None:
            assert len(frames) == 1, "%s: reply has %d frames" % (label, len(frames))
            rep = pb.IngestReply()
            rep.ParseFromString(frames[0])
    else:
        rep = h.req_send(ep, payload)
    assert rep is not None, "%s: no reply within 5 s (want an error reply)" % label
    name = h.batch_error_name(rep.error)
    if want is None:
        assert rep.error != pb.BATCH_OK, "%s: reply without error: %s" % (label, h.brief(rep))
    else:
        assert name == want, "%s: error %s (%s), want %s" % (label, name, rep.error_text, want)
    assert len(rep.results) == 0, "%s: error reply with %d results" % (label, len(rep.results))
    h.log("%s: %s (%s)" % (label, name, rep.error_text))


def must_not_parse(data, label):
    try:
        pb.EventBatch().ParseFromString(data)
    except Exception:
        return
    raise AssertionError("test bug: %s parses as an EventBatch" % label)


def test():
    rng = random.Random(1234)
    model = h.Model()
    probe = Probe(model)
    with h.tempdir("ot-bad-") as tmp:
        data = tmp + "/data"
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep)
        probe.check(c, "fresh consumer")

        # Random bytes, starting with a tag of the invalid wire type 7.
        junk = b"\x0f" + bytes(rng.randrange(256) for _ in range(300))
        must_not_parse(junk, "random bytes")
        expect_error(ep, junk, "UNDECODABLE", "random bytes")
        probe.check(c, "after random bytes")

        # A valid batch cut inside its last event.
        whole = h.make_batch([valid_event("t1"), valid_event("t2")])
        cut = whole[:-5]
        must_not_parse(cut, "truncated batch")
        expect_error(ep, cut, None, "truncated batch")
        probe.check(c, "after truncated batch")

        # Two payload frames in one request.
        one = h.make_batch([valid_event("mf")], batch_id=77)
        expect_error(ep, [one, one], "MULTI_FRAME", "two frames", multipart=True)
        probe.check(c, "after two frames")

        # One event over the per-batch limit.
        b = pb.EventBatch(batch_id=5)
        for i in range(h.BATCH_MAX + 1):
            b.events.add(event_id="m%d" % i)
        expect_error(ep, b.SerializeToString(), "TOO_MANY_EVENTS", "10,001 events")
        probe.check(c, "after 10,001 events")

        rows = h.rejects(data)
        reasons = [r.get("reason") for r in rows]
        assert "UNDECODABLE" in reasons, "rejects lacks the undecodable message: %r" % rows
        for r in rows:
            assert "seq" in r and "text" in r, "rejects row lacks seq/text: %r" % r
        c.stop()

        # The message size limit: the connection is dropped, no reply.
        c = h.Consumer(data, ep, ["--max-msg-size", "65536"])
        probe.check(c, "restart with --max-msg-size 65536")
        notes = "x" * 900
        small = [valid_event("s%03d" % i, notes=notes) for i in range(30)]
        payload = h.make_batch(small, batch_id=30)
        assert 25000 < len(payload) < 65536, len(payload)
        rep = h.req_send(ep, payload)
        assert rep is not None and rep.error == pb.BATCH_OK, "a %d-byte batch under the limit: %s" % (len(payload), h.brief(rep))
        model.apply_all(small)
        big = [valid_event("b%03d" % i, notes=notes) for i in range(110)]
        payload = h.make_batch(big, batch_id=100)
        assert len(payload) > 100000, len(payload)
        rep = h.req_send(ep, payload, timeout_ms=NO_REPLY_MS)
        assert rep is None, "a %d-byte message over --max-msg-size 65536 got a reply: %s" % (
            len(payload), h.brief(rep))
        probe.check(c, "after 100 KB message")

        h.assert_tallies(data, model, "end")
        c.stop()
        h.assert_tallies(data, model, "after stop")


if __name__ == "__main__":
    h.main(test)
