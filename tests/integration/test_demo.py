#!/usr/bin/python3
"""The demo pipeline on the bundled data, end to end over tcp://.

1. produce data/centcom-q1-2024.jsonl: exit 0, "stored 94, duplicate 0,
   superseded 0, stale 0, rejected 0"; the country,quarter view holds exactly
   the published figures (IQ 66 operations, 11 killed, 36 detained; SY 28, 7,
   27); the total view is their sum; every view equals the model's.
2. produce data/centcom-q1-2024-updates.jsonl: exit 1 (some rejected); the
   summary gives the counts the file is built for (and the model agrees);
   tallies equal the model's and the figures in data/README.md; stderr names
   each rejected line with its reason, and the malformed line with its line
   number; `optally rejects` lists each invalid event with its reason.
3. after a clean stop, the store still answers the same.
"""

import re

import otharness as h

# What the updates file is built to give, line by line (see data/README.md):
# line -> (event_id, reason) for the rejected ones.
UPDATES_REJECTED = {
    7: ("centcom-2024q1-invalid-country", "UNKNOWN_COUNTRY"),
    8: ("centcom-2024q1-invalid-date", "BAD_DATE"),
    10: ("centcom-2024q1-invalid-future", "FUTURE_DATE"),
    11: ("centcom-2024q1-invalid-count", "COUNT_TOO_LARGE"),
    12: ("centcom-2024q1-invalid-empty", "EMPTY_EVENT"),
    13: ("centcom-2024q1-sy-003", "CONFLICT"),
}
UPDATES_MALFORMED_LINE = 9
# "rejected" counts the 6 rejected events and the malformed line.
UPDATES_SUMMARY = {"stored": 0, "duplicate": 3, "superseded": 2, "stale": 1, "rejected": 7}

COUNTERS = h.COUNTERS
BASE_CQ = {("IQ", "2024-Q1"): (66, 66, 11, 36, 0), ("SY", "2024-Q1"): (28, 28, 7, 27, 0)}
AFTER_CQ = {("IQ", "2024-Q1"): (66, 66, 11, 38, 0), ("SY", "2024-Q1"): (27, 27, 6, 27, 0)}


def as_tuples(table):
    return {k: tuple(c[f] for f in COUNTERS) for k, c in table.items()}


def check_cq_and_total(data, want_cq, label):
    cq = h.tally_table(h.query(data, "country,quarter"), "country,quarter")
    assert as_tuples(cq) == want_cq, "%s: country,quarter view is %r, want %r" % (label, as_tuples(cq), want_cq)
    total = as_tuples(h.tally_table(h.query(data, "total"), "total"))
    want_total = tuple(sum(v[i] for v in want_cq.values()) for i in range(len(COUNTERS)))
    assert total == {(): want_total}, "%s: total view is %r, want %r" % (label, total, want_total)


def test():
    model = h.Model()
    base = [ev for _, ev in h.read_jsonl(h.DEMO_FILE)]
    assert len(base) == 94 and all(base), "data/centcom-q1-2024.jsonl should hold 94 JSON events"
    want, _ = model.apply_all(base)
    assert want == {"stored": 94, "duplicate": 0, "superseded": 0, "stale": 0, "rejected": 0}, want

    with h.tempdir() as tmp:
        data = tmp + "/data"
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep)

        # 1. the base file
        rc, out, err = h.run_produce(["--to", ep, h.DEMO_FILE])
        assert rc == 0, "produce base file: exit %d, want 0\nstdout: %s\nstderr: %s" % (rc, out, err)
        assert "stored 94, duplicate 0, superseded 0, stale 0, rejected 0" in out, \
            "produce base file: summary %r" % out
        check_cq_and_total(data, BASE_CQ, "after base file")
        h.assert_tallies(data, model, "after base file")
        # The other output formats at least run and show the data.
        for fmt in ("table", "csv"):
            rc2, out2, err2 = h._run(["query", "--data", data, "--view", "country,quarter", "--format", fmt])
            assert rc2 == 0 and "IQ" in out2 and "SY" in out2, \
                "query --format %s: exit %d\n%s%s" % (fmt, rc2, out2, err2)
        assert h.rejects(data) == [], "rejects after the base file: %r" % h.rejects(data)

        # 2. the updates file
        lines = h.read_jsonl(h.UPDATES_FILE)
        want = h.expected_summary(model, lines)
        assert want == UPDATES_SUMMARY, "the model disagrees with the updates file: %r" % want
        rc, out, err = h.run_produce(["--to", ep, h.UPDATES_FILE])
        assert rc == 1, "produce updates: exit %d, want 1 (rejects)\nstdout: %s\nstderr: %s" % (rc, out, err)
        got = h.parse_summary(out)
        assert got == UPDATES_SUMMARY, "produce updates: summary %r, want %r" % (got, UPDATES_SUMMARY)
        check_cq_and_total(data, AFTER_CQ, "after updates file")
        h.assert_tallies(data, model, "after updates file")

        # stderr: FILE:LINE: rejected: REASON: text, and FILE:LINE: malformed: message
        name = re.escape("centcom-q1-2024-updates.jsonl")
        for line, (eid, reason) in UPDATES_REJECTED.items():
            pat = r"%s:%d: rejected: %s\b" % (name, line, reason)
            assert re.search(pat, err), "produce stderr lacks /%s/:\n%s" % (pat, err)
        pat = r"%s:%d: malformed: \S" % (name, UPDATES_MALFORMED_LINE)
        assert re.search(pat, err), "produce stderr lacks /%s/:\n%s" % (pat, err)
        nrej = len(re.findall(r":\d+: rejected: ", err))
        assert nrej == len(UPDATES_REJECTED), "produce stderr has %d 'rejected' lines, want %d:\n%s" % (
            nrej, len(UPDATES_REJECTED), err)

        # optally rejects: one row per invalid event, with its reason
        rows = h.rejects(data)
        for r in rows:
            for f in ("seq", "reason", "text"):
                assert f in r, "rejects row lacks %r: %r" % (f, r)
        got_pairs = sorted((r.get("event_id"), r["reason"]) for r in rows)
        want_pairs = sorted(UPDATES_REJECTED.values())
        assert got_pairs == want_pairs, "rejects lists %r, want %r" % (got_pairs, want_pairs)
        assert all(r["text"] for r in rows), "a reject without text: %r" % rows
        assert len({r["seq"] for r in rows}) == len(rows), "reject seqs not distinct: %r" % rows

        # 3. a clean stop keeps everything
        c.stop()
        check_cq_and_total(data, AFTER_CQ, "after stop")
        h.assert_tallies(data, model, "after stop")


if __name__ == "__main__":
    h.main(test)
