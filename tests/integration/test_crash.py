#!/usr/bin/python3
"""Exactly once across crashes: SIGKILL the consumer mid-stream, twice.

~20,000 valid events (random ids, ~5% exact duplicate lines, corrections and
retractions; seed printed, $OPTALLY_TEST_SEED repeats a run) go to a file.
The file is cut in two parts. For each part: start `optally produce` on it in
the background, SIGKILL the consumer once its store has grown (a random
moment, while the producer is still sending when the machine allows), restart
it on the same data directory (the background producer may finish against the
new process: its re-sends must be deduplicated). Then `optally produce` the
whole file until it exits 0 (when the last background run completed, that
final run must store nothing new). Every view must equal the model's fold of the
file exactly (a lost commit or a double count shows), and nothing may be in
rejects (the file holds no invalid event and no conflict).
"""

import os
import random
import time

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
            size0 = h.dir_bytes(data)
            out_p, err_p = os.path.join(tmp, "bg%d.out" % rnd), os.path.join(tmp, "bg%d.err" % rnd)
            bg = h.produce_bg(["--to", ep, "--batch", "1", "--timeout-ms", "1000", "--retries", "15",
                               parts[rnd - 1]],
                              out_p, err_p)
            # Wait for the store to grow (commits are happening), then a random
            # extra moment, and crash.
            grown = h.wait_for(lambda: h.dir_bytes(data) > size0 + 16 * 1024 or bg.poll() is not None, 20)
            assert grown, "round %d: the store did not grow within 20 s of produce starting" % rnd
            time.sleep(rng.uniform(0.0, 0.3))
            still_sending = bg.poll() is None
            c.kill()
            h.log("round %d: SIGKILL consumer (producer %s)" % (
                rnd, "still sending" if still_sending else "already done, rc %s" % bg.returncode))
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
