#!/usr/bin/python3
"""Figures over the wire (issue 11): produce, consume, subscribe --figures.

One consumer with a publish socket, one `optally subscribe --figures
--format json` and one in table format; then:
  - a JSON Lines file mixing events and figures (valid, the same again, a
    revision, an older revision, a conflict, refused by validation, a
    malformed figure line, a figure inside a log record) is sent by
    `optally produce`: every refused line is told on stderr with its line
    number and reason, the summary counts figures exactly as events (same
    words), and the exit code is 1 (something was rejected);
  - sent again with --batch 1 (every item in its own batch): only
    DUPLICATE / STALE / REJECTED, and no figure published;
  - the subscribers saw exactly the stored and superseded figures, in
    order, figure_seq 1, 2, ... with distinct rising log seqs, each JSON row
    carrying the `optally figures` row keys plus kind/log_seq/figure_seq;
    the table subscriber printed one line per figure;
  - length-delimited LogRecords holding figures and events (what `log
    export` writes, here built by this test) go through `produce --format
    pb` into a second consumer: STORED / SUPERSEDED as in the first;
  - --source-rank: a consumer restarted with another ranking (env
    OPTALLY_SOURCE_RANK) on a store that holds an incident refuses to start,
    exit 2, the line naming both rankings; without one it starts; a
    malformed list is a usage error (64).
"""

import json
import os
import subprocess
import time

import otharness as h
import subharness as sh
from otharness import pb

from google.protobuf.internal.encoder import _VarintBytes


def event(eid, **kw):
    d = {"event_id": eid, "source": "CENTCOM", "occurred_on": "2024-02-10",
         "country": "IQ", "operations": 1, "killed": 1}
    d.update(kw)
    return d


def figure(fid, **kw):
    d = {"figure_id": fid, "source": "CENTCOM", "metric": "fighters_at_large",
         "scope": ["IQ", "SY"], "as_of": "2024-04-15", "value": 2500,
         "qualifier": "APPROX", "unit": "fighters"}
    d.update(kw)
    return d


# (line object or raw text, expected outcome). Outcome: a status, or
# ("REJECTED", reason) / ("MALFORMED", None).
LINES = [
    (event("ev-1"), "STORED"),
    (figure("fig-1"), "STORED"),
    (event("ev-bad", occurred_on="2024-13-45"), ("REJECTED", "BAD_DATE")),
    (figure("fig-1"), "DUPLICATE"),
    (figure("fig-1", revision=1, value=2600), "SUPERSEDED"),
    (figure("fig-bad", metric="Bad Metric"), ("REJECTED", "BAD_METRIC")),
    (figure("fig-2", metric="detainees_held", scope=["SY"], value=9000,
            qualifier="AT_LEAST", unit="detainees"), "STORED"),
    (figure("fig-1"), "STALE"),
    (figure("fig-2", metric="detainees_held", scope=["SY"], value=9001,
            qualifier="AT_LEAST", unit="detainees"), ("REJECTED", "CONFLICT")),
    ('{"figure_id":"fig-x","metric":"m","value":"many"}', ("MALFORMED", None)),
    ("", None),
    ({"seq": 9, "received_at": 1, "figure": figure("fig-3", metric="camp_residents",
                                                    scope=["SY"], value=45000,
                                                    qualifier="AT_LEAST")}, "STORED"),
    (event("ev-1"), "DUPLICATE"),
    (event("raid-1", source="SDF", country="SY", incident="inc-1"), "STORED"),
]

# What the second run of the same file answers.
SECOND = {1: "DUPLICATE", 2: "STALE", 4: "STALE", 5: "DUPLICATE", 7: "DUPLICATE",
          8: "STALE", 12: "DUPLICATE", 13: "DUPLICATE", 14: "DUPLICATE"}

# The figures published, in order: (figure_id, value).
PUBLISHED = [("fig-1", 2500), ("fig-1", 2600), ("fig-2", 9000), ("fig-3", 45000)]

ROW_KEYS = ["metric", "scope", "as_of", "value", "qualifier", "low", "high", "unit",
            "source", "figure_id"]


def write_file(path):
    with open(path, "w") as f:
        for obj, _ in LINES:
            f.write((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")


def summary_of(outcomes):
    want = {s: 0 for s in h.STATUSES}
    for o in outcomes:
        if o is None:
            continue
        name = o if isinstance(o, str) else o[0]
        want["rejected" if name in ("REJECTED", "MALFORMED") else name.lower()] += 1
    return want


def check_run(ep, path, args, outcomes, label):
    rc, out, err = h.run_produce(["--to", ep] + args + [path])
    assert rc == 1, "%s: exit %d, want 1\nstdout: %s\nstderr: %s" % (label, rc, out, err)
    got = h.parse_summary(out)
    want = summary_of(outcomes)
    assert got == want, "%s: summary %r, want %r\nstderr: %s" % (label, got, want, err)
    # Malformed lines are told as they are read, rejections as answers
    # come: compare by line number.
    told = {}
    for l in err.splitlines():
        if l.startswith(path + ":"):
            n, rest = l[len(path) + 1:].split(":", 1)
            assert int(n) not in told, "%s: line %s told twice: %r" % (label, n, err)
            told[int(n)] = rest
    want_told = {}
    for n, o in enumerate(outcomes, 1):
        if isinstance(o, tuple) and o[0] == "REJECTED":
            want_told[n] = " rejected: %s: " % o[1]
        elif isinstance(o, tuple):
            want_told[n] = " malformed: "
    assert sorted(told) == sorted(want_told), "%s: lines told %r, want %r\n%s" % (
        label, sorted(told), sorted(want_told), err)
    for n, prefix in want_told.items():
        assert told[n].startswith(prefix), "%s: line %d: %r does not start with %r" % (
            label, n, told[n], prefix)
    return err


def check_published(sub, label):
    rows = wait_rows(sub, len(PUBLISHED), label)
    assert len(rows) == len(PUBLISHED), "%s: %d figures published, want %d: %r" % (
        label, len(rows), len(PUBLISHED), rows)
    last_log = 0
    for i, (r, (fid, value)) in enumerate(zip(rows, PUBLISHED), 1):
        assert list(r.keys())[:len(ROW_KEYS)] == ROW_KEYS, "%s: keys %r" % (label, list(r.keys()))
        assert r["kind"] == "figure", r
        assert r["figure_id"] == fid and r["value"] == value, "%s: figure %d is %r, want %s=%d" % (
            label, i, r, fid, value)
        assert r["figure_seq"] == i, "%s: figure_seq %r, want %d" % (label, r["figure_seq"], i)
        assert r["log_seq"] > last_log, "%s: log_seq %r after %r" % (label, r["log_seq"], last_log)
        last_log = r["log_seq"]
    assert rows[2]["qualifier"] == "AT_LEAST" and rows[2]["scope"] == ["SY"], rows[2]
    return rows


def wait_rows(sub, n, label, timeout=20):
    h.wait_for(lambda: len(sub.lines()) >= n, timeout)
    return sub.lines()


def records_file(path):
    """Length-delimited LogRecords: an event, a figure, its revision, an
    event, another figure."""
    recs = []
    ev = pb.OperationEvent(event_id="pb-ev-1", source="CENTCOM", occurred_on="2024-02-10",
                           country="IQ", operations=1)
    recs.append(pb.LogRecord(seq=1, received_at=1, event=ev))
    f1 = pb.Figure(figure_id="pb-fig-1", source="CENTCOM", metric="fighters_at_large",
                   scope=["IQ", "SY"], as_of="2024-04-15", value=2500, qualifier=pb.APPROX)
    recs.append(pb.LogRecord(seq=2, received_at=1, figure=f1))
    f1b = pb.Figure()
    f1b.CopyFrom(f1)
    f1b.revision = 1
    f1b.value = 2600
    recs.append(pb.LogRecord(seq=3, received_at=1, figure=f1b))
    recs.append(pb.LogRecord(seq=4, received_at=1, figure=f1))   # older: STALE
    with open(path, "wb") as f:
        for r in recs:
            b = r.SerializeToString()
            f.write(_VarintBytes(len(b)) + b)


def table_subscriber(publish, snapshot, out_path, err_path):
    return subprocess.Popen([h.BIN, "subscribe", "--figures", "--from", publish + "," + snapshot],
                            stdin=subprocess.DEVNULL, stdout=open(out_path, "wb"),
                            stderr=open(err_path, "wb"))


def test():
    with h.tempdir("ot-figw-") as tmp:
        data = tmp + "/data"
        path = tmp + "/mixed.jsonl"
        write_file(path)
        c, ep, publish, snapshot = sh.sub_consumer(data, ["--source-rank", "CENTCOM,SDF"])
        sub = sh.Subscriber(publish, snapshot, ["--figures"])
        tpath, terr = tmp + "/table.out", tmp + "/table.err"
        tsub = table_subscriber(publish, snapshot, tpath, terr)
        h._live.append(tsub)
        time.sleep(1.5)     # no snapshot to wait for: let the subscriptions reach the PUB

        outcomes = [o for _, o in LINES]
        check_run(ep, path, [], outcomes, "first run")
        rows = check_published(sub, "first run")

        second = []
        for n, (obj, o) in enumerate(LINES, 1):
            second.append(SECOND.get(n, o))
        check_run(ep, path, ["--batch", "1"], second, "second run (--batch 1)")
        time.sleep(1.0)
        assert len(sub.lines()) == len(PUBLISHED), "second run published figures: %r" % (
            sub.lines()[len(PUBLISHED):])
        assert "gap" not in sub.stderr(), sub.stderr()

        # The table subscriber: one line per figure.
        h.wait_for(lambda: open(tpath).read().count("\n") >= len(PUBLISHED), 10)
        tsub.terminate()
        assert tsub.wait(10) == 0, open(terr).read()
        h._live.remove(tsub)
        tlines = open(tpath).read().splitlines()
        assert len(tlines) == len(PUBLISHED), tlines
        for i, (line, (fid, value)) in enumerate(zip(tlines, PUBLISHED), 1):
            assert line.startswith("figure_seq %d " % i), line
            assert " %d " % value in line and ("id=%s " % fid) in line, line
            assert line.endswith("log_seq=%d" % rows[i - 1]["log_seq"]), line
        assert "fighters_at_large IQ,SY 2024-04-15 2500 APPROX fighters source=CENTCOM" in tlines[0], tlines[0]
        sub.stop()

        # pb: length-delimited LogRecords with figures, into a fresh consumer.
        data2 = tmp + "/data2"
        ep2 = h.ipc_endpoint(tmp)
        c2 = h.Consumer(data2, ep2)
        recs = tmp + "/records.pb"
        records_file(recs)
        rc, out, err = h.run_produce(["--to", ep2, "--format", "pb", recs])
        assert rc == 0, "pb: exit %d\n%s\n%s" % (rc, out, err)
        got = h.parse_summary(out)
        assert got == {"stored": 2, "duplicate": 0, "superseded": 1, "stale": 1, "rejected": 0}, got
        c2.stop()

        # --source-rank: the store holds incident inc-1, counted under CENTCOM,SDF.
        c.stop()
        p = subprocess.run([h.BIN, "consume", "--data", data, "--ingest", h.tcp_endpoint(),
                            "--publish", "none", "--snapshot", "none"],
                           env=dict(os.environ, OPTALLY_SOURCE_RANK="SDF,CENTCOM"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        err = p.stderr.decode()
        assert p.returncode == 2, "another ranking: exit %d, want 2\n%s" % (p.returncode, err)
        assert "stored ranking 'CENTCOM,SDF'" in err and "asked 'SDF,CENTCOM'" in err, err
        assert "rebuild --source-rank" in err, err
        p = subprocess.run([h.BIN, "consume", "--data", data, "--source-rank", "A,,B"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 64, "malformed ranking: exit %d\n%s" % (p.returncode, p.stderr)
        assert b"--source-rank" in p.stderr, p.stderr
        c = h.Consumer(data, h.tcp_endpoint())      # no ranking given: the stored one
        c.stop()


if __name__ == "__main__":
    h.main(test)
