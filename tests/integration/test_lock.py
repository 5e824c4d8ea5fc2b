#!/usr/bin/python3
"""One consumer per data directory.

  1. A consumer serves DIR. A second `optally consume --data DIR` (its own
     ingest endpoint, so only the directory is shared) must exit 2 within
     10 s, saying on stderr that another consumer uses the directory and
     naming DIR; it must not print "ready". The same through another
     spelling of the path (DIR/./ and a symlink to DIR). The first keeps
     serving: a fresh client still gets STORED, and the store files were not
     touched by the refused one (same inode, the event still there).
  2. Readers are not writers: `optally query` works while the consumer holds
     the directory.
  3. The lock dies with its holder: after SIGKILL of the first consumer a new
     one takes the directory at once (no stale lock), and sees the events.
  4. A race: four consumers started at the same moment on a fresh directory:
     exactly one gets ready, the three others exit 2 with the message.
"""

import os
import subprocess
import time

import otharness as h

pb = h.pb


def event(n):
    return {"event_id": "lock-%04d" % n, "source": "TEST", "occurred_on": "2024-02-10",
            "country": "IQ", "partner_force": "ISF", "operations": 1, "detained": 1,
            "type": "PARTNERED"}


def store_one(ep, n, model):
    ev = event(n)
    rep = h.req_send(ep, h.make_batch([ev], batch_id=n))
    st = [h.status_name(r.status) for r in (rep.results if rep else [])]
    assert rep is not None and rep.error == pb.BATCH_OK and st == ["STORED"], \
        "event %d: %s, want one STORED" % (n, h.brief(rep))
    model.apply(ev)


def second_consumer(data_arg, shown_dir):
    """Start a consumer that must be refused; assert how."""
    args = [h.BIN, "consume", "--data", data_arg, "--ingest", h.tcp_endpoint(),
            "--publish", "none", "--snapshot", "none"]
    try:
        p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("a second consumer on %s is still running after 10 s "
                             "(want exit 2 at once)" % data_arg)
    err = p.stderr.decode("utf-8", "replace")
    h.log("second consumer --data %s: exit %d: %s" % (data_arg, p.returncode, err.strip()))
    assert p.returncode == 2, "second consumer on %s: exit %d, want 2\nstderr:\n%s" % (
        data_arg, p.returncode, err)
    assert not h.is_ready(err), "the refused consumer said ready: %s" % err
    assert "another consumer" in err, "message does not say another consumer holds it: %r" % err
    assert shown_dir in err, "message does not name the directory %s: %r" % (shown_dir, err)


def test():
    model = h.Model()
    with h.tempdir("ot-lock-") as tmp:
        data = os.path.join(tmp, "data")
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep)
        store_one(ep, 1, model)
        ino = os.stat(os.path.join(data, "data.mdb")).st_ino

        # 1. Refused, by any spelling of the path; the first keeps serving.
        link = os.path.join(tmp, "link")
        os.symlink(data, link)
        for n, spelling in enumerate((data, data + "/./", link), 2):
            second_consumer(spelling, spelling)
            assert c.alive(), "first consumer died when a second one started; stderr:\n%s" % c.stderr()
            store_one(ep, n, model)
        assert os.stat(os.path.join(data, "data.mdb")).st_ino == ino, "data.mdb was replaced"

        # 2. A reader works beside the writer.
        h.assert_tallies(data, model, "query beside the running consumer")

        # 3. No stale lock after SIGKILL.
        c.kill()
        t0 = time.monotonic()
        c = h.Consumer(data, ep)
        h.log("after SIGKILL a new consumer was ready in %.2f s" % (time.monotonic() - t0))
        store_one(ep, 10, model)
        h.assert_tallies(data, model, "after SIGKILL and restart")
        c.stop()

        # 4. Four at once on a fresh directory: exactly one wins.
        fresh = os.path.join(tmp, "fresh")
        procs = []
        for _ in range(4):
            args = [h.BIN, "consume", "--data", fresh, "--ingest", h.tcp_endpoint(),
                    "--publish", "none", "--snapshot", "none"]
            errp = os.path.join(tmp, "race%d.err" % len(procs))
            procs.append((subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=open(errp, "wb")), errp, args[5]))

        def read(pth):
            with open(pth, encoding="utf-8", errors="replace") as f:
                return f.read()

        def settled():
            ready = [x for x in procs if h.is_ready(read(x[1]))]
            exited = [x for x in procs if x[0].poll() is not None]
            return len(ready) + len(exited) == 4

        try:
            ok = h.wait_for(settled, 20)
            states = [(p.poll(), read(e).strip()) for p, e, _ in procs]
            assert ok, "the race did not settle in 20 s: %r" % states
            winners = [x for x in procs if x[0].poll() is None]
            losers = [x for x in procs if x[0].poll() is not None]
            assert len(winners) == 1, "%d consumers run on one directory (want 1): %r" % (len(winners), states)
            for p, e, _ in losers:
                assert p.returncode == 2 and "another consumer" in read(e), \
                    "a loser of the race: exit %s, stderr %r" % (p.returncode, read(e))
            rep = h.req_send(winners[0][2], h.make_batch([event(20)], batch_id=20))
            assert rep is not None and [h.status_name(r.status) for r in rep.results] == ["STORED"], \
                "the winner of the race does not serve: %s" % h.brief(rep)
            h.log("race of 4 consumers on a fresh directory: 1 ready, 3 refused (exit 2)")
        finally:
            for p, _, _ in procs:
                if p.poll() is None:
                    p.terminate()
                    p.wait(10)
        assert winners[0][0].returncode == 0, "the winner did not stop cleanly: %s" % winners[0][0].returncode


if __name__ == "__main__":
    h.main(test)
