#!/usr/bin/python3
"""A plain zmq.REQ client speaks the ingest protocol (no optally produce).

  - an EventBatch of 3 events -> an IngestReply with error BATCH_OK, 3
    results all STORED, in order, with distinct non-zero seqs, batch_id echoed;
  - the same batch again -> 3 DUPLICATE, each with the seq of its stored
    revision, batch_id echoed;
  - a mixed batch (a revision, a re-scrape differing only in reported_at, an
    invalid event, a new event, the older revision) -> SUPERSEDED, DUPLICATE,
    REJECTED(UNKNOWN_COUNTRY, with text), STORED, STALE, in request order;
  - an empty batch still gets one reply, batch_id echoed;
  - tallies equal the model's; `optally rejects` has the invalid event.
"""

import otharness as h

pb = h.pb


def ev(i, **kw):
    d = {"event_id": "req-client-%03d" % i, "source": "TEST", "occurred_on": "2024-02-%02d" % (i + 1),
         "country": "IQ" if i % 2 else "SY", "partner_force": "ISF" if i % 2 else "SDF",
         "operations": 1, "killed": i % 3, "detained": i, "type": "PARTNERED",
         "reported_at": 1712059200000}
    d.update(kw)
    return d


def statuses(rep):
    return [h.status_name(r.status) for r in rep.results]


def test():
    model = h.Model()
    with h.tempdir("ot-req-") as tmp:
        data = tmp + "/data"
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep)

        events = [ev(1), ev(2), ev(3)]
        batch = h.make_batch(events, batch_id=4242)
        rep = h.req_send(ep, batch)
        assert rep is not None, "no reply to a valid EventBatch within 5 s"
        assert rep.error == pb.BATCH_OK, "batch error %s: %s" % (h.batch_error_name(rep.error), rep.error_text)
        assert rep.batch_id == 4242, "batch_id %d echoed, want 4242" % rep.batch_id
        assert statuses(rep) == ["STORED"] * 3, "first send: %r" % statuses(rep)
        seqs = [r.seq for r in rep.results]
        assert all(seqs) and len(set(seqs)) == 3, "seqs of STORED events: %r" % seqs
        model.apply_all(events)

        rep = h.req_send(ep, batch)
        assert rep is not None, "no reply to the second send"
        assert rep.error == pb.BATCH_OK, "second send: batch error %s" % h.batch_error_name(rep.error)
        assert rep.batch_id == 4242, "second send: batch_id %d echoed, want 4242" % rep.batch_id
        assert statuses(rep) == ["DUPLICATE"] * 3, "second send: %r" % statuses(rep)
        dup_seqs = [r.seq for r in rep.results]
        assert dup_seqs == seqs, "DUPLICATE seqs %r, want the stored ones %r" % (dup_seqs, seqs)
        h.assert_tallies(data, model, "after duplicate send")

        # A mixed batch: each event gives one status, in request order.
        mixed = [ev(2, revision=1, killed=5),                 # SUPERSEDED
                 ev(1, revision=0, reported_at=1),            # DUPLICATE (only reported_at differs)
                 ev(4, country="ZZ"),                         # REJECTED UNKNOWN_COUNTRY
                 ev(5),                                       # STORED
                 ev(2, revision=0)]                           # STALE (after its revision 1)
        want = ["SUPERSEDED", "DUPLICATE", "REJECTED", "STORED", "STALE"]
        _, outcomes = model.apply_all(mixed)
        assert [s for s, _ in outcomes] == want, "model: %r" % outcomes
        rep = h.req_send(ep, h.make_batch(mixed, batch_id=(1 << 63) + 7))
        assert rep is not None, "no reply to the mixed batch"
        assert rep.error == pb.BATCH_OK, "mixed: batch error %s" % h.batch_error_name(rep.error)
        assert rep.batch_id == (1 << 63) + 7, "mixed: batch_id %d echoed" % rep.batch_id
        assert statuses(rep) == want, "mixed batch: %r, want %r" % (statuses(rep), want)
        rej = rep.results[2]
        assert h.reason_name(rej.reason) == "UNKNOWN_COUNTRY", "reason %s" % h.reason_name(rej.reason)
        assert rej.reason_text, "REJECTED without reason_text"
        assert rep.results[1].seq == seqs[0], "DUPLICATE seq %d, want %d" % (rep.results[1].seq, seqs[0])
        assert rep.results[0].seq > max(seqs), "SUPERSEDED seq %d not after %r" % (rep.results[0].seq, seqs)
        h.assert_tallies(data, model, "after mixed batch")

        rows = h.rejects(data)
        assert [(r.get("event_id"), r["reason"]) for r in rows] == [("req-client-004", "UNKNOWN_COUNTRY")], \
            "rejects: %r" % rows

        # An empty batch still gets its one answer (an error or no results).
        rep = h.req_send(ep, h.make_batch([], batch_id=9))
        assert rep is not None, "no reply to an empty batch"
        assert rep.batch_id == 9 and len(rep.results) == 0, "empty batch: %s" % h.brief(rep)
        c.stop()


if __name__ == "__main__":
    h.main(test)
