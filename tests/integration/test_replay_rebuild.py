#!/usr/bin/python3
"""`optally rebuild`: tallies recomputed from the log, checked and repaired.

  - `rebuild --check` on an intact store (consumer running) finds nothing,
    also while another producer is ingesting (each check reads one
    consistent snapshot of log and tallies);
  - a repair while the consumer runs is refused: exit 2, "stop the consumer
    first";
  - after one tally is altered by hand (written to LMDB directly with
    python3-lmdb, the consumer stopped) the check finds exactly that
    difference (exit 1; JSON Lines: key, view, stored and rebuilt counters);
  - `rebuild --views country` repairs that view only; `rebuild` repairs the
    rest in one transaction, bumps the update sequence once per tally written,
    and the check then exits 0; the tallies equal the model again.
"""

import json
import os
import random
import struct

import otharness as h

try:
    import lmdb
except ImportError:  # Debian's python3-lmdb (scripts/deps.sh installs it)
    lmdb = None

N = int(os.environ.get("OPTALLY_REBUILD_EVENTS", "20000"))
CONSUMER_ARGS = ["--nosync", "--publish", "none", "--snapshot", "none"]
COUNTS = struct.Struct("<7q")  # ot_counts: 7 x int64, host order (x86-64)


def rebuild(args, want_rc, label):
    rc, out, err = h._run(["rebuild"] + args)
    assert rc == want_rc, "%s: rebuild exit %d, want %d\nstdout: %s\nstderr: %s" % (label, rc, want_rc, out, err)
    return out, err


def alter(data, key, field, delta):
    """Add delta to one counter of a stored tally, straight in LMDB.
    Returns the counters before."""
    env = lmdb.open(data, max_dbs=8, subdir=True)
    try:
        db = env.open_db(b"tallies", create=False)
        with env.begin(write=True, db=db) as txn:
            raw = txn.get(key.encode())
            assert raw is not None and len(raw) == COUNTS.size, "no tally %r in LMDB" % key
            vals = list(COUNTS.unpack(raw))
            before = dict(zip(h.COUNTERS, vals))
            vals[h.COUNTERS.index(field)] += delta
            txn.put(key.encode(), COUNTS.pack(*vals))
    finally:
        env.close()
    return before


def useq(data):
    """The store-wide update sequence (meta "useq", first u64)."""
    env = lmdb.open(data, max_dbs=8, subdir=True, readonly=True, lock=False)
    try:
        db = env.open_db(b"meta", create=False)
        with env.begin(db=db) as txn:
            raw = txn.get(b"useq")
    finally:
        env.close()
    return struct.unpack_from("<Q", raw)[0] if raw else 0


def test():
    if lmdb is None:
        raise AssertionError("python3-lmdb is missing: run scripts/deps.sh (apt-get install python3-lmdb)")
    rng = random.Random(h.seed_from_env())
    events = h.gen_events(rng, N)
    more = h.gen_events(rng, N // 2)
    for e in more:
        e["event_id"] = "more-" + e["event_id"]
    model = h.Model()
    model.apply_all(events)
    with h.tempdir("ot-rebuild-") as tmp:
        data = os.path.join(tmp, "data")
        ep = h.ipc_endpoint(tmp)
        c = h.Consumer(data, ep, CONSUMER_ARGS)
        jl, jl2 = os.path.join(tmp, "events.jsonl"), os.path.join(tmp, "more.jsonl")
        h.write_jsonl(jl, events)
        h.write_jsonl(jl2, more)
        rc, out, err = h.run_produce(["-q", "--to", ep, jl], timeout=600)
        assert rc == 0, "produce: exit %d\n%s" % (rc, err)

        out, _ = rebuild(["--data", data, "--check"], 0, "intact")
        assert out.startswith("check: 0 differences"), out
        # Checks beside a live ingest: each is one consistent snapshot.
        bg = h.produce_bg(["-q", "--to", ep, jl2], os.path.join(tmp, "bg.out"), os.path.join(tmp, "bg.err"))
        checks = 0
        while bg.poll() is None or checks < 3:
            rebuild(["--data", data, "--check", "--quiet"], 0, "check during ingest %d" % checks)
            checks += 1
        assert bg.wait() == 0, "background produce failed"
        h.log("%d checks during a live ingest: no difference" % checks)
        model.apply_all(more)
        h.assert_tallies(data, model, "after the second file")

        _, err = rebuild(["--data", data], 2, "repair beside a consumer")
        assert "stop the consumer first" in err, err
        c.stop()

        # One tally altered by hand: exactly that difference.
        key = "country,quarter/IQ/2023-Q2"
        was = alter(data, key, "killed", 7)
        out, _ = rebuild(["--data", data, "--check", "--format", "json", "--quiet"], 1, "altered")
        rows = [json.loads(line) for line in out.splitlines()]
        want_stored = dict(was, killed=was["killed"] + 7)
        assert rows == [{"key": key, "view": "country,quarter", "stored": want_stored, "rebuilt": was}], rows
        out, _ = rebuild(["--data", data, "--check"], 1, "altered (table)")
        assert out.count("\n") == 2 and out.startswith(key + "  stored ") and "1 difference;" in out, out

        # A second one in another view; --views repairs only its views.
        key2 = "country/SY"
        was2 = alter(data, key2, "events", -1)
        before = useq(data)
        out, _ = rebuild(["--data", data, "--views", "total,country", "--format", "json", "--quiet"], 0,
                         "repair of country")
        assert [json.loads(x)["key"] for x in out.splitlines()] == [key2], out
        assert useq(data) == before + 1, "useq %d after one repaired tally, want %d" % (useq(data), before + 1)
        out, _ = rebuild(["--data", data, "--check", "--format", "json", "--quiet"], 1, "after --views")
        assert [json.loads(x)["key"] for x in out.splitlines()] == [key], out
        out, _ = rebuild(["--data", data], 0, "full repair")
        assert key in out and "1 difference;" in out, out
        assert useq(data) == before + 2
        rebuild(["--data", data, "--check"], 0, "repaired")
        assert was2["events"] > 0
        h.assert_tallies(data, model, "after rebuild")

        # The repaired store serves a consumer as before.
        c = h.Consumer(data, ep, CONSUMER_ARGS)
        rc, out, err = h.run_produce(["--to", ep, jl])
        assert rc == 0 and h.parse_summary(out)["stored"] == 0, out + err
        h.assert_tallies(data, model, "restarted")
        c.stop()


if __name__ == "__main__":
    h.main(test)
