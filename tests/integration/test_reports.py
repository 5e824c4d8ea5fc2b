#!/usr/bin/python3
"""Reports as published (issue 11), end to end against real processes.

1. The seed release: data/centcom-q1-2024.jsonl (observed, operation by
   operation) then data/centcom-q1-2024-release.jsonl (the release as
   published: the theatre-wide aggregate 94/18/63 over IQ+SY, its Iraq
   66/11/36 and Syria 28/7/27 parts, three figures). `reconcile --view
   country,quarter` shows difference 0 for IQ and SY 2024-Q1, the theatre
   total is unplaced there and counts alone in `total` (its parts
   shadowed); `figures` shows the three figures with their qualifiers;
   `reconcile --check-parts` passes, and finds a part revised out of line.
1b. Aggregate families by hand: a theatre total, its parts and a part of a
   part, a child sent before its parent; then a part retracted (its own
   part counts where the total is unplaced, stays shadowed where the total
   counts), a child detached, the total retracted: reported operations,
   counted and unplaced aggregates per key as worked out here.
2. Validation: one line per new rule (aggregate span, scope, parent,
   estimates, incident, figure metric/scope/estimates/date), a parent loop
   and a chain too deep: each refused with its reason on produce's stderr
   and in `rejects`; the summary and exit code count figures as events.
3. A random mix (seed printed; $OPTALLY_TEST_SEED repeats it) of plain
   events, incident members from ranked and unranked sources, aggregate
   families (child before parent, re-parenting, retractions) and figures
   (as_of ties, revisions, retractions), sent with `consume --source-rank`:
   query (7 counters), reconcile (every view), figures (latest, --metric,
   --scope, --as-of, --history) and disagreements compared field by field
   with reports_model; `reconcile --check-parts` as the model says;
   `rebuild --check` clean. `log export` -> `log import` into a fresh
   consumer: identical reconcile, figures, disagreements and query.
4. The source ranking: restarting the consumer with another --source-rank
   on that store (it holds incidents) fails with exit 2 and names both
   rankings; `rebuild --source-rank` changes it (the observed tallies follow
   the new ranking, `rebuild --check` clean) and the consumer then starts
   with it, and without the flag (the stored ranking stays).
"""

import json
import os
import random
import re
import subprocess

import otharness as h
import reports_model as rm

RELEASE_FILE = os.path.join(h.DATA, "centcom-q1-2024-release.jsonl")
CONSUMER_ARGS = ["--nosync", "--publish", "none", "--snapshot", "none"]
RANK = ",".join(rm.RANK)
RANK2 = "SDF,CENTCOM"

# What the seed release says (../shared/seed/centcom-dis-q1-2024.txt).
SEED_THEATRE = (94, 18, 63)
SEED_PARTS = {"IQ": (66, 11, 36), "SY": (28, 7, 27)}
SEED_FIGURES = {"fighters_at_large": (2500, "APPROX", ["IQ", "SY"]),
                "detainees_held": (9000, "AT_LEAST", ["SY"]),
                "camp_residents": (45000, "AT_LEAST", ["SY"])}


def produce(ep, path, want_rc, label, extra=()):
    rc, out, err = h.run_produce(["--to", ep] + list(extra) + [path])
    assert rc == want_rc, "%s: produce exit %d, want %d\nstdout: %s\nstderr: %s" % (
        label, rc, want_rc, out, err[-3000:])
    return h.parse_summary(out), err


def mentions(text, ident):
    """ident appears in text as a whole id (not as the prefix of a longer one)."""
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(ident), text) is not None


# --- 1. the seed release ----------------------------------------------------------

def check_release_file():
    """The data file holds the release as the seed states it."""
    assert os.path.exists(RELEASE_FILE), "missing %s (the seed release as data)" % RELEASE_FILE
    lines = [d for _, d in h.read_jsonl(RELEASE_FILE)]
    assert all(lines), "%s: a line is not a JSON object" % RELEASE_FILE
    aggs = [d for d in lines if not rm.is_figure(d)]
    figs = [d for d in lines if rm.is_figure(d)]
    assert len(aggs) == 3 and len(figs) == 3, "release: %d aggregates and %d figures, want 3 and 3" % (
        len(aggs), len(figs))
    aggs = [rm.norm_event(a) for a in aggs]
    assert all(a["granularity"] == 1 for a in aggs), "release: every event is an AGGREGATE"
    roots = [a for a in aggs if not a["parent_id"]]
    assert len(roots) == 1, "release: one theatre-wide aggregate without parent, got %d" % len(roots)
    t = roots[0]
    assert (t["operations"], t["killed"], t["detained"]) == SEED_THEATRE, t
    assert sorted(t["countries"]) == ["IQ", "SY"] and not t["country"], t
    assert (t["occurred_on"], t["occurred_until"]) == ("2024-01-01", "2024-03-31"), t
    parts = {}
    for a in aggs:
        assert a["source"] == "CENTCOM" and a["via"], "release: source CENTCOM and via set: %r" % a
        if a is t:
            continue
        assert a["parent_id"] == t["event_id"], "release part %s: parent_id %r" % (a["event_id"], a["parent_id"])
        cc = a["country"] or (a["countries"][0] if len(a["countries"]) == 1 else None)
        parts[cc] = (a["operations"], a["killed"], a["detained"])
        assert (a["occurred_on"], a["occurred_until"]) == ("2024-01-01", "2024-03-31"), a
    assert parts == SEED_PARTS, "release parts %r, want %r" % (parts, SEED_PARTS)
    got = {}
    for f in figs:
        f = rm.norm_figure(f)
        assert f["source"] == "CENTCOM" and f["via"], "release figure: source CENTCOM and via: %r" % f
        got[f["metric"]] = (f["value"], rm.QUALIFIERS[f["qualifier"]], sorted(f["scope"]))
    assert got == SEED_FIGURES, "release figures %r, want %r" % (got, SEED_FIGURES)
    return lines, t["event_id"]


def test_seed_release(tmp):
    lines, theatre = check_release_file()
    data = os.path.join(tmp, "seed")
    ep = h.tcp_endpoint()
    c = h.Consumer(data, ep, CONSUMER_ARGS)
    model = rm.ReportsModel()
    base = [d for _, d in h.read_jsonl(h.DEMO_FILE)]
    model.apply_all(base)
    want = model.apply_all(lines)
    assert want == {"stored": 6, "duplicate": 0, "superseded": 0, "stale": 0, "rejected": 0}, want
    produce(ep, h.DEMO_FILE, 0, "seed operations")
    got, _ = produce(ep, RELEASE_FILE, 0, "seed release")
    assert got == want, "produce release: summary %r, want %r" % (got, want)
    model.set_log(rm.read_log(data))

    rows, _ = rm.reconcile(data, "country,quarter")
    by = {(r.get("country"), r.get("quarter")): r for r in rows if "unplaced" not in r}
    for cc, (ops, killed, det) in SEED_PARTS.items():
        r = by.get((cc, "2024-Q1"))
        assert r, "reconcile country,quarter: no row for %s 2024-Q1: %r" % (cc, rows)
        rep = r["reported"]
        assert (rep["operations"], rep["killed"], rep["detained"]) == (ops, killed, det), \
            "reconcile %s 2024-Q1: reported %r, want %r" % (cc, rep, (ops, killed, det))
        for k in ("operations", "killed", "detained", "wounded", "killed_low", "killed_high"):
            assert r["difference"][k] == 0 and r["observed"][k] == rep[k], \
                "reconcile %s 2024-Q1: %s observed %d reported %d difference %d, want difference 0" % (
                    cc, k, r["observed"][k], rep[k], r["difference"][k])
    assert rows[-1] == {"view": "country,quarter", "unplaced": [theatre]}, \
        "reconcile country,quarter: last row %r, want the theatre total unplaced" % rows[-1]
    rows, _ = rm.reconcile(data, "total")
    r = rows[0]
    assert (r["reported"]["operations"], r["reported"]["killed"], r["reported"]["detained"]) == SEED_THEATRE \
        and r["aggregates"] == [theatre], "reconcile total: %r, want the theatre total alone" % r
    rm.check_all(data, model, "seed release")

    # The figures table shows the qualifiers and units.
    out, _ = rm.run_ok(["figures", "--data", data])
    for metric, (value, qual, _) in SEED_FIGURES.items():
        line = [x for x in out.splitlines() if metric in x]
        assert line and qual in line[0] and ("%d" % value in line[0] or "{:,}".format(value) in line[0]), \
            "figures table: no line with %s %s %d:\n%s" % (metric, qual, value, out)
    for fmt in ("table", "csv"):
        out, _ = rm.run_ok(["reconcile", "--data", data, "--view", "country,quarter", "--format", fmt])
        assert "IQ" in out and "SY" in out and "2024-Q1" in out, "reconcile --format %s:\n%s" % (fmt, out)

    # Parts add up; a revised part that does not is reported, exit 1.
    assert rm.check_parts(data, model, "seed release") == 0
    iq = [d for d in lines if not rm.is_figure(d) and (d.get("country") == "IQ" or d.get("countries") == ["IQ"])][0]
    bad = dict(iq, revision=iq.get("revision", 0) + 1, killed=12)
    path = os.path.join(tmp, "bad-part.jsonl")
    h.write_jsonl(path, [bad])
    produce(ep, path, 0, "revised IQ part")
    model.apply(bad)
    assert [r["parent"] for r in model.check_parts()] == [theatre]
    assert rm.check_parts(data, model, "seed release, IQ part revised") == 1
    out, err = rm.run_ok(["reconcile", "--data", data, "--view", "total", "--check-parts"], rc_want=1)
    assert mentions(out, theatre) and "18" in out and "19" in out, \
        "check-parts table: want the theatre total with killed 18 against its parts' 19:\n%s%s" % (out, err)
    model.set_log(rm.read_log(data))
    rm.check_reconcile(data, model, "seed release, part revised")
    c.stop()
    h.log("seed release: reconciles to 0 in IQ and SY 2024-Q1, 3 figures, check-parts")


# --- 1b. aggregate families, by hand ------------------------------------------------

def fam(eid, on, until, ops, parent="", **scope):
    d = {"event_id": eid, "granularity": "AGGREGATE", "source": "CENTCOM", "occurred_on": on,
         "occurred_until": until, "operations": ops, "killed": 1}
    if parent:
        d["parent_id"] = parent
    d.update(scope)
    return d


def reported_ops(data, view):
    """{key: (reported operations, [aggregates])} and the unplaced list."""
    rows, _ = rm.reconcile(data, view)
    assert rows and "unplaced" in rows[-1], "reconcile %s: no final unplaced row: %r" % (view, rows[-1:])
    out = {}
    for r in rows[:-1]:
        if r["reported"]["operations"] or r["aggregates"]:
            out["/".join(r[f] for f in h.VIEWS[view])] = (r["reported"]["operations"], r["aggregates"])
    return out, rows[-1]["unplaced"]


FAMILY_STEPS = [
    # (lines, {view: ({key: (reported operations, counted aggregates)}, unplaced)})
    ([fam("f-c", "2024-04-01", "2024-04-30", 3, parent="f-p", countries=["SY"]),     # child first
      fam("f-r", "2024-01-01", "2024-03-31", 10, countries=["IQ", "SY"]),
      fam("f-a", "2024-01-01", "2024-03-31", 6, parent="f-r", country="IQ"),
      fam("f-b", "2024-01-01", "2024-03-31", 4, parent="f-r", countries=["SY"]),
      fam("f-a1", "2024-02-01", "2024-02-20", 2, parent="f-a", country="IQ"),
      fam("f-p", "2024-04-01", "2024-06-30", 5, country="SY")],
     {"total": ({"": (15, ["f-p", "f-r"])}, []),
      "country,quarter": ({"IQ/2024-Q1": (6, ["f-a"]), "SY/2024-Q1": (4, ["f-b"]),
                           "SY/2024-Q2": (5, ["f-p"])}, ["f-r"]),
      "country,month": ({"IQ/2024-02": (2, ["f-a1"]), "SY/2024-04": (3, ["f-c"])},
                        ["f-a", "f-b", "f-p", "f-r"])}),
    # The Iraq part retracted: its own part counts where the theatre total
    # does not reach (country,quarter), and stays shadowed by it in total.
    ([dict(fam("f-a", "2024-01-01", "2024-03-31", 6, parent="f-r", country="IQ"), revision=1, retracted=True)],
     {"total": ({"": (15, ["f-p", "f-r"])}, []),
      "country,quarter": ({"IQ/2024-Q1": (2, ["f-a1"]), "SY/2024-Q1": (4, ["f-b"]),
                           "SY/2024-Q2": (5, ["f-p"])}, ["f-r"])}),
    # The April child detached from its parent: it counts beside it.
    ([dict(fam("f-c", "2024-04-01", "2024-04-30", 3, countries=["SY"]), revision=1)],
     {"total": ({"": (18, ["f-c", "f-p", "f-r"])}, []),
      "country,quarter": ({"IQ/2024-Q1": (2, ["f-a1"]), "SY/2024-Q1": (4, ["f-b"]),
                           "SY/2024-Q2": (8, ["f-c", "f-p"])}, ["f-r"])}),
    # The theatre total retracted: everything under it counts for itself.
    ([dict(fam("f-r", "2024-01-01", "2024-03-31", 10, countries=["IQ", "SY"]), revision=1, retracted=True)],
     {"total": ({"": (14, ["f-a1", "f-b", "f-c", "f-p"])}, []),
      "country,quarter": ({"IQ/2024-Q1": (2, ["f-a1"]), "SY/2024-Q1": (4, ["f-b"]),
                           "SY/2024-Q2": (8, ["f-c", "f-p"])}, []),
      "country,month": ({"IQ/2024-02": (2, ["f-a1"]), "SY/2024-04": (3, ["f-c"])}, ["f-b", "f-p"])}),
]


def test_families(tmp):
    data = os.path.join(tmp, "fam")
    ep = h.tcp_endpoint()
    c = h.Consumer(data, ep, CONSUMER_ARGS)
    model = rm.ReportsModel()
    for n, (lines, want) in enumerate(FAMILY_STEPS, 1):
        path = os.path.join(tmp, "fam%d.jsonl" % n)
        h.write_jsonl(path, lines)
        produce(ep, path, 0, "families step %d" % n)
        model.apply_all(lines)
        for v, (keys, unplaced) in want.items():
            got = reported_ops(data, v)
            assert got == (keys, unplaced), "families step %d, %s: reported (operations, aggregates) " \
                "%r, unplaced %r; want %r, unplaced %r" % (n, v, got[0], got[1], keys, unplaced)
        model.set_log(rm.read_log(data))
        rm.check_reconcile(data, model, "families step %d" % n)
    c.stop()
    h.log("families: shadowing, child before parent, retraction, detaching as the rules say")


# --- 2. validation ------------------------------------------------------------------

def agg(eid, **kw):
    d = {"event_id": eid, "granularity": "AGGREGATE", "source": "CENTCOM", "occurred_on": "2024-01-01",
         "occurred_until": "2024-03-31", "country": "IQ", "operations": 5, "killed": 2}
    d.update(kw)
    return d


def op(eid, **kw):
    d = {"event_id": eid, "source": "CENTCOM", "occurred_on": "2024-02-01", "country": "IQ",
         "operations": 1, "killed": 2}
    d.update(kw)
    return d


def fig(fid, **kw):
    d = {"figure_id": fid, "source": "CENTCOM", "metric": "detainees_held", "scope": ["SY"],
         "as_of": "2024-03-31", "value": 9000, "qualifier": "AT_LEAST"}
    d.update(kw)
    return d


def without(d, key):
    d = dict(d)
    del d[key]
    return d


def validation_lines():
    """[(line dict, expected status, reason or None)]."""
    L = []

    def ok(d, st="STORED"):
        L.append((d, st, None))

    def bad(d, reason):
        L.append((d, "REJECTED", reason))

    bad(without(agg("v-span"), "occurred_until"), "BAD_SPAN")
    bad(agg("v-range", occurred_until="2023-12-31"), "BAD_DATE_RANGE")
    bad(agg("v-both", countries=["IQ", "SY"]), "BAD_SCOPE")
    bad(op("v-opc", country="", countries=["IQ"]), "BAD_SCOPE")
    bad(agg("v-rep", country="", countries=["IQ", "IQ"]), "BAD_SCOPE")
    bad(agg("v-iso", country="", countries=["IQ", "XX"]), "BAD_SCOPE")
    bad(agg("v-none", country=""), "MISSING_FIELD")
    bad(op("v-oppar", parent_id="v-ok-root"), "BAD_PARENT")
    bad(agg("v-self", parent_id="v-self"), "BAD_PARENT")
    bad(agg("v-parsyn", parent_id="bad parent"), "BAD_PARENT")
    bad(op("v-low", killed=2, killed_low=3), "BAD_ESTIMATE")
    bad(op("v-high", killed=2, killed_high=1), "BAD_ESTIMATE")
    bad(agg("v-agginc", incident="inc-1"), "BAD_INCIDENT")
    bad(op("v-incsyn", incident="two words"), "BAD_INCIDENT")
    bad(op("v-via", via="line\nbreak"), "BAD_CHARACTER")
    bad(fig("v-f-metric", metric="Fighters At Large"), "BAD_METRIC")
    bad(fig("v-f-nometric", metric=""), "BAD_METRIC")
    bad(fig("v-f-noscope", scope=[]), "BAD_SCOPE")
    bad(fig("v-f-iso", scope=["SY", "QQ"]), "BAD_SCOPE")
    bad(fig("v-f-rep", scope=["SY", "SY"]), "BAD_SCOPE")
    bad(fig("v-f-low", low=9001), "BAD_ESTIMATE")
    bad(fig("v-f-high", high=10), "BAD_ESTIMATE")
    bad(without(fig("v-f-asof"), "as_of"), "MISSING_FIELD")
    bad(fig("v-f-date", as_of="2024-02-30"), "BAD_DATE")
    bad(fig("v-f-future", as_of="2099-01-01"), "FUTURE_DATE")
    bad(without(fig("v-f-source"), "source"), "MISSING_FIELD")
    # Valid ones beside them, and their dedup statuses.
    ok(agg("v-ok-root", country="", countries=["IQ", "SY"], killed_low=1, killed_high=4))
    ok(op("v-ok-op", killed_low=1, killed_high=3, incident="v-inc-1", via="Kurdistan24"))
    ok(op("v-ok-op", killed_low=1, killed_high=3, incident="v-inc-1", via="Kurdistan24"), "DUPLICATE")
    bad(op("v-ok-op", killed_low=2, killed_high=3, incident="v-inc-1", via="Kurdistan24"), "CONFLICT")
    ok(fig("v-ok-fig", low=9000, high=9500, unit="detainees", via="Kurdistan24"))
    ok(fig("v-ok-fig", low=9000, high=9500, unit="detainees", via="Kurdistan24", reported_at=5), "DUPLICATE")
    bad(fig("v-ok-fig", value=9100), "CONFLICT")
    ok(fig("v-ok-fig", revision=1, value=9100), "SUPERSEDED")
    ok(fig("v-ok-fig", revision=0), "STALE")
    # A parent loop: A under B (B absent yet) is fine; B under A closes the loop.
    ok(agg("v-loop-a", parent_id="v-loop-b"))
    bad(agg("v-loop-b", parent_id="v-loop-a"), "BAD_PARENT")
    return L


DEEP = 24  # a chain this deep is refused near depth 16


def test_validation(tmp):
    lines = validation_lines()
    deep = [agg("v-deep-%02d" % i, parent_id="v-deep-%02d" % (i - 1) if i else "") for i in range(DEEP)]
    path = os.path.join(tmp, "validation.jsonl")
    h.write_jsonl(path, [d for d, _, _ in lines] + deep)
    data = os.path.join(tmp, "valid")
    ep = h.tcp_endpoint()
    c = h.Consumer(data, ep, CONSUMER_ARGS)
    rc, out, err = h.run_produce(["--to", ep, path])
    assert rc == 1, "validation file: produce exit %d, want 1 (rejects)\n%s%s" % (rc, out, err[-3000:])
    got = h.parse_summary(out)
    name = re.escape(os.path.basename(path))
    problems = []
    for n, (d, st, reason) in enumerate(lines, 1):
        m = re.search(r"%s:%d: rejected: (\w+):([^\n]*)" % (name, n), err)
        if st == "REJECTED":
            if not m or m.group(1) != reason:
                problems.append("line %d %s: want rejected %s, stderr says %r" % (
                    n, d.get("event_id") or d.get("figure_id"), reason, m.group(0) if m else None))
            elif not m.group(2).strip(": "):
                problems.append("line %d: rejected %s without a reason text" % (n, reason))
        elif m:
            problems.append("line %d %s: want %s, stderr says %r" % (
                n, d.get("event_id") or d.get("figure_id"), st, m.group(0)))
    assert not problems, "validation:\n  " + "\n  ".join(problems) + "\nstderr:\n" + err[-4000:]
    # The deep chain: one level past 16 is refused (BAD_PARENT); the levels
    # under it then hang from a missing parent, a short chain again.
    deep_rej = {}
    for i in range(DEEP):
        m = re.search(r"%s:%d: rejected: (\w+)" % (name, len(lines) + 1 + i), err)
        if m:
            deep_rej[i] = m.group(1)
    assert len(deep_rej) == 1 and set(deep_rej.values()) == {"BAD_PARENT"} \
        and 14 <= min(deep_rej) <= 18, \
        "deep chain of %d: want one level near depth 16 refused BAD_PARENT, got %r" % (DEEP, deep_rej)
    want = dict.fromkeys(h.STATUSES, 0)
    for _, st, _ in lines:
        want[st.lower()] += 1
    want["stored"] += DEEP - len(deep_rej)
    want["rejected"] += len(deep_rej)
    assert got == want, "validation: summary %r, want %r (figures count as events)" % (got, want)
    # rejects: each refused line with its reason; figures by their figure_id.
    rows = h.rejects(data)
    have = {(r.get("figure_id") or r.get("event_id"), r.get("reason")) for r in rows}
    missing = [(d.get("event_id") or d.get("figure_id"), reason) for d, st, reason in lines
               if st == "REJECTED" and (d.get("event_id") or d.get("figure_id"), reason) not in have]
    assert not missing, "rejects lacks %r; it has %r" % (missing, sorted(have, key=str))
    c.stop()
    h.log("validation: %d refused lines each with its reason, loop and deep chain refused" % (
        sum(1 for _, st, _ in lines if st == "REJECTED")))


# --- 3. a random mix ------------------------------------------------------------------

def outputs(data):
    """Every read command's output, as text, for an identity check."""
    out = {}
    for v in h.VIEWS:
        out["reconcile " + v] = rm.reconcile(data, v)[1]
        out["query " + v] = rm.run_ok(["query", "--data", data, "--view", v, "--format", "json"])[0]
    out["figures"] = rm.figures(data)[1]
    out["figures --history"] = rm.figures(data, ["--history"])[1]
    out["disagreements"] = rm.run_ok(["disagreements", "--data", data, "--format", "json"])[0]
    return out


def test_mix(tmp, rng, seed):
    stream = rm.gen_stream(rng)
    model = rm.ReportsModel(rm.RANK)
    want = model.apply_all(stream)
    assert want["stored"] > 300 and want["superseded"] > 30 and want["duplicate"] + want["stale"] > 10, want
    path = os.path.join(tmp, "mix.jsonl")
    h.write_jsonl(path, stream)
    data = os.path.join(tmp, "mix")
    ep = h.tcp_endpoint()
    c = h.Consumer(data, ep, CONSUMER_ARGS + ["--source-rank", RANK])
    got, err = produce(ep, path, 0, "mix (seed %d)" % seed, ["--batch", "97"])
    assert got == want, "mix: summary %r, want %r (seed %d)" % (got, want, seed)
    model.set_log(rm.read_log(data))
    label = "mix (seed %d)" % seed
    rm.check_all(data, model, label)
    inc = model.incidents()
    nd = len(model.disagreements())
    npl = {v: sum(1 for w, _ in model.placements(v).values() if w == "shadowed") for v in h.VIEWS}
    h.log("mix: %d lines, %d incidents (%d disagree), %d aggregates (shadowed per view %r), %d figures" % (
        len(stream), len(inc), nd, len(model.aggregates()), npl, len(model.figures)))
    assert nd > 0 and npl["total"] > 0, "the mix exercises nothing: %d disagreements, %r shadowed" % (nd, npl)

    assert model.check_parts(), "no parent whose parts differ in this mix: check-parts proves little"
    rc, out, err = h.rebuild_check(data)
    assert rc == 0 and "0 differences" in out, "rebuild --check after the mix: %d\n%s%s" % (rc, out, err)
    before = outputs(data)

    # log export -> log import into a fresh consumer: the same answers.
    pb_path = os.path.join(tmp, "mix.pb")
    rm.run_ok(["log", "export", "--data", data, "--out", pb_path, "--quiet"])
    json_path = os.path.join(tmp, "mix-log.jsonl")
    rm.run_ok(["log", "export", "--data", data, "--out", json_path, "--format", "json", "--quiet"])
    jrows = [json.loads(x) for x in open(json_path)]
    nfig = sum(1 for r in jrows if "figure" in r)
    assert nfig == sum(1 for _, r in rm.read_log(data) if r.HasField("figure")) and nfig > 0 \
        and all(("figure" in r) != ("event" in r) for r in jrows), \
        "log export --format json: %d figure records, each record one of event/figure" % nfig
    dst = os.path.join(tmp, "mix-dst")
    ep2 = h.tcp_endpoint()
    c2 = h.Consumer(dst, ep2, CONSUMER_ARGS + ["--source-rank", RANK])
    recs = rm.read_log(data)
    nids = len(model.events) + len(model.figures)
    rc, out, err = h._run(["log", "import", "--to", ep2, pb_path])
    assert rc == 0, "log import: exit %d\n%s%s" % (rc, out, err[-3000:])
    got = h.parse_summary(out)
    assert got["stored"] == nids and got["superseded"] == len(recs) - nids and got["rejected"] == 0, \
        "log import: %r for %d records of %d ids" % (got, len(recs), nids)
    after = outputs(dst)
    for k in before:
        assert after[k] == before[k], "after export/import, `%s` differs:\nsource:\n%s\ntarget:\n%s" % (
            k, before[k][:3000], after[k][:3000])
    model.set_log(rm.read_log(dst))
    rm.check_all(dst, model, "imported (seed %d)" % seed)
    rc, out, err = h._run(["log", "import", "--format", "json", "--to", ep2, json_path])
    got = h.parse_summary(out)
    assert rc == 0 and got["stored"] == 0 and got["superseded"] == 0 and got["rejected"] == 0, \
        "importing the JSON export again: exit %d %r\n%s" % (rc, got, err[-2000:])
    rc, out, err = h.rebuild_check(dst)
    assert rc == 0 and "0 differences" in out, "rebuild --check after import: %d\n%s%s" % (rc, out, err)
    c2.stop()
    c.stop()
    return data, ep, model


# --- 4. source ranking ----------------------------------------------------------------

def test_rank(tmp, data, ep, model):
    args = [h.BIN, "consume", "--data", data, "--ingest", ep, "--source-rank", RANK2] + CONSUMER_ARGS
    p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    err = p.stderr.decode("utf-8", "replace")
    assert p.returncode == 2, "consume with another ranking on a store with incidents: exit %d, want 2\n%s" % (
        p.returncode, err)
    assert RANK in err and RANK2 in err and not h.is_ready(err), \
        "consume refused the ranking but does not name the stored (%s) and asked (%s) ones:\n%s" % (RANK, RANK2, err)
    before = model.observed()
    model.rank = RANK2.split(",")
    assert model.observed() != before, "the new ranking changes nothing in this mix: the test proves nothing"
    out, err = rm.run_ok(["rebuild", "--data", data, "--source-rank", RANK2])
    rm.check_query(data, model, "after rebuild --source-rank")
    rm.check_disagreements(data, model, "after rebuild --source-rank")
    rm.check_reconcile(data, model, "after rebuild --source-rank", views=("country,quarter",))
    rc, out, err = h.rebuild_check(data)
    assert rc == 0 and "0 differences" in out, "rebuild --check after a new ranking: %d\n%s%s" % (rc, out, err)
    c = h.Consumer(data, ep, CONSUMER_ARGS + ["--source-rank", RANK2])
    # Live: a new member from the now best-ranked source counts at once.
    inc = sorted(i for i, m in model.incidents().items() if model.counted_member(m)
                 and model.counted_member(m)["source"] != "SDF")[0]
    m0 = model.counted_member(model.incidents()[inc])
    new = dict({k: v for k, v in m0.items() if k not in ("countries",)}, event_id=inc + "-sdf", source="SDF",
               revision=0, killed=m0["killed"] + 7, killed_low=0, killed_high=0, retracted=False)
    new["type"] = "RAID"
    new["granularity"] = "OPERATION"
    path = os.path.join(tmp, "rank-new.jsonl")
    h.write_jsonl(path, [new])
    produce(ep, path, 0, "new SDF member")
    model.apply(new)
    model.set_log(rm.read_log(data))
    assert model.counted_member(model.incidents()[inc])["event_id"] == new["event_id"]
    rm.check_query(data, model, "new SDF member under the new ranking")
    c.stop()
    c = h.Consumer(data, ep, CONSUMER_ARGS)   # no flag: the stored ranking stays
    c.stop()
    rm.check_query(data, model, "after a restart without --source-rank")
    h.log("source rank: refused at start with another ranking, changed by rebuild")


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    with h.tempdir("ot-rep-") as tmp:
        test_seed_release(tmp)
        test_families(tmp)
        test_validation(tmp)
        data, ep, model = test_mix(tmp, rng, seed)
        test_rank(tmp, data, ep, model)


if __name__ == "__main__":
    h.main(test)
