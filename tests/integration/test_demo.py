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

Between 1 and 2, the release as published (data/centcom-q1-2024-release.jsonl:
the theatre-wide aggregate, its Iraq and Syria parts, three point-in-time
figures): `reconcile --view country,quarter` sets the release's totals
beside the operations with difference 0 (every counter but events), the
theatre-wide total is unplaced there and counts alone in `total`;
`figures` lists the three figures as the file gives them; --check-parts is
clean. After 2, reconcile follows the corrections. Then the incidents file
(consumer ranked CENTCOM,SDF): each incident counts once with its counted
report, and `disagreements` lists the one whose reports differ. The
expectations are computed here from the data files (placement, shadowing,
ranking), never taken from the output.
"""

import json
import os
import re

import otharness as h

RELEASE_FILE = os.path.join(h.DATA, "centcom-q1-2024-release.jsonl")
INCIDENTS_FILE = os.path.join(h.DATA, "incidents-example.jsonl")
RANK = ["CENTCOM", "SDF"]
COUNTS7 = ("events", "operations", "killed", "detained", "wounded", "killed_low", "killed_high")
FIGURE_ROW_KEYS = ["metric", "scope", "as_of", "value", "qualifier", "low", "high", "unit",
                   "source", "figure_id"]
RECONCILE_ROW_KEYS = ["view", "country", "quarter", "reported", "observed", "difference", "aggregates"]

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
# The seed's operations give no estimates: killed_low = killed_high = killed.
BASE_CQ = {("IQ", "2024-Q1"): (66, 66, 11, 36, 0, 11, 11), ("SY", "2024-Q1"): (28, 28, 7, 27, 0, 7, 7)}
AFTER_CQ = {("IQ", "2024-Q1"): (66, 66, 11, 38, 0, 11, 11), ("SY", "2024-Q1"): (27, 27, 6, 27, 0, 6, 6)}


def as_tuples(table):
    return {k: tuple(c[f] for f in COUNTERS) for k, c in table.items()}


def check_cq_and_total(data, want_cq, label):
    cq = h.tally_table(h.query(data, "country,quarter"), "country,quarter")
    assert as_tuples(cq) == want_cq, "%s: country,quarter view is %r, want %r" % (label, as_tuples(cq), want_cq)
    total = as_tuples(h.tally_table(h.query(data, "total"), "total"))
    want_total = tuple(sum(v[i] for v in want_cq.values()) for i in range(len(COUNTERS)))
    assert total == {(): want_total}, "%s: total view is %r, want %r" % (label, total, want_total)


# --- reports as published: a small model of the rules, from the data files ---

def counts_of(ev):
    """The 7 counters of one event (zero when retracted; estimates 0 = killed)."""
    if ev.get("retracted"):
        return dict.fromkeys(COUNTS7, 0)
    k = ev.get("killed", 0)
    return {"events": 1, "operations": ev.get("operations", 0), "killed": k,
            "detained": ev.get("detained", 0), "wounded": ev.get("wounded", 0),
            "killed_low": ev.get("killed_low") or k, "killed_high": ev.get("killed_high") or k}


def add(a, b, sign=1):
    return {f: a[f] + sign * b[f] for f in COUNTS7}


def quarter(date):
    return "%s-Q%d" % (date[:4], (int(date[5:7]) - 1) // 3 + 1)


def agg_key(view, ev):
    """The key of an aggregate in view (a tuple of field values), or None."""
    if view == "total":
        return ()
    countries = [ev["country"]] if ev.get("country") else ev.get("countries", [])
    if len(countries) != 1 or quarter(ev["occurred_on"]) != quarter(ev["occurred_until"]):
        return None
    return (countries[0], quarter(ev["occurred_on"]))


def reported(view, aggs):
    """{key: (counts, [counted ids])} and [unplaced ids] of the aggregates
    in view: an aggregate counts in its key unless an ancestor is placed
    in the same key."""
    by_id = {a["event_id"]: a for a in aggs if not a.get("retracted")}
    out, unplaced = {}, []
    for a in sorted(by_id.values(), key=lambda a: a["event_id"]):
        key = agg_key(view, a)
        if key is None:
            unplaced.append(a["event_id"])
            continue
        p, shadowed = a.get("parent_id"), False
        while p in by_id:
            shadowed = shadowed or agg_key(view, by_id[p]) == key
            p = by_id[p].get("parent_id")
        if not shadowed:
            c, ids = out.get(key, (dict.fromkeys(COUNTS7, 0), []))
            out[key] = (add(c, counts_of(a)), ids + [a["event_id"]])
    return out, unplaced


def reconcile(data, view, fmt="json"):
    rc, out, err = h._run(["reconcile", "--data", data, "--view", view, "--format", fmt])
    assert rc == 0, "reconcile --view %s: exit %d\n%s" % (view, rc, err)
    return out if fmt != "json" else h._jsonl(out, "reconcile --view " + view)


def observed7(data, view):
    """The query rows of view as {key: 7 counters}."""
    fields = h.VIEWS[view]
    return {tuple(r[f] for f in fields): {f: r[f] for f in COUNTS7} for r in h.query(data, view)}


def check_reconcile(data, aggs, label):
    """reconcile's rows of country,quarter and total, field by field: the
    reported side from the model, the observed side equal to query's.
    Returns {view: the model's reported side}."""
    model_rep = {}
    for view in ("country,quarter", "total"):
        rows = reconcile(data, view)
        assert rows and rows[-1].keys() == {"view", "unplaced"}, \
            "%s: reconcile %s: no final unplaced row: %r" % (label, view, rows[-1:])
        rep, unplaced = reported(view, aggs)
        model_rep[view] = rep
        assert rows[-1] == {"view": view, "unplaced": unplaced}, \
            "%s: reconcile %s: unplaced row %r, want %r" % (label, view, rows[-1], unplaced)
        obs = observed7(data, view)
        fields = h.VIEWS[view]
        want_keys = sorted(set(obs) | set(rep))
        got_keys = [tuple(r[f] for f in fields) for r in rows[:-1]]
        assert got_keys == want_keys, "%s: reconcile %s keys %r, want %r" % (label, view, got_keys, want_keys)
        zero = dict.fromkeys(COUNTS7, 0)
        for r, key in zip(rows, want_keys):
            keys = [k for k in RECONCILE_ROW_KEYS if k == "view" or k not in ("country", "quarter")
                    or k in fields]
            assert list(r) == keys, "%s: reconcile row keys %r, want %r" % (label, list(r), keys)
            wrep, wids = rep.get(key, (zero, []))
            wobs = obs.get(key, zero)
            want = {"reported": wrep, "observed": wobs, "difference": add(wobs, wrep, -1), "aggregates": wids}
            got = {k: r[k] for k in want}
            assert got == want, "%s: reconcile %s %r:\n got %r\nwant %r" % (label, view, key, got, want)
    return model_rep


def check_figures(data, figures):
    """figures (json) lists the release's three figures as the file gives
    them, in metric order; the filters select from them."""
    def rows(*args):
        rc, out, err = h._run(["figures", "--data", data, "--format", "json"] + list(args))
        assert rc == 0, "figures %s: exit %d\n%s" % (" ".join(args), rc, err)
        got = h._jsonl(out, "figures")
        for r in got:
            assert list(r) == FIGURE_ROW_KEYS, "figures row keys %r, want %r" % (list(r), FIGURE_ROW_KEYS)
        return got

    def want_row(f):
        return {"metric": f["metric"], "scope": f["scope"], "as_of": f["as_of"], "value": f["value"],
                "qualifier": f.get("qualifier", "EXACT"), "low": f.get("low", 0), "high": f.get("high", 0),
                "unit": f.get("unit", ""), "source": f["source"], "figure_id": f["figure_id"]}
    want = sorted((want_row(f) for f in figures), key=lambda r: (r["metric"], sorted(r["scope"]), r["source"]))
    assert len(want) == 3
    got = rows()
    assert got == want, "figures:\n got %r\nwant %r" % (got, want)
    assert rows("--metric", "detainees_held") == [r for r in want if r["metric"] == "detainees_held"]
    assert rows("--scope", "IQ") == [r for r in want if "IQ" in r["scope"]]
    day_before = "2024-04-04"
    assert all(r["as_of"] > day_before for r in want)
    assert rows("--as-of", day_before) == [], "figures --as-of the day before the release lists some"
    assert rows("--as-of", want[0]["as_of"]) == want
    assert sorted(map(json.dumps, rows("--history"))) == sorted(map(json.dumps, want))
    rc, out, err = h._run(["figures", "--data", data])
    for r in want:
        assert r["metric"] in out and r["qualifier"] in out and r["unit"] in out, \
            "figures table lacks %r:\n%s" % (r, out)


def incident_model(events, rank):
    """Observed SY 2024-Q2 (the incidents file's only key) and the expected
    disagreements rows: one counted member per incident (best rank, then
    first stored), counted once."""
    def rank_of(ev):
        return rank.index(ev["source"]) if ev["source"] in rank else len(rank)
    by_inc = {}
    for ev in events:
        by_inc.setdefault(ev["incident"], []).append(ev)
    total = dict.fromkeys(COUNTS7, 0)
    rows = []
    for inc in sorted(by_inc):
        members = [e for e in by_inc[inc] if not e.get("retracted")]
        counted = min(range(len(members)), key=lambda i: (rank_of(members[i]), i))
        total = add(total, counts_of(members[counted]))
        if len({json.dumps(counts_of(e), sort_keys=True) for e in members}) > 1:
            rows.append({"incident": inc, "counted": members[counted]["event_id"],
                         "members": [{"event_id": e["event_id"], "source": e["source"],
                                      "revision": e.get("revision", 0), "counts": counts_of(e)}
                                     for e in members]})
    return total, rows


def test():
    model = h.Model()
    base = [ev for _, ev in h.read_jsonl(h.DEMO_FILE)]
    assert len(base) == 94 and all(base), "data/centcom-q1-2024.jsonl should hold 94 JSON events"
    want, _ = model.apply_all(base)
    assert want == {"stored": 94, "duplicate": 0, "superseded": 0, "stale": 0, "rejected": 0}, want

    with h.tempdir() as tmp:
        data = tmp + "/data"
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep, extra_args=["--source-rank", ",".join(RANK)])

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
        # Estimates: the base file gives none, so killed_low = killed_high = killed.
        for key, c7 in observed7(data, "country,quarter").items():
            assert c7["killed_low"] == c7["killed"] == c7["killed_high"], "%r: %r" % (key, c7)

        # 1b. the release as published: aggregates and figures, no operation
        release = [d for _, d in h.read_jsonl(RELEASE_FILE)]
        aggs = [d for d in release if "event_id" in d]
        figures = [d for d in release if "figure_id" in d]
        assert len(aggs) == 3 and len(figures) == 3, "the release file: %d aggregates, %d figures" % (
            len(aggs), len(figures))
        for again in (False, True):
            rc, out, err = h.run_produce(["--to", ep, RELEASE_FILE])
            assert rc == 0, "produce release: exit %d\n%s%s" % (rc, out, err)
            want_sum = "stored 0, duplicate 6" if again else "stored 6, duplicate 0"
            assert want_sum + ", superseded 0, stale 0, rejected 0" in out, "produce release: %r" % out
            h.assert_tallies(data, model, "after the release")   # observed: untouched
            rep = check_reconcile(data, aggs, "after the release")["country,quarter"]
        # The seed's claim: reported and observed agree to the unit.
        base_obs = observed7(data, "country,quarter")
        for key in (("IQ", "2024-Q1"), ("SY", "2024-Q1")):
            assert rep[key][0]["operations"] in (66, 28), rep[key]
            diff = add(base_obs[key], rep[key][0], -1)
            assert all(diff[f] == 0 for f in COUNTS7 if f != "events"), "%r: difference %r" % (key, diff)
        total_rep, _ = reported("total", aggs)
        assert total_rep[()][1] == ["centcom-2024q1-dis"], total_rep   # the parts are shadowed
        check_figures(data, figures)
        rc, out, err = h._run(["reconcile", "--data", data, "--check-parts", "--format", "json"])
        assert rc == 0 and out == "", "reconcile --check-parts: exit %d\n%s%s" % (rc, out, err)
        assert "1 aggregate with parts, 0 whose parts differ" in err, err

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
        check_reconcile(data, aggs, "after updates file")   # the corrections show as differences

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

        # 2b. one raid reported by two sources, and a disagreement
        incidents = [d for _, d in h.read_jsonl(INCIDENTS_FILE)]
        rc, out, err = h.run_produce(["--to", ep, INCIDENTS_FILE])
        assert rc == 0 and "stored %d, duplicate 0" % len(incidents) in out, \
            "produce incidents: exit %d\n%s%s" % (rc, out, err)
        want_q2, want_dis = incident_model(incidents, RANK)
        assert want_dis and len(want_dis) < len({e["incident"] for e in incidents}), \
            "the incidents file should hold one agreeing and one disagreeing incident"
        got_q2 = observed7(data, "country,quarter").get(("SY", "2024-Q2"))
        assert got_q2 == want_q2, "SY 2024-Q2 after the incidents: %r, want %r" % (got_q2, want_q2)
        rc, out, err = h._run(["disagreements", "--data", data, "--format", "json"])
        assert rc == 0, "disagreements: exit %d\n%s" % (rc, err)
        got = h._jsonl(out, "disagreements")
        assert got == want_dis, "disagreements:\n got %r\nwant %r" % (got, want_dis)
        rc, out, err = h._run(["disagreements", "--data", data])
        assert rc == 0 and "* centcom-" in out, "disagreements table: exit %d\n%s%s" % (rc, out, err)
        check_reconcile(data, aggs, "after the incidents")

        # 3. a clean stop keeps everything
        c.stop()
        check_reconcile(data, aggs, "after stop")
        after = observed7(data, "country,quarter")
        assert after.get(("SY", "2024-Q2")) == want_q2
        got_q1 = {k: tuple(v[f] for f in COUNTERS) for k, v in after.items() if k[1] == "2024-Q1"}
        assert got_q1 == AFTER_CQ, "after stop: Q1 %r, want %r" % (got_q1, AFTER_CQ)


if __name__ == "__main__":
    h.main(test)
