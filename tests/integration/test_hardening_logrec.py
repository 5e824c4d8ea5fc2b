#!/usr/bin/python3
"""Log-record lines of JSON input are read as strictly as events (issue 10,
item 9), and `log export --format json` keeps its exact bytes.

One input file, through a real consumer, read by `optally produce` and by
`optally log import --format json`:
  - {"seq":1,"event":{...}} trailing-garbage, "seq":"abc", seq -1,
    received_at 1.5, a producer that is not base64, an event field of the
    wrong type, "event":null: each refused with "FILE:LINE: malformed:"
    naming the field and what it expected; nothing of that line is sent
    (its event_id is not in the consumer's log, and the consumer rejected
    nothing);
  - a record whose key is written "\\u0065vent" (valid JSON for "event"), a
    full record and a bare event: stored.
Then the store is exported as JSON Lines: every line equals, byte for
byte, the form computed here from the pb export (seq, received_at,
producer in padded base64, the event compact in field-number order), and
the export imports into a fresh consumer with every line accepted.

And the same log replayed (issue 10, item 8): `replay --checkpoint
/nonexistent/ck` fails with exit 2 and a message naming the checkpoint
before anything is sent (the target's log stays empty); with a checkpoint
in a directory that exists, the replay sends everything and writes it.
"""

import base64
import json
import os

import otharness as h

pb = h.pb
CONSUMER_ARGS = ["--nosync", "--publish", "none", "--snapshot", "none"]


def event(i):
    return {"event_id": "logrec-%d" % i, "source": "TEST", "occurred_on": "2024-03-15",
            "country": "IQ", "partner_force": "ISF \"q\" x", "operations": 1, "killed": i,
            "type": "PARTNERED", "notes": "caf\u00e9 \x7f\ttab\n\\"}


def ej(i):
    return json.dumps(event(i), separators=(",", ":"))


# (line text, None for a good line or the words its message must hold)
LINES = [
    ('{"seq":1,"event":%s} trailing-garbage' % ej(1), ["text after the object", "expected"]),
    ('{"seq":"abc","event":%s}' % ej(2), ["field 'seq'", "expected a non-negative integer", "abc"]),
    ('{"seq":-1,"event":%s}' % ej(3), ["field 'seq'", "expected a non-negative integer", "-1"]),
    ('{"seq":4,"received_at":1.5,"event":%s}' % ej(4), ["field 'received_at'", "expected an integer", "1.5"]),
    ('{"seq":5,"producer":"not base64!","event":%s}' % ej(5), ["field 'producer'", "expected standard base64"]),
    ('{"seq":6,"\\u0065vent":%s}' % ej(6), None),
    ('{"seq":7,"received_at":1718000000000,"producer":"AAH/","event":%s}' % ej(7), None),
    (ej(8), None),
    ('{"seq":9,"event":%s}' % ej(9).replace('"killed":9', '"killed":"nine"'),
     ["field 'event.killed'", "expected a non-negative integer"]),
    ('{"seq":10,"event":null}', ["field 'event'", "expected an object"]),
]
GOOD = {"logrec-6", "logrec-7", "logrec-8"}


def check_run(label, args, path, tmp):
    data = os.path.join(tmp, label.replace(" ", "-"))
    ep = h.ipc_endpoint(tmp)
    with h.Consumer(data, ep, CONSUMER_ARGS) as c:
        rc, out, err = h._run(args + ["--to", ep, path])
        c.stop()
    summary = h.parse_summary(out)
    assert rc == 1, "%s: exit %d, want 1 (lines refused)\nstdout: %s\nstderr: %s" % (label, rc, out, err)
    assert summary["stored"] == len(GOOD), "%s: %r, want %d stored\nstderr: %s" % (
        label, summary, len(GOOD), err)
    msgs = [l for l in err.splitlines() if ": malformed: " in l]
    for n, (_, words) in enumerate(LINES, 1):
        mine = [m for m in msgs if m.startswith("%s:%d: malformed: " % (path, n))]
        if words is None:
            assert not mine, "%s: line %d is valid but was refused: %s" % (label, n, mine)
            continue
        assert len(mine) == 1, "%s: line %d: want one 'FILE:%d: malformed:' message, got %r\nstderr: %s" % (
            label, n, n, mine, err)
        for w in words:
            assert w in mine[0], "%s: line %d: message %r lacks %r" % (label, n, mine[0], w)
    assert len(msgs) == sum(1 for _, w in LINES if w), "%s: %d malformed messages: %s" % (
        label, len(msgs), msgs)
    ids = {r.event.event_id for _, r in h.mdb_log(data)}
    assert ids == GOOD, "%s: the consumer's log holds %s, want exactly %s (nothing of a refused " \
        "line may be sent)" % (label, sorted(ids), sorted(GOOD))
    assert h.rejects(data) == [], "%s: the consumer rejected something: %r" % (label, h.rejects(data))
    h.log("%s: %d lines refused with line, field and expectation; %d stored" % (
        label, len(msgs), summary["stored"]))
    return data


def expected_event_json(ev):
    """ot_json_from_event's form: compact, field-number order, absent fields
    left out but event_id, enums by name, strings escaped as JSON with
    non-ASCII text kept."""
    parts = []
    for f in sorted(ev.DESCRIPTOR.fields, key=lambda f: f.number):
        v = getattr(ev, f.name)
        if f.name != "event_id" and v == f.default_value:
            continue
        if f.type == f.TYPE_STRING:
            s = json.dumps(v, ensure_ascii=False)
        elif f.type == f.TYPE_BOOL:
            s = "true"
        elif f.type == f.TYPE_ENUM:
            s = '"%s"' % f.enum_type.values_by_number[v].name
        else:
            assert abs(v) < 2 ** 53, "test events stay below 2^53"
            s = str(v)
        parts.append('"%s":%s' % (f.name, s))
    return "{" + ",".join(parts) + "}"


def expected_line(rec):
    line = '{"seq":%d,"received_at":%d' % (rec.seq, rec.received_at)
    if rec.producer:
        line += ',"producer":"%s"' % base64.b64encode(rec.producer).decode("ascii")
    return line + ',"event":%s}' % expected_event_json(rec.event)


def check_export(data, tmp):
    recs = [r for _, r in h.log_export(data, tmp, "pb")]
    path = os.path.join(tmp, "export.jsonl")
    rc, _, err = h._run(["log", "export", "--data", data, "--format", "json", "--out", path, "--quiet"])
    assert rc == 0, "log export --format json: exit %d\n%s" % (rc, err)
    with open(path, "rb") as f:
        raw = f.read()
    want = "".join(expected_line(r) + "\n" for r in recs).encode("utf-8")
    assert raw == want, "log export --format json changed its bytes:\ngot:  %r\nwant: %r" % (raw, want)
    assert all(r.producer for r in recs), "the consumer's records carry the producer's identity"
    h.log("export: %d JSON lines byte-identical to the documented form" % len(recs))
    return path


def check_replay_checkpoint(src, tmp):
    ep = h.ipc_endpoint(tmp)
    target = os.path.join(tmp, "target")
    bad = os.path.join(tmp, "no-such-dir", "ck")
    with h.Consumer(target, ep, CONSUMER_ARGS) as c:
        rc, out, err = h._run(["replay", "--data", src, "--to", ep, "--checkpoint", bad, "--quiet"])
        sent = h.mdb_log(target)
        said = err.strip()
        assert sent == [], "replay sent %d records before failing on its checkpoint" % len(sent)
        assert rc == 2, "replay --checkpoint %s: exit %d, want 2\nstdout: %s\nstderr: %s" % (bad, rc, out, err)
        assert "cannot write checkpoint %s" % bad in err and "nothing was sent" in err, \
            "replay with an unwritable checkpoint: unclear message:\n%s" % err
        good = os.path.join(tmp, "ck")
        rc, out, err = h._run(["replay", "--data", src, "--to", ep, "--checkpoint", good, "--quiet"])
        assert rc == 0, "replay --checkpoint %s: exit %d\n%s%s" % (good, rc, out, err)
        assert len(h.mdb_log(target)) == len(GOOD), "replay stored %r" % h.parse_summary(out)
        with open(good) as f:
            assert f.read().startswith("optally-replay-checkpoint seq=%d " % len(GOOD)), good
        assert not os.path.exists(good + ".tmp"), "the checkpoint's temporary file was left behind"
        c.stop()
    h.log("replay: an unwritable checkpoint fails before sending (%r); a good one is written" % said)


def test():
    with h.tempdir() as tmp:
        path = os.path.join(tmp, "in.jsonl")
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line, _ in LINES))
        check_run("produce", ["produce"], path, tmp)
        data = check_run("log import", ["log", "import", "--format", "json"], path, tmp)
        exported = check_export(data, tmp)
        # The export reads back whole: every line accepted, every event stored.
        ep = h.ipc_endpoint(tmp)
        with h.Consumer(os.path.join(tmp, "again"), ep, CONSUMER_ARGS) as c:
            rc, out, err = h._run(["log", "import", "--format", "json", "--to", ep, exported])
            c.stop()
        assert rc == 0 and "malformed" not in err, "import of the export: exit %d\n%s" % (rc, err)
        assert h.parse_summary(out)["stored"] == len(GOOD), out
        check_replay_checkpoint(data, tmp)


if __name__ == "__main__":
    h.main(test)
