#!/usr/bin/python3
"""Sending the same file again changes nothing, over tcp:// and ipc://.

For each transport, on a fresh store:
  - the demo file: first run stores 94; a second run (from stdin, "-")
    answers 94 DUPLICATE and leaves every view identical (and equal to the
    model);
  - the updates file twice: each run's summary is the model's (the second:
    only DUPLICATE / STALE / REJECTED), tallies unchanged by the second run;
  - after a restart of the consumer the dedup state is still there: the demo
    file once more stores nothing (92 DUPLICATE, and 2 STALE for the events
    the updates file revised).
"""

import otharness as h


def produce(ep, args, want_rc, want_counts, label, input=None):
    rc, out, err = h.run_produce(["--to", ep] + args, input=input)
    assert rc == want_rc, "%s: produce exit %d, want %d\nstdout: %s\nstderr: %s" % (label, rc, want_rc, out, err)
    got = h.parse_summary(out)
    assert got == want_counts, "%s: summary %r, want %r" % (label, got, want_counts)


def run(transport):
    model = h.Model()
    base = [ev for _, ev in h.read_jsonl(h.DEMO_FILE)]
    updates = h.read_jsonl(h.UPDATES_FILE)
    with open(h.DEMO_FILE, "rb") as f:
        base_bytes = f.read()

    with h.tempdir("ot-idem-") as tmp:
        data = tmp + "/data"
        ep = h.tcp_endpoint() if transport == "tcp" else h.ipc_endpoint(tmp)
        h.log("%s: %s" % (transport, ep))
        c = h.Consumer(data, ep)

        want, _ = model.apply_all(base)
        produce(ep, [h.DEMO_FILE], 0, want, transport + " demo run 1")
        first = h.query_all(data)
        d = h.diff_tables(first, model.tables(), transport + " demo run 1")
        assert not d, d

        want, _ = model.apply_all(base)
        assert want == {"stored": 0, "duplicate": 94, "superseded": 0, "stale": 0, "rejected": 0}, want
        produce(ep, ["-"], 0, want, transport + " demo run 2 (stdin)", input=base_bytes)
        second = h.query_all(data)
        assert second == first, transport + ": second run changed the tallies:\n" + h.diff_tables(second, first)

        for run_no in (1, 2):
            want = h.expected_summary(model, updates)
            if run_no == 2:
                assert want["stored"] == 0 and want["superseded"] == 0, want
            produce(ep, [h.UPDATES_FILE], 1, want, "%s updates run %d" % (transport, run_no))
            h.assert_tallies(data, model, "%s updates run %d" % (transport, run_no))
            if run_no == 1:
                after_updates = h.query_all(data)
        assert h.query_all(data) == after_updates, transport + ": second updates run changed the tallies"

        c.stop()
        c = h.Consumer(data, ep)
        want, _ = model.apply_all(base)
        produce(ep, [h.DEMO_FILE], 0, want, transport + " demo run 3 (after restart)")
        # iq-003 and sy-002 have revision 1 now: their revision 0 is STALE.
        assert want == {"stored": 0, "duplicate": 92, "superseded": 0, "stale": 2, "rejected": 0}, want
        h.assert_tallies(data, model, transport + " after restart")
        c.stop()


def test():
    run("tcp")
    run("ipc")


if __name__ == "__main__":
    h.main(test)
