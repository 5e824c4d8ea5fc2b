#!/usr/bin/python3
"""Exactly once across crashes: SIGKILL the consumer mid-stream, twice.

~20,000 valid events (random ids, ~5% exact duplicate lines, corrections and
retractions; seed printed, $OPTALLY_TEST_SEED repeats a run) go to a file.
The file is cut in two parts. For each part: start `optally produce` on it in
the background (--batch 1: one commit and one answer per event), wait until
the log has grown by a random share (10% to 70%) of the entries the part
adds (known from the model), and SIGKILL the consumer. The kill must have
landed mid-stream, or the round proves nothing (a kill after the last
answer, or before the first commit, crashes a quiet store), so the test
asserts it from the log as the kill left it (read after the SIGKILL: exact)
and from the producer:
  - the log holds more entries than before the part started: events of the
    part were committed (so answered, or about to be) before the kill;
  - it holds fewer than the part adds in all, and the producer was still
    running at the kill: events were still unsent or unanswered.
The consumer restarts on the same data directory (the background producer
may finish against the new process: its re-sends must be deduplicated).
Then `optally produce` the whole file until it exits 0 (when the last
background run completed, that final run must store nothing new). Every
view must equal the model's fold of the file exactly (a lost commit or a
double count shows), and nothing may be in rejects (the file holds no
invalid event and no conflict).
"""

import os
import random

import otharness as h

N_EVENTS = 20000
ROUNDS = 2


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    events = h.gen_events(rng, N_EVENTS)
    model = h.Model()
    counts, _ = model.apply_all(events, check=False)
    h.log("%d lines: %r" % (len(events), counts))
    # Log entries each part adds (STORED and SUPERSEDED are logged).
    adds, m = [], h.Model()
    for rnd in range(ROUNDS):
        _, outs = m.apply_all(events[rnd * len(events) // ROUNDS:(rnd + 1) * len(events) // ROUNDS],
                              check=False)
        adds.append(sum(1 for st, _ in outs if st in ("STORED", "SUPERSEDED")))

    with h.tempdir("ot-crash-") as tmp:
        path = os.path.join(tmp, "events.jsonl")
        h.write_jsonl(path, events)
        parts = []
        for rnd in range(ROUNDS):
            parts.append(os.path.join(tmp, "part%d.jsonl" % (rnd + 1)))
            h.write_jsonl(parts[-1], events[rnd * len(events) // ROUNDS:(rnd + 1) * len(events) // ROUNDS])
        data = os.path.join(tmp, "data")
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep)

        bg_rcs = []
        for rnd in range(1, ROUNDS + 1):
            n0 = h.log_entries(data)
            assert n0 >= 0, "round %d: mdb_stat cannot read the log of %s" % (rnd, data)
            out_p, err_p = os.path.join(tmp, "bg%d.out" % rnd), os.path.join(tmp, "bg%d.err" % rnd)
            bg = h.produce_bg(["--to", ep, "--batch", "1", "--timeout-ms", "1000", "--retries", "15",
                               parts[rnd - 1]],
                              out_p, err_p)
            # Wait until a random share of the part is in the log, and crash.
            target = n0 + max(1, int(adds[rnd - 1] * rng.uniform(0.1, 0.7)))
            reached = h.wait_for(lambda: h.log_entries(data) >= target or bg.poll() is not None, 120, 0.02)
            still_sending = bg.poll() is None
            c.kill()
            n_kill = h.log_entries(data)    # the consumer is dead: exact
            h.log("round %d: SIGKILL consumer at %d of the %d log entries this part adds (target %d; "
                  "producer %s)" % (rnd, n_kill - n0, adds[rnd - 1], target - n0,
                                    "still sending" if still_sending else "done, rc %s" % bg.returncode))
            # The kill landed mid-stream, or this round tested nothing.
            if not (reached and still_sending and n0 < n_kill < n0 + adds[rnd - 1]) and bg.poll() is None:
                bg.kill()
                bg.wait()
            assert reached, "round %d: the log did not reach %d entries within 120 s of produce " \
                "starting (it holds %d)" % (rnd, target, n_kill)
            assert n_kill > n0, "round %d: the kill came before any event of the part was committed " \
                "(log %d entries, as before the part)" % (rnd, n_kill)
            assert still_sending and n_kill < n0 + adds[rnd - 1], \
                "round %d: the kill came after the stream was over (producer %s; log +%d of %d): " \
                "it crashed a quiet store (seed %d)" % (
                    rnd, "running" if still_sending else "done", n_kill - n0, adds[rnd - 1], seed)
            c = h.Consumer(data, ep)
            try:
                rc = bg.wait(90)
            except Exception:
                bg.kill()
                raise AssertionError("round %d: background produce did not finish in 90 s" % rnd)
            with open(out_p) as f:
                out = f.read()
            with open(err_p) as f:
                err = f.read()
            assert rc in (0, 2), "round %d: background produce exit %d (want 0, or 2 for transport failure)\n%s%s" % (
                rnd, rc, out, err[-2000:])
            if rc == 0:
                got = h.parse_summary(out)
                nlines = len(h.read_jsonl(parts[rnd - 1]))
                assert sum(got.values()) == nlines and got["rejected"] == 0, \
                    "round %d: background summary %r for %d lines" % (rnd, got, nlines)
            h.log("round %d: background produce exit %d: %s" % (rnd, rc, out.strip()))
            bg_rcs.append(rc)

        for attempt in range(1, 6):
            rc, out, err = h.run_produce(["--to", ep, path])
            h.log("final produce attempt %d: exit %d: %s" % (attempt, rc, out.strip()))
            if rc in (0, 1):
                break
        assert rc == 0, "final produce: exit %d, want 0\n%s%s" % (rc, out, err[-2000:])
        got = h.parse_summary(out)
        assert sum(got.values()) == len(events), "final summary %r for %d lines" % (got, len(events))
        if all(r == 0 for r in bg_rcs):
            assert got["stored"] == 0 and got["superseded"] == 0, \
                "final run stored new events after every batch was answered: %r" % got

        h.assert_tallies(data, model, "after crashes (seed %d)" % seed)
        rows = h.rejects(data)
        assert rows == [], "rejects after crashes (seed %d): %r" % (seed, rows[:5])
        c.stop()
        h.assert_tallies(data, model, "after stop (seed %d)" % seed)


if __name__ == "__main__":
    h.main(test)
