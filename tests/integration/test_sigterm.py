#!/usr/bin/python3
"""A clean stop under load: SIGTERM (then SIGINT) while a producer streams.

~20,000 valid events (seed printed, $OPTALLY_TEST_SEED repeats) in two
parts. For each part, with signal SIGTERM then SIGINT: start the consumer,
stream the part with `optally produce` in the background, send the signal
once the log holds a random share (10% to 70%) of what the part adds; the
signal must have come mid-stream (the producer still running, the log
grown but not complete after the exit: asserted, or the round tested a
quiet shutdown); the consumer must exit 0 within 5 s; the producer
must either have completed (exit 0, every line answered, nothing rejected)
or report a transport failure (exit 2), never exit 1 or hang. Finally a
restarted consumer gets the whole file again (exit 0) and every view equals
the model's fold of the file: nothing acknowledged was lost, nothing counted
twice.
"""

import os
import random
import signal
import time

import otharness as h

N_EVENTS = 20000
STOP_WITHIN = 5.0


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    events = h.gen_events(rng, N_EVENTS)
    model = h.Model()
    model.apply_all(events, check=False)
    half = len(events) // 2
    # Log entries each part adds (STORED and SUPERSEDED are logged).
    adds, m = [], h.Model()
    for chunk in (events[:half], events[half:]):
        _, outs = m.apply_all(chunk, check=False)
        adds.append(sum(1 for st, _ in outs if st in ("STORED", "SUPERSEDED")))

    with h.tempdir("ot-term-") as tmp:
        path = os.path.join(tmp, "events.jsonl")
        h.write_jsonl(path, events)
        parts = [os.path.join(tmp, "part1.jsonl"), os.path.join(tmp, "part2.jsonl")]
        h.write_jsonl(parts[0], events[:half])
        h.write_jsonl(parts[1], events[half:])
        data = os.path.join(tmp, "data")
        ep = h.tcp_endpoint()

        for rnd, (sig, part) in enumerate(zip((signal.SIGTERM, signal.SIGINT), parts), 1):
            c = h.Consumer(data, ep)
            n0 = h.log_entries(data)
            assert n0 >= 0, "round %d: mdb_stat cannot read the log of %s" % (rnd, data)
            out_p, err_p = os.path.join(tmp, "bg%d.out" % rnd), os.path.join(tmp, "bg%d.err" % rnd)
            bg = h.produce_bg(["--to", ep, "--batch", "1", "--timeout-ms", "500", "--retries", "2", part],
                              out_p, err_p)
            # Signal when a random share (10% to 70%) of the part is in the log.
            target = n0 + max(1, int(adds[rnd - 1] * rng.uniform(0.1, 0.7)))
            grown = h.wait_for(lambda: h.log_entries(data) >= target or bg.poll() is not None, 120, 0.02)
            if not grown:
                bg.kill()
            assert grown, "round %d: the log did not reach %d entries within 120 s of produce starting" % (
                rnd, target)
            sending = bg.poll() is None
            t0 = time.monotonic()
            c.proc.send_signal(sig)
            try:
                rc = c.proc.wait(STOP_WITHIN)
            except Exception:
                err = c.stderr()
                c.kill()
                raise AssertionError("round %d: consumer still running %.0f s after %s; stderr:\n%s" % (
                    rnd, STOP_WITHIN, sig.name, err))
            took = time.monotonic() - t0
            err = c.stderr()
            c.kill()  # reaps, removes the stderr file
            n_stop = h.log_entries(data)    # the consumer has exited: exact
            h.log("round %d: %s while producer %s, at %d of the %d log entries the part adds: consumer "
                  "exit %d in %.2f s" % (rnd, sig.name, "sending" if sending else "done", n_stop - n0,
                                         adds[rnd - 1], rc, took))
            # Under load, or this round tested a quiet shutdown.
            assert sending and n0 < n_stop < n0 + adds[rnd - 1], \
                "round %d: %s did not come mid-stream (producer %s; log +%d of %d): it stopped a " \
                "quiet consumer (seed %d)" % (rnd, sig.name, "running" if sending else "done",
                                              n_stop - n0, adds[rnd - 1], seed)
            assert rc == 0, "round %d: consumer exit %d after %s (want 0); stderr:\n%s" % (rnd, rc, sig.name, err)

            try:
                prc = bg.wait(60)
            except Exception:
                bg.kill()
                raise AssertionError("round %d: produce hangs 60 s after the consumer stopped" % rnd)
            with open(out_p) as f:
                out = f.read()
            with open(err_p) as f:
                perr = f.read()
            assert prc in (0, 2), "round %d: produce exit %d (want 0 or 2)\n%s%s" % (rnd, prc, out, perr[-2000:])
            if prc == 0:
                got = h.parse_summary(out)
                n = len(h.read_jsonl(part))
                assert sum(got.values()) == n and got["rejected"] == 0, \
                    "round %d: summary %r for %d lines" % (rnd, got, n)
            else:
                assert perr.strip(), "round %d: produce exit 2 without a word on stderr" % rnd
            h.log("round %d: produce exit %d %s" % (rnd, prc, out.strip()))

        c = h.Consumer(data, ep)
        rc, out, err = h.run_produce(["--to", ep, path])
        assert rc == 0, "final produce: exit %d, want 0\n%s%s" % (rc, out, err[-2000:])
        got = h.parse_summary(out)
        assert sum(got.values()) == len(events), "final summary %r for %d lines" % (got, len(events))
        h.assert_tallies(data, model, "after shutdowns (seed %d)" % seed)
        assert h.rejects(data) == [], "rejects after shutdowns"
        c.stop()


if __name__ == "__main__":
    h.main(test)
