#!/usr/bin/python3
"""Exactly once across crashes, for aggregates, figures and incidents.

A random stream (reports_model.gen_stream; seed printed,
$OPTALLY_TEST_SEED repeats it) of ~2,500 lines: plain events, incident
members from ranked and unranked sources (revisions move an incident's
counted member, retractions let the next one count), aggregate families
(child before parent, re-parenting, retractions) and figures (revisions,
retractions, as_of ties), with exact copies. The consumer runs with
--source-rank. The file is cut in two parts; for each part `optally
produce` runs in the background (small batches mixing events and
figures), the consumer is SIGKILLed once the log has grown by a random
share of what the part adds, and restarted. The kill must land mid-stream
(asserted from the log as the kill left it, and from the producer still
running). Then the whole file is sent again until produce exits 0.

After that, exactly once: the log holds each (event_id or figure_id,
revision) at most once, its current revisions are the model's, and every
answer is what the model says: query (7 counters, incidents counted once),
reconcile in every view, figures (latest, history, filters) and
disagreements equal the model's; `rebuild --check` finds nothing; nothing
is in rejects. A restart changes nothing.
"""

import os
import random

import otharness as h
import reports_model as rm

ROUNDS = 2
CONSUMER_ARGS = ["--nosync", "--publish", "none", "--snapshot", "none", "--source-rank", ",".join(rm.RANK)]


def check_log_once(data, label):
    seen = {}
    last = 0
    for seq, rec in rm.read_log(data):
        assert seq > last and rec.seq == seq, "%s: log seq %d after %d (record says %d)" % (label, seq, last, rec.seq)
        last = seq
        if rec.HasField("figure"):
            k = ("figure", rec.figure.figure_id, rec.figure.revision)
        else:
            assert rec.HasField("event"), "%s: log record %d holds neither event nor figure" % (label, seq)
            k = ("event", rec.event.event_id, rec.event.revision)
        assert k not in seen, "%s: %s %s revision %d logged twice (seq %d and %d)" % (
            label, k[0], k[1], k[2], seen[k], seq)
        seen[k] = seq
    return len(seen)


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    stream = rm.gen_stream(rng, n_plain=700, n_incidents=260, n_roots=110, n_figures=260, tag="c")
    model = rm.ReportsModel(rm.RANK)
    want = model.apply_all(stream)
    assert want["rejected"] == 0, want
    h.log("%d lines: %r" % (len(stream), want))
    cut = [i * len(stream) // ROUNDS for i in range(ROUNDS + 1)]
    adds, m = [], rm.ReportsModel()
    for rnd in range(ROUNDS):
        st = [m.apply(x) for x in stream[cut[rnd]:cut[rnd + 1]]]
        adds.append(sum(1 for s in st if s in ("STORED", "SUPERSEDED")))

    with h.tempdir("ot-repcrash-") as tmp:
        path = os.path.join(tmp, "stream.jsonl")
        h.write_jsonl(path, stream)
        parts = []
        for rnd in range(ROUNDS):
            parts.append(os.path.join(tmp, "part%d.jsonl" % (rnd + 1)))
            h.write_jsonl(parts[-1], stream[cut[rnd]:cut[rnd + 1]])
        data = os.path.join(tmp, "data")
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep, CONSUMER_ARGS)
        bg_rcs = []
        for rnd in range(1, ROUNDS + 1):
            n0 = h.log_entries(data)
            assert n0 >= 0, "round %d: mdb_stat cannot read the log of %s" % (rnd, data)
            out_p, err_p = os.path.join(tmp, "bg%d.out" % rnd), os.path.join(tmp, "bg%d.err" % rnd)
            batch = "3" if rnd == 1 else "1"
            bg = h.produce_bg(["--to", ep, "--batch", batch, "--timeout-ms", "1000", "--retries", "15",
                               parts[rnd - 1]], out_p, err_p)
            target = n0 + max(1, int(adds[rnd - 1] * rng.uniform(0.15, 0.7)))
            reached = h.wait_for(lambda: h.log_entries(data) >= target or bg.poll() is not None, 60, 0.01)
            still_sending = bg.poll() is None
            c.kill()
            n_kill = h.log_entries(data)
            h.log("round %d: SIGKILL at +%d of the %d log entries this part adds (target +%d, producer %s)" % (
                rnd, n_kill - n0, adds[rnd - 1], target - n0,
                "still sending" if still_sending else "done, rc %s" % bg.returncode))
            if bg.poll() is None and not (reached and still_sending and n0 < n_kill < n0 + adds[rnd - 1]):
                bg.kill()
                bg.wait()
            assert reached, "round %d: the log did not reach %d entries in 60 s (it holds %d)" % (
                rnd, target, n_kill)
            assert n0 < n_kill < n0 + adds[rnd - 1] and still_sending, \
                "round %d: the kill did not land mid-stream (log +%d of %d, producer %s; seed %d)" % (
                    rnd, n_kill - n0, adds[rnd - 1], "running" if still_sending else "done", seed)
            c = h.Consumer(data, ep, CONSUMER_ARGS)
            try:
                rc = bg.wait(60)
            except Exception:
                bg.kill()
                raise AssertionError("round %d: background produce did not finish in 60 s" % rnd)
            with open(out_p) as f:
                out = f.read()
            with open(err_p) as f:
                err = f.read()
            assert rc in (0, 2), "round %d: background produce exit %d (want 0, or 2: transport)\n%s%s" % (
                rnd, rc, out, err[-2000:])
            if rc == 0:
                got = h.parse_summary(out)
                n = cut[rnd] - cut[rnd - 1]
                assert sum(got.values()) == n and got["rejected"] == 0, \
                    "round %d: background summary %r for %d lines\n%s" % (rnd, got, n, err[-2000:])
            h.log("round %d: background produce exit %d: %s" % (rnd, rc, out.strip()))
            bg_rcs.append(rc)

        for attempt in range(1, 6):
            rc, out, err = h.run_produce(["--to", ep, path])
            h.log("final produce attempt %d: exit %d: %s" % (attempt, rc, out.strip()))
            if rc in (0, 1):
                break
        assert rc == 0, "final produce: exit %d, want 0\n%s%s" % (rc, out, err[-2000:])
        got = h.parse_summary(out)
        assert sum(got.values()) == len(stream) and got["rejected"] == 0, \
            "final summary %r for %d lines" % (got, len(stream))
        if all(r == 0 for r in bg_rcs):
            assert got["stored"] == 0 and got["superseded"] == 0, \
                "final run stored something after every batch was answered: %r" % got

        label = "after crashes (seed %d)" % seed
        n = check_log_once(data, label)
        model.set_log(rm.read_log(data))
        h.log("log: %d revisions, each once" % n)
        rm.check_all(data, model, label)
        rows = h.rejects(data)
        assert rows == [], "%s: rejects %r" % (label, rows[:5])
        rc, out, err = h.rebuild_check(data)
        assert rc == 0 and "0 differences" in out, "%s: rebuild --check: %d\n%s%s" % (label, rc, out, err)
        c.stop()
        c = h.Consumer(data, ep, CONSUMER_ARGS)
        c.stop()
        rm.check_query(data, model, "after a clean restart (seed %d)" % seed)
        rm.check_reconcile(data, model, "after a clean restart (seed %d)" % seed)


if __name__ == "__main__":
    h.main(test)
