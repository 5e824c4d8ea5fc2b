#!/usr/bin/python3
"""`optally replay` interrupted half-way and restarted: the target ends
identical to the source.

A source consumer holds N events (default 100,000; env
OPTALLY_REPLAY_EVENTS) with duplicates, revisions and retractions, and
keeps running: replay reads its store read-only beside it.
  - replay --rate ... --checkpoint FILE, killed (SIGKILL) part-way: the
    target holds a prefix of the source's log; the checkpoint (if one was
    written yet) never claims more than the target holds; a second run
    with the checkpoint finishes: same tallies, and the same revisions in
    the same log order as the source;
  - a third run without a checkpoint re-sends everything: only DUPLICATE /
    STALE answers, nothing changes (dedup makes a restart from scratch safe);
  - SIGINT stops a replay cleanly: exit 2, "interrupted", a checkpoint that
    covers every record the target answered; resuming finishes the job;
  - --to-seq limits the range.
"""

import os
import random
import signal
import subprocess
import time

import otharness as h
from google.protobuf.internal.decoder import _DecodeVarint32

N = int(os.environ.get("OPTALLY_REPLAY_EVENTS", "100000"))
CONSUMER_ARGS = ["--nosync", "--publish", "none", "--snapshot", "none"]
CK_PREFIX = "optally-replay-checkpoint seq="


def log_ids(data, tmp):
    """[(event_id, revision)] of a store's log in log order (export + a
    reader written against the spec)."""
    path = os.path.join(tmp, "ids.pb")
    rc, out, err = h._run(["log", "export", "--data", data, "--out", path, "--quiet"])
    assert rc == 0, "log export: exit %d\n%s" % (rc, err)
    with open(path, "rb") as f:
        raw = f.read()
    os.unlink(path)
    ids, pos = [], 0
    while pos < len(raw):
        n, pos = _DecodeVarint32(raw, pos)
        r = h.pb.LogRecord()
        r.ParseFromString(raw[pos:pos + n])
        ids.append((r.event.event_id, r.event.revision))
        pos += n
    return ids


def checkpoint(path, ep):
    """The seq a checkpoint file holds, or 0 when there is none."""
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        line = f.read()
    assert line.startswith(CK_PREFIX) and line.rstrip().endswith(" to=" + ep), "checkpoint: %r" % line
    return int(line[len(CK_PREFIX):].split()[0])


def replay(args, want_rc, label):
    rc, out, err = h._run(["replay"] + args, timeout=600)
    assert rc == want_rc, "%s: replay exit %d, want %d\nstdout: %s\nstderr: %s" % (label, rc, want_rc, out, err[-2000:])
    return h.parse_summary(out), err


def replay_bg(args, tmp, name):
    return subprocess.Popen([h.BIN, "replay"] + args, stdin=subprocess.DEVNULL,
                            stdout=open(os.path.join(tmp, name + ".out"), "wb"),
                            stderr=open(os.path.join(tmp, name + ".err"), "wb"))


def target(tmp, name):
    d = os.path.join(tmp, name)
    os.makedirs(d)
    ep = h.ipc_endpoint(d)
    return d + "/data", ep, h.Consumer(d + "/data", ep, CONSUMER_ARGS)


def events_in(data):
    rows = h.query(data, "total")
    return int(rows[0]["events"]) if rows else 0


def killed_and_resumed(tmp, src, src_ids, src_tables, rate):
    dst, ep, c = target(tmp, "killed")
    ck = os.path.join(tmp, "killed.ck")
    p = replay_bg(["--data", src, "--to", ep, "--rate", "%d/s" % rate, "--checkpoint", ck], tmp, "killed")
    # Kill it once the target holds a good part, well before the end.
    quarter = events_in(src) // 4
    h.wait_for(lambda: events_in(dst) > quarter or p.poll() is not None, 60, 0.1)
    p.send_signal(signal.SIGKILL)
    p.wait()
    got = log_ids(dst, tmp)
    h.log("killed: the target holds %d of %d records; checkpoint %d" % (len(got), len(src_ids), checkpoint(ck, ep)))
    assert 0 < len(got) < len(src_ids), \
        "the replay was not interrupted half-way (%d of %d records); lower --rate" % (len(got), len(src_ids))
    assert got == src_ids[:len(got)], "the target's log is not a prefix of the source's"
    # The checkpoint never claims more than what the target answered.
    assert checkpoint(ck, ep) <= len(got), "checkpoint %d ahead of the target (%d)" % (checkpoint(ck, ep), len(got))
    resumed_from = checkpoint(ck, ep)

    got, _ = replay(["--data", src, "--to", ep, "--checkpoint", ck], 0, "resumed")
    sent = sum(got.values())
    assert sent == len(src_ids) - resumed_from, "resumed run sent %d, want %d (after the checkpoint %d)" % (
        sent, len(src_ids) - resumed_from, resumed_from)
    assert got["rejected"] == 0, got
    assert checkpoint(ck, ep) == len(src_ids), "final checkpoint %d, want %d" % (checkpoint(ck, ep), len(src_ids))
    assert h.query_all(dst) == src_tables, "resumed: " + h.diff_tables(h.query_all(dst), src_tables)
    assert log_ids(dst, tmp) == src_ids, "resumed: the target's log differs from the source's"

    # From scratch, without a checkpoint: dedup answers everything, nothing changes.
    got, _ = replay(["--data", src, "--to", ep], 0, "again")
    assert got["stored"] == 0 and got["superseded"] == 0 and got["rejected"] == 0, got
    assert got["duplicate"] + got["stale"] == len(src_ids), got
    assert h.query_all(dst) == src_tables, "a second replay changed the tallies"
    # The checkpoint is complete: a run with it sends nothing.
    got, _ = replay(["--data", src, "--to", ep, "--checkpoint", ck], 0, "complete")
    assert sum(got.values()) == 0, got
    c.stop()


def interrupted(tmp, src, src_ids, src_tables, rate):
    dst, ep, c = target(tmp, "sigint")
    ck = os.path.join(tmp, "sigint.ck")
    p = replay_bg(["--data", src, "--to", ep, "--rate", str(rate), "--checkpoint", ck], tmp, "sigint")
    h.wait_for(lambda: events_in(dst) > 1000 or p.poll() is not None, 60, 0.1)
    p.send_signal(signal.SIGINT)
    rc = p.wait(60)
    with open(os.path.join(tmp, "sigint.err")) as f:
        err = f.read()
    assert rc == 2 and "interrupted" in err, "SIGINT: exit %d, stderr %r" % (rc, err[-1000:])
    seq = checkpoint(ck, ep)
    got = log_ids(dst, tmp)
    h.log("SIGINT: checkpoint %d, the target holds %d" % (seq, len(got)))
    assert 0 < seq < len(src_ids) and seq <= len(got) and got == src_ids[:len(got)], (seq, len(got))
    got, _ = replay(["--data", src, "--to", ep, "--checkpoint", ck, "--quiet"], 0, "after SIGINT")
    assert h.query_all(dst) == src_tables and log_ids(dst, tmp) == src_ids, "after SIGINT: target differs"
    c.stop()

    dst, ep, c = target(tmp, "range")
    got, _ = replay(["--data", src, "--to", ep, "--to-seq", "100"], 0, "--to-seq 100")
    assert log_ids(dst, tmp) == src_ids[:100], "--to-seq 100 sent another range"
    c.stop()


def test():
    rng = random.Random(h.seed_from_env())
    events = h.gen_events(rng, N)
    model = h.Model()
    model.apply_all(events)
    with h.tempdir("ot-resume-") as tmp:
        src = os.path.join(tmp, "src")
        ep = h.ipc_endpoint(tmp)
        src_c = h.Consumer(src, ep, CONSUMER_ARGS)
        jl = os.path.join(tmp, "events.jsonl")
        h.write_jsonl(jl, events)
        rc, out, err = h.run_produce(["-q", "--to", ep, jl], timeout=600)
        assert rc == 0, "produce: exit %d\n%s" % (rc, err)
        h.assert_tallies(src, model, "source")
        src_ids = log_ids(src, tmp)
        src_tables = h.query_all(src)
        # Slow enough to be caught half-way: about 4 s for the whole log.
        rate = max(2000, len(src_ids) // 4)
        killed_and_resumed(tmp, src, src_ids, src_tables, rate)
        interrupted(tmp, src, src_ids, src_tables, rate)
        src_c.stop()


if __name__ == "__main__":
    h.main(test)
