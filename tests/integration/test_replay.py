#!/usr/bin/python3
"""The event log leaves one consumer and fully restores another.

On a source consumer fed N events (default 100,000; env
OPTALLY_REPLAY_EVENTS) with duplicates, revisions, retractions and late
older revisions (otharness.gen_events):
  - `log export` (pb) read back by a reader written here against the
    protobuf spec (google.protobuf's _DecodeVarint32 + LogRecord parsing),
    not by the project's C code: seqs 1..n in order, every record equal to
    what LMDB holds (mdb_dump), the fold of the file equal to the source's
    tallies; `--format json` rows parse with google.protobuf.json_format as
    the same LogRecords; --from-seq/--to-seq/--since/--until select what they
    say;
  - `log import` into a fresh consumer: tallies identical to the source, and
    the target's log holds the same revisions in the same order; a second
    import (and an import of the JSON export, and `produce --format pb`)
    changes nothing; `rebuild --check` on the target finds nothing;
  - a truncated file and a bit-flipped length prefix: "FILE: bad record at
    byte offset N" with the exact offset, exit 1, exactly the records before
    it stored; random single-bit flips never crash the reader and never lose
    a record before the flipped one.
"""

import json
import os
import random
import re

import otharness as h
from google.protobuf import json_format
from google.protobuf.internal.decoder import _DecodeVarint32

N = int(os.environ.get("OPTALLY_REPLAY_EVENTS", "100000"))
# No PUB/snapshot sockets: several consumers run at once in these tests.
CONSUMER_ARGS = ["--nosync", "--publish", "none", "--snapshot", "none"]


def run(args, timeout=h.CMD_TIMEOUT):
    return h._run(args, timeout=timeout)


def read_delimited_spec(data):
    """[(offset, LogRecord)] of a length-delimited stream, per the protobuf
    spec: a varint32 length, then that many bytes of the message."""
    out, pos = [], 0
    while pos < len(data):
        start = pos
        n, pos = _DecodeVarint32(data, pos)
        assert pos + n <= len(data), "record at byte %d runs past the end" % start
        rec = h.pb.LogRecord()
        rec.ParseFromString(data[pos:pos + n])
        out.append((start, rec))
        pos += n
    return out


def fold(records):
    """A Model whose current revisions are the last record of each id."""
    m = h.Model()
    for rec in records:
        m.current[rec.event.event_id] = h.event_dict(rec.event)
    return m


def export(data, path, *extra):
    rc, out, err = run(["log", "export", "--data", data, "--out", path, "--quiet"] + list(extra))
    assert rc == 0, "log export %s: exit %d\n%s" % (" ".join(extra), rc, err)
    with open(path, "rb") as f:
        return f.read()


def log_ids(data, tmp):
    """[(event_id, revision)] of a store's log, in log order (via export)."""
    raw = export(data, os.path.join(tmp, "ids.pb"))
    return [(r.event.event_id, r.event.revision) for _, r in read_delimited_spec(raw)]


def produce_cmd(args, want_rc, label):
    rc, out, err = run(args)
    assert rc == want_rc, "%s: exit %d, want %d\nstdout: %s\nstderr: %s" % (label, rc, want_rc, out, err[-3000:])
    return h.parse_summary(out), err


def check_export(tmp, src, model):
    path = os.path.join(tmp, "log.pb")
    raw = export(src, path)
    recs = read_delimited_spec(raw)
    seqs = [r.seq for _, r in recs]
    assert seqs == list(range(1, len(recs) + 1)), "export seqs are not 1..n in order"
    stored = h.mdb_log(src)
    assert len(stored) == len(recs), "export has %d records, the log %d" % (len(recs), len(stored))
    for (seq, want), (_, got) in zip(stored, recs):
        assert want == got, "export record %d differs from the stored one" % seq
        assert got.received_at > 0 and got.event.event_id, "record %d lacks its fields" % seq
    d = h.diff_tables(fold(r for _, r in recs).tables(), model.tables(), "fold of the export")
    assert not d, d
    h.log("export: %d records, %d bytes (%.1f bytes/record), read back by google.protobuf"
          % (len(recs), len(raw), len(raw) / max(1, len(recs))))

    # JSON Lines: the proto3 JSON form of the same records.
    jraw = export(src, os.path.join(tmp, "log.jsonl"), "--format", "json").decode("utf-8")
    lines = jraw.splitlines()
    assert len(lines) == len(recs), "json export: %d lines for %d records" % (len(lines), len(recs))
    for line, (_, want) in zip(lines, recs):
        got = json_format.Parse(line, h.pb.LogRecord())
        assert got == want, "json line differs from the pb record:\n%s\n%s" % (line, want)
        assert set(json.loads(line)) <= {"seq", "received_at", "producer", "event"}, line

    # Filters: seq ranges and occurred_on dates.
    part = read_delimited_spec(export(src, os.path.join(tmp, "part.pb"), "--from-seq", "10", "--to-seq", "19"))
    assert [r.seq for _, r in part] == list(range(10, 20)), [r.seq for _, r in part]
    dated = read_delimited_spec(export(src, os.path.join(tmp, "dated.pb"), "--since", "2023-03-01",
                                       "--until", "2023-03-31"))
    want = [r.seq for _, r in recs if "2023-03-01" <= r.event.occurred_on <= "2023-03-31"]
    assert [r.seq for _, r in dated] == want and want, "date filter: %d records, want %d" % (len(dated), len(want))
    return path, os.path.join(tmp, "log.jsonl"), recs


def check_import(tmp, src, model, pb_path, json_path, recs):
    dst = os.path.join(tmp, "dst")
    ep = h.ipc_endpoint(tmp + "/d")
    os.makedirs(tmp + "/d")
    c = h.Consumer(dst, ep, CONSUMER_ARGS)
    n_ids = len({r.event.event_id for _, r in recs})
    got, _ = produce_cmd(["log", "import", "--to", ep, pb_path], 0, "import 1")
    assert got["stored"] == n_ids and got["superseded"] == len(recs) - n_ids and got["rejected"] == 0, got
    src_tables = h.query_all(src)
    assert h.query_all(dst) == src_tables, "import: " + h.diff_tables(h.query_all(dst), src_tables)
    assert log_ids(dst, tmp) == [(r.event.event_id, r.event.revision) for _, r in recs], \
        "the target's log is not the source's revisions in the source's order"
    # Importing again, the JSON export, or the same file through produce: no change.
    for label, args in (("import 2", ["log", "import", "--to", ep, pb_path]),
                        ("import json", ["log", "import", "--format", "json", "--to", ep, json_path]),
                        ("produce json", ["produce", "--to", ep, json_path]),
                        ("produce pb", ["produce", "--format", "pb", "--to", ep, pb_path])):
        got, _ = produce_cmd(args, 0, label)
        assert got["stored"] == 0 and got["superseded"] == 0 and got["rejected"] == 0, (label, got)
        assert got["duplicate"] + got["stale"] == len(recs), (label, got)
    assert h.query_all(dst) == src_tables, "a re-import changed the tallies"
    h.assert_tallies(dst, model, "imported")
    rc, out, err = run(["rebuild", "--data", dst, "--check"])
    assert rc == 0 and "0 differences" in out, "rebuild --check on the target: %d\n%s%s" % (rc, out, err)
    c.stop()


def import_fresh(tmp, name, path, want_rc):
    """Import path into a fresh consumer; returns (summary, stderr, the
    target's log ids)."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    ep = h.ipc_endpoint(d)
    c = h.Consumer(d + "/data", ep, CONSUMER_ARGS)
    rc, out, err = run(["log", "import", "--to", ep, path])
    assert rc in (0, 1), "%s: import exit %d (want 0 or 1; a crash?)\n%s" % (name, rc, err[-2000:])
    assert rc == want_rc or want_rc is None, "%s: import exit %d, want %d\n%s" % (name, rc, want_rc, err[-2000:])
    summary = h.parse_summary(out)
    ids = log_ids(d + "/data", d)
    c.stop()
    return rc, summary, err, ids


def check_damaged(tmp, recs_all, pb_path):
    with open(pb_path, "rb") as f:
        raw = f.read()
    # A small file keeps the many fresh consumers below fast: 300 records.
    offs = [o for o, _ in recs_all[:301]]
    small = raw[:offs[300]]
    recs = recs_all[:300]
    ids = [(r.event.event_id, r.event.revision) for _, r in recs]
    bad = re.compile(r"^(.*): bad record at byte offset (\d+): (.+)$", re.M)

    # Truncated inside record 200: the 200 before it are kept, the offset is exact.
    cut = os.path.join(tmp, "cut.pb")
    with open(cut, "wb") as f:
        f.write(small[:offs[200] + 7])
    rc, got, err, logged = import_fresh(tmp, "cut", cut, 1)
    m = bad.search(err)
    assert m and m.group(1) == cut and int(m.group(2)) == offs[200], "truncated: stderr %r" % err[-500:]
    assert "truncated" in m.group(3), m.group(3)
    assert logged == ids[:200], "truncated: the target holds %d records, want the first 200" % len(logged)

    # A flipped high bit in the last byte of record 150's length prefix: the
    # varint now runs into the record and claims more than the file holds.
    flip = bytearray(small)
    p = offs[150]
    while flip[p] & 0x80:
        p += 1
    flip[p] ^= 0x80
    fp = os.path.join(tmp, "flip.pb")
    with open(fp, "wb") as f:
        f.write(flip)
    rc, got, err, logged = import_fresh(tmp, "flip", fp, 1)
    m = bad.search(err)
    assert m and int(m.group(2)) == offs[150], "flipped prefix: stderr %r" % err[-500:]
    assert logged == ids[:150], "flipped prefix: the target holds %d records, want the first 150" % len(logged)

    # Random single-bit flips anywhere: never a crash, never a record lost
    # before the flipped one, an error never reported before it.
    rng = random.Random(7)
    for i in range(6):
        flip = bytearray(small)
        pos = rng.randrange(len(flip))
        flip[pos] ^= 1 << rng.randrange(8)
        k = max(j for j, o in enumerate(offs[:300]) if o <= pos)
        fp = os.path.join(tmp, "rflip%d.pb" % i)
        with open(fp, "wb") as f:
            f.write(flip)
        rc, got, err, logged = import_fresh(tmp, "rflip%d" % i, fp, None)
        m = bad.search(err)
        if m:
            assert int(m.group(2)) >= offs[k], "flip at %d (record %d at %d): bad record reported at %s" % (
                pos, k, offs[k], m.group(2))
        assert logged[:k] == ids[:k], "flip at byte %d (record %d): records before it were lost" % (pos, k)
        h.log("flip at byte %d (record %d): exit %d, %s" % (pos, k, rc, m.group(0) if m else "no bad record"))


def test():
    rng = random.Random(h.seed_from_env())
    events = h.gen_events(rng, N)
    model = h.Model()
    model.apply_all(events)
    with h.tempdir("ot-replay-") as tmp:
        src = os.path.join(tmp, "src")
        ep = h.ipc_endpoint(tmp)
        src_c = h.Consumer(src, ep, CONSUMER_ARGS)
        jl = os.path.join(tmp, "events.jsonl")
        h.write_jsonl(jl, events)
        rc, out, err = h.run_produce(["-q", "--to", ep, jl], timeout=600)
        assert rc == 0, "produce: exit %d\n%s" % (rc, err)
        h.assert_tallies(src, model, "source")
        h.log("source: %s" % out.strip())
        pb_path, json_path, recs = check_export(tmp, src, model)
        check_import(tmp, src, model, pb_path, json_path, recs)
        check_damaged(tmp, recs, pb_path)
        src_c.stop()


if __name__ == "__main__":
    h.main(test)
