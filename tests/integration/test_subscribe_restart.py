#!/usr/bin/python3
"""Live subscriptions across consumer crashes: the subscriber recovers by
itself.

Two `optally subscribe --format json` (everything; --view country) follow a
consumer (durable: fsync at every commit) while `optally produce` sends
~20,000 events in three parts:
  1. part 1 in the background; SIGKILL the consumer mid-stream; leave it down
     for 4 s (longer than the subscriber's 3 s of tolerated silence: it must
     say so on stderr and reconnect by itself); restart it on the same data
     directory and endpoints; the producer's retries finish part 1;
  2. part 2 in the background; SIGKILL and restart at once (the subscriber
     may or may not notice: updates committed but never published show up as
     a gap or a heartbeat ahead; nothing is required but the right end state);
  3. part 3, in the foreground.
After each part, both subscribers' folded output (gap-free between resyncs,
see subharness.fold) must equal `optally query`. Neither process is
restarted: the subscriber does it all.
"""

import os
import random
import re
import time

import otharness as h
import subharness as sh

N_EVENTS = int(os.environ.get("OPTALLY_SUB_RESTART_EVENTS", "20000"))
DOWN_S = 4.0


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    events = h.gen_events(rng, N_EVENTS)
    with h.tempdir("ot-subrst-") as tmp:
        parts = []
        for i in range(3):
            parts.append(os.path.join(tmp, "part%d.jsonl" % (i + 1)))
            h.write_jsonl(parts[-1], events[i * len(events) // 3:(i + 1) * len(events) // 3])
        data = os.path.join(tmp, "data")
        c, ingest, pub, snap = sh.sub_consumer(data)
        restart = lambda: sh.sub_consumer(data, ingest=ingest, publish=pub, snapshot=snap)[0]  # noqa: E731
        subs = [sh.Subscriber(pub, snap), sh.Subscriber(pub, snap, ["--view", "country"], track="country")]
        # Both follow the stream before the first crash (else the crash meets
        # a pending snapshot request, retried instead of a silent stream).
        h.wait_for(lambda: all(s.table()[1] for s in subs), 20)
        assert all(s.table()[1] for s in subs), "no first snapshot within 20 s:\n%s" % (
            "".join(s.stderr() for s in subs))
        produce = ["--to", ingest, "--batch", "50", "--timeout-ms", "1000", "--retries", "30"]

        for rnd, down in ((1, DOWN_S), (2, 0.0)):
            size0 = h.dir_bytes(data)
            out_p = os.path.join(tmp, "bg%d.out" % rnd)
            bg = h.produce_bg(produce + [parts[rnd - 1]], out_p, out_p + ".err")
            grown = h.wait_for(lambda: h.dir_bytes(data) > size0 + 64 * 1024 or bg.poll() is not None, 30)
            assert grown, "round %d: the store did not grow within 30 s" % rnd
            time.sleep(rng.uniform(0.0, 0.2))
            still = bg.poll() is None
            c.kill()
            h.log("round %d: SIGKILL consumer (producer %s), down for %.1fs" % (
                rnd, "still sending" if still else "done", down))
            time.sleep(down)
            c = restart()
            rc = bg.wait(120)
            with open(out_p) as f:
                out = f.read()
            assert rc == 0, "round %d: produce exit %d: %s" % (rnd, rc, out)
            want = sh.want_tables(data)
            for s, label in zip(subs, ("no filter", "--view country")):
                w = want if s.track is None else {"country": want["country"]}
                st = sh.wait_equal(s, w, 30, "round %d, %s" % (rnd, label))
                h.log("round %d, %s: equal to the query; %r" % (rnd, label, st))
            if down:
                for s in subs:
                    err = s.stderr()
                    assert re.search(r"no update or heartbeat from \S+ for 3000 ms \(consumer down\?\); "
                                     r"reconnecting and re-snapshotting", err), \
                        "round %d: the subscriber did not report the silent stream:\n%s" % (rnd, err)

        rc, out, err = h.run_produce(produce + [parts[2]])
        assert rc == 0, "part 3: produce exit %d: %s%s" % (rc, out, err)
        want = sh.want_tables(data)
        for s in subs:
            w = want if s.track is None else {"country": want["country"]}
            sh.wait_equal(s, w, 30, "after part 3")
        for s in subs:
            err = s.stop()
            h.log("subscriber stderr:\n  " + "\n  ".join(err.strip().splitlines()[:6]))
        c.stop()


if __name__ == "__main__":
    h.main(test)
