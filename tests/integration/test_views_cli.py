#!/usr/bin/python3
"""The command line of issue 12 (cli/cmd_view.c, cmd_explain.c, cmd_history.c,
cmd_status.c, cmd_query.c --view/--as-of-*, cli/tally_key.c), end to end:

1. A consumer takes a random stream (duplicates, revisions, retractions) in
   three steps; after each, `query --format json` and the "as of log seq N"
   line on its stderr are recorded, and `status --format json` says the
   same log_seq.
2. `view add` through the running consumer (the admin socket): its line
   "view NAME added: N log records folded in X s" with N the log's length;
   `view list --format json` rows (built-ins first); `query --view` of each
   declared view (json and csv, columns = its dimensions) equals a model
   over the current revisions with the view's filters.
3. As-of: `--as-of-seq` of each recorded seq reproduces the recorded rows;
   `--as-of-time` (unix ms and RFC 3339) of each step's last ingest time
   says the same seq; at the end, as-of the last seq equals query.
4. Explain of random keys of every view, the key as printed and as
   dim=value in another order (both give the same output): event rows sum
   to the total row, which equals the tally; every row is the model's
   current, non-retracted revision; --limit caps event rows only; the
   table ends with the total. History: deltas sum to the last "after",
   which is the tally; csv rows equal json rows.
5. `view drop` through the consumer; then, consumer stopped, `view add` on
   the store (maintenance path) gives the same tallies as through the
   consumer; bad input of every kind exits 64 with "optally CMD: why" and
   the --help hint, and leaves data.mdb byte for byte as it was.
"""

import datetime
import hashlib
import json
import os
import random
import re

import otharness as h

TYPE_NAMES = {0: "", 1: "PARTNERED", 2: "UNILATERAL", 3: "AIRSTRIKE", 4: "RAID"}

# The declared views of the test: (name, group_by, where).
DECLARED = [
    ("syria_pf_month", ["partner_force", "month"], ["country=SY", "source=TEST|CENTCOM"]),
    ("wk", ["year", "week", "type"], ["country!=IQ", "occurred_on>=2023-06-01"]),
    ("by_day", ["day", "country"], ["occurred_on<=2023-03-31"]),
]


def run(args):
    return h._run(args)


def ok(args):
    rc, out, err = run(args)
    assert rc == 0, "optally %s: exit %d\nstderr:\n%s" % (" ".join(args), rc, err)
    return out, err


def jsonl(text):
    return [json.loads(l) for l in text.splitlines() if l.strip()]


def dim_value(e, d):
    on = e["occurred_on"]
    day = datetime.date(int(on[:4]), int(on[5:7]), int(on[8:]))
    if d == "year":
        return on[:4]
    if d == "quarter":
        return "%s-Q%d" % (on[:4], (day.month - 1) // 3 + 1)
    if d == "month":
        return on[:7]
    if d == "week":
        y, w, _ = day.isocalendar()
        return "%04d-W%02d" % (y, w)
    if d == "day":
        return on
    if d == "type":
        return TYPE_NAMES[e["type"]]
    if d == "granularity":
        return "OPERATION"
    return e.get(d, "")


def passes(e, f):
    if f.startswith("occurred_on>="):
        return e["occurred_on"] >= f[13:]
    if f.startswith("occurred_on<="):
        return e["occurred_on"] <= f[13:]
    if "!=" in f:
        d, v = f.split("!=", 1)
        return dim_value(e, d) != v
    d, v = f.split("=", 1)
    return dim_value(e, d) in v.split("|")


def model_rows(model, name, group_by, where):
    """query --format json rows of a declared view, in key order."""
    tallies = {}
    for e in model.current.values():
        if e["retracted"] or not all(passes(e, f) for f in where):
            continue
        vals = tuple(dim_value(e, d) for d in group_by)
        t = tallies.setdefault(vals, dict.fromkeys(h.COUNTERS, 0))
        t["events"] += 1
        for c in h.COUNTERS[1:]:
            t[c] += h.counter_of(e, c)

    def key(vals):
        return "/".join([name] + [v.replace("%", "%25").replace("/", "%2F") for v in vals])
    rows = []
    for vals in sorted(tallies, key=key):
        r = {"view": name}
        r.update(zip(group_by, vals))
        r.update(tallies[vals])
        rows.append(r)
    return rows


def key_of(row, fields):
    return "/".join([row["view"]] + [row[f].replace("%", "%25").replace("/", "%2F")
                                     for f in fields])


def query_at(data, extra=()):
    """(rows, seq) of query --format json: the seq from its stderr line."""
    out, err = ok(["query", "--data", data, "--format", "json"] + list(extra))
    m = re.search(r"^as of log seq (\d+)$", err, re.M)
    assert m, "query: no 'as of log seq N' on stderr: %r" % err
    return jsonl(out), int(m.group(1))


def status(data):
    out, _ = ok(["status", "--data", data, "--format", "json"])
    return json.loads(out)


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def stream_steps(c, data, rng, model):
    """Three produce steps; returns [(rows, seq, last_received_at)] after each."""
    events = h.gen_events(rng, 600)
    steps = []
    tmp = os.path.join(os.path.dirname(data), "events.jsonl")
    for part in (events[:250], events[250:420], events[420:]):
        h.write_jsonl(tmp, part)
        rc, out, err = h.run_produce(["--to", c.endpoint, tmp])
        assert rc == 0, "produce: exit %d\n%s" % (rc, err)
        model.apply_all(part)
        rows, seq = query_at(data)
        st = status(data)
        assert st["log_seq"] == seq, "status log_seq %d, query as of %d" % (st["log_seq"], seq)
        steps.append((rows, seq, st["last_received_at"]))
    rc, out, err = run(["query", "--data", data, "--quiet"])
    assert rc == 0 and "as of log seq" not in err, "query --quiet still told the seq: %r" % err
    h.log("3 steps ingested; query's seq equals status log_seq at each (%s)"
          % ", ".join(str(s[1]) for s in steps))
    return steps


def check_declared(data, model, via):
    for name, group_by, where in DECLARED:
        want = model_rows(model, name, group_by, where)
        assert want, "%s: the model has no rows: the test would prove nothing" % name
        got = jsonl(ok(["query", "--data", data, "--view", name, "--format", "json"])[0])
        assert got == want, "%s (%s): query --view differs from the model\ngot  %r\nwant %r" % (
            name, via, got[:5], want[:5])
        csv = ok(["query", "--data", data, "--view", name, "--format", "csv", "--quiet"])[0]
        lines = csv.splitlines()
        assert lines[0] == ",".join(["view"] + group_by + list(h.COUNTERS)), lines[0]
        assert len(lines) == len(want) + 1, "%s csv: %d rows, want %d" % (name, len(lines) - 1,
                                                                          len(want))
    h.log("declared views (%s) equal the model: json rows and csv columns" % via)


def add_views(data, log_seq):
    for name, group_by, where in DECLARED:
        args = ["view", "add", name, "--data", data, "--group-by", ",".join(group_by)]
        for f in where:
            args += ["--where", f]
        out, _ = ok(args)
        m = re.fullmatch(r"view (\S+) added: (\d+) log records folded in [0-9.]+ s\n", out)
        assert m and m.group(1) == name, "view add: %r" % out
        assert int(m.group(2)) == log_seq, "view add folded %s records, the log has %d" % (
            m.group(2), log_seq)
    rows = jsonl(ok(["view", "list", "--data", data, "--format", "json"])[0])
    names = [r["name"] for r in rows]
    assert names[:5] == list(h.VIEWS) and all(r["builtin"] for r in rows[:5]), names
    assert rows[2] == {"name": "country,quarter", "group_by": ["country", "quarter"],
                       "where": [], "builtin": True}, rows[2]
    assert rows[5:] == [{"name": n, "group_by": g, "where": w, "builtin": False}
                        for n, g, w in DECLARED], rows[5:]
    st = status(data)
    assert st["views"] == 5 + len(DECLARED) and st["declared_views"] == [d[0] for d in DECLARED], st
    h.log("view add through the consumer: %d views, list and status agree" % len(DECLARED))


def check_as_of(data, steps):
    builtin = set(h.VIEWS)
    for rows, seq, at in steps:
        got, gseq = query_at(data, ["--as-of-seq", str(seq)])
        got = [r for r in got if r["view"] in builtin]
        assert gseq == seq, "--as-of-seq %d said as of %d" % (seq, gseq)
        assert got == rows, "--as-of-seq %d differs from what query said then" % seq
        _, tseq = query_at(data, ["--as-of-time", str(at), "--view", "total"])
        assert tseq == seq, "--as-of-time %d: seq %d, want %d" % (at, tseq, seq)
        iso = datetime.datetime.fromtimestamp(at / 1000, datetime.timezone.utc)
        text = iso.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (at % 1000)
        _, tseq = query_at(data, ["--as-of-time", text, "--view", "total"])
        assert tseq == seq, "--as-of-time %s: seq %d, want %d" % (text, tseq, seq)
    now, seq = query_at(data)
    then, tseq = query_at(data, ["--as-of-seq", str(seq)])
    assert tseq == seq and then == now, "as-of the last seq differs from query"
    got, zseq = query_at(data, ["--as-of-seq", "0"])
    assert got == [] and zseq == 0, "as of seq 0: %r" % got[:3]
    h.log("as-of: %d recorded moments reproduced by seq and by time (ms and RFC 3339)"
          % len(steps))


def fields_of(view):
    for name, group_by, _ in DECLARED:
        if name == view:
            return group_by
    return list(h.VIEWS[view])


def check_explain(data, model, rng):
    rows, _ = query_at(data)
    picks = rng.sample(rows, min(12, len(rows)))
    for row in picks:
        fields = fields_of(row["view"])
        key = key_of(row, fields)
        out = ok(["explain", "--data", data, "--key", key, "--format", "json"])[0]
        ev = jsonl(out)
        total = ev[-1]
        assert total.get("kind") == "total", "explain %s: last row %r" % (key, total)
        tally = {c: row[c] for c in h.COUNTERS}
        assert total["counts"] == tally, "explain %s: total %r, tally %r" % (key, total, tally)
        assert total["events"] == len(ev) - 1, "explain %s: events %d, rows %d" % (
            key, total["events"], len(ev) - 1)
        for c in h.COUNTERS:
            assert sum(r["contribution"][c] for r in ev[:-1]) == tally[c], (key, c)
        for r in ev[:-1]:
            cur = model.current.get(r["event_id"])
            assert cur and not cur["retracted"] and cur["revision"] == r["revision"], (
                "explain %s lists %s rev %d, the model's current is %r" % (
                    key, r["event_id"], r["revision"], cur and (cur["revision"], cur["retracted"])))
        if fields:
            parts = ["%s=%s" % (f, row[f].replace("%", "%25").replace(",", "%2C"))
                     for f in reversed(fields)]
            out2 = ok(["explain", "--data", data, "--view", row["view"], "--key", ",".join(parts),
                       "--format", "json"])[0]
            assert out2 == out, "explain %s: the dim=value form differs" % key
        lim = jsonl(ok(["explain", "--data", data, "--key", key, "--format", "json",
                        "--limit", "1"])[0])
        assert len(lim) == min(2, len(ev)) and lim[-1] == total, "explain --limit 1 %s" % key
        table = ok(["explain", "--data", data, "--key", key])[0].splitlines()
        assert table[-1].startswith("total ") and table[-1].endswith(
            " %d event%s" % (total["events"], "" if total["events"] == 1 else "s")), table[-1]
        hist = jsonl(ok(["history", "--data", data, "--key", key, "--format", "json"])[0])
        assert hist and hist[-1]["after"] == tally, "history %s: last after %r" % (key, hist[-1:])
        for c in h.COUNTERS:
            assert sum(r["delta"][c] for r in hist) == tally[c], "history %s: deltas of %s" % (key, c)
        assert [r["seq"] for r in hist] == sorted(set(r["seq"] for r in hist)), "history order"
        csv = ok(["history", "--data", data, "--key", key, "--format", "csv"])[0].splitlines()
        assert csv[0] == ",".join(["seq", "received_at"] + list(h.COUNTERS) +
                                  ["delta_" + c for c in h.COUNTERS]), csv[0]
        want = [",".join(str(x) for x in [r["seq"], r["received_at"]] +
                         [r["after"][c] for c in h.COUNTERS] + [r["delta"][c] for c in h.COUNTERS])
                for r in hist]
        assert csv[1:] == want, "history %s: csv differs from json" % key
    h.log("explain and history of %d random keys: sums, current revisions, both key forms,"
          " --limit, csv = json" % len(picks))


def assert_usage(args, want):
    rc, out, err = run(args)
    prog = "optally " + " ".join(args[:2] if args[0] == "view" else args[:1])
    lines = err.splitlines()
    assert rc == 64, "optally %s: exit %d, want 64\n%s" % (" ".join(args), rc, err)
    assert lines and lines[0].startswith(prog + ": ") and want in lines[0], \
        "optally %s: want %r in the first line of %r" % (" ".join(args), want, err)
    assert lines[-1] == "Try '%s --help'." % prog, lines[-1]
    assert not out, "a usage error wrote to stdout: %r" % out


def check_bad_input(data, last_seq):
    d = ["--data", data]
    cases = [
        (["query"] + d + ["--view", "nope"], "unknown view 'nope'"),
        (["query"] + d + ["--view", "a/b"], "no view name"),
        (["query"] + d + ["--as-of-seq", str(last_seq + 1)], "beyond the log"),
        (["query"] + d + ["--as-of-time", "2024-13-01T00:00:00Z"], "--as-of-time takes RFC 3339"),
        (["explain"] + d + ["--key", "nope/IQ"], "is of no view"),
        (["explain"] + d + ["--key", "country/IQ/extra"], "malformed key"),
        (["explain"] + d + ["--view", "country,quarter", "--key", "country=IQ"],
         "needs a value of quarter"),
        (["explain"] + d + ["--view", "country", "--key", "country=IQ,month=2024-01"],
         "has no dimension 'month'"),
        (["explain"] + d + ["--view", "country", "--key", "country,month/IQ/2024-01"],
         "not of --view country"),
        (["history"] + d + ["--view", "nope", "--key", "x=1"], "unknown view 'nope'"),
        (["view", "add", "a/b", "--group-by", "country"] + d, "no view name"),
        (["view", "add", "a b", "--group-by", "country"] + d, "no view name"),
        (["view", "add", "country", "--group-by", "country"] + d, "country"),
        (["view", "add", "syria_pf_month", "--group-by", "month"] + d, "syria_pf_month"),
        (["view", "add", "v1", "--group-by", "country,colour"] + d, "colour"),
        (["view", "add", "v1", "--group-by", "country", "--where", "country~IQ"] + d, "country~IQ"),
        (["view", "add", "v1"] + d, "--group-by"),
        (["view", "drop", "country"] + d, "built-in"),
        (["view", "drop", "nope"] + d, "nope"),
    ]
    before = md5(os.path.join(data, "data.mdb"))
    for args, want in cases:
        assert_usage(args, want)
    assert md5(os.path.join(data, "data.mdb")) == before, "a usage error changed data.mdb"
    h.log("%d bad inputs: exit 64 with why, data.mdb untouched" % len(cases))


def test():
    rng = random.Random(h.seed_from_env())
    model = h.Model()
    with h.tempdir() as tmp:
        data = os.path.join(tmp, "data")
        c = h.Consumer(data, h.ipc_endpoint(tmp))
        steps = stream_steps(c, data, rng, model)
        add_views(data, steps[-1][1])
        check_declared(data, model, "through the consumer")
        check_as_of(data, steps)
        check_explain(data, model, rng)
        ok(["view", "drop", "by_day", "--data", data])
        names = [r["name"] for r in jsonl(ok(["view", "list", "--data", data, "--format",
                                              "json"])[0])]
        assert "by_day" not in names, names
        assert_usage(["query", "--data", data, "--view", "by_day"], "unknown view 'by_day'")
        c.stop()
        name, group_by, where = DECLARED[2]
        args = ["view", "add", name, "--data", data, "--group-by", ",".join(group_by), "--quiet"]
        for f in where:
            args += ["--where", f]
        ok(args)
        check_declared(data, model, "on the stopped store")
        ok(["view", "drop", "wk", "--data", data])
        st = status(data)
        assert st["declared_views"] == ["syria_pf_month", "by_day"], st["declared_views"]
        check_bad_input(data, steps[-1][1])


if __name__ == "__main__":
    h.main(test)
