#!/usr/bin/python3
"""Liveness of the consumer process: it neither holds batches nor keeps
running broken.

Part 1, a wall-clock step. The consumer runs under tests/shim/clockstep.c
(LD_PRELOAD, after the ASan runtime in a sanitizer build), which steps
CLOCK_REALTIME back one hour once a trigger file exists. With
--flush-ms 3000, batch A is sent (the writer starts its flush wait), the
clock is stepped, batch B is sent: both must be answered STORED within
the flush wait plus a margin. Before the fix the flush deadline was on
CLOCK_REALTIME: after the step it lay an hour ahead and both batches were
held. The stored received_at of B is an hour before A's (wall time, as
stamped), which shows the step really happened.

Part 2, the store becomes unusable while stopping. The consumer runs
under tests/fault/iofault.c failing the meta page write (a pwrite shorter
than a page): LMDB sets its fatal flag (MDB_PANIC), the store reports
OT_EFATAL. Batches are sent, held by --flush-ms, and SIGTERM arrives while
they are in flight; the writer's commit then fails fatally. The consumer
must answer every batch STORAGE_ERROR or SHUTTING_DOWN (nothing stored),
exit 2 within a bound and say on one line "store unusable (...): exiting
so a supervisor restarts the consumer". Before the fix it answered
STORAGE_ERROR, counted the drain as clean and exited 0 (without SIGTERM:
it answered STORAGE_ERROR forever).

Part 3, the same fault without any signal: the consumer stops by itself,
exit 2 with that line (a daemon must not answer errors forever).

Shims come from ctest (OPTALLY_CLOCKSTEP, OPTALLY_IOFAULT and
OPTALLY_ASAN_RUNTIME, see tests/cmake/h1.cmake); without them the test
FAILS, it does not skip.
"""

import os
import signal
import time

import otharness as h

pb = h.pb
zmq = h.zmq

FLUSH_MS = 3000
MARGIN_S = 7.0          # beyond the flush wait, for a sanitizer build on a busy machine
EXIT_WITHIN_S = 20.0
FATAL_LINE = "exiting so a supervisor restarts the consumer"


def preload(shim_var):
    shim = os.environ.get(shim_var, "")
    assert shim and os.path.exists(shim), (
        "no shim at %s=%r (ctest sets it, see tests/cmake/h1.cmake): this test cannot "
        "inject its fault; it does not skip" % (shim_var, shim))
    asan = os.environ.get("OPTALLY_ASAN_RUNTIME", "")
    # ASan must come first in the initial library list; the shim after it.
    return "%s:%s" % (asan, shim) if asan else shim


def event(eid):
    return {"event_id": eid, "source": "CENTCOM", "occurred_on": "2024-06-01", "country": "IQ",
            "partner_force": "ISF", "operations": 1, "killed": 1, "type": "PARTNERED"}


class Dealer:
    """One DEALER socket; replies by batch_id."""

    def __init__(self, endpoint):
        self.sock = h._CTX.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.replies = {}

    def send(self, batch_id, eid):
        self.sock.send(h.make_batch([event(eid)], batch_id))

    def collect(self, want, deadline):
        """Replies until every batch_id in want is answered or the monotonic
        deadline passes. Returns the set still unanswered."""
        while True:
            left = [b for b in want if b not in self.replies]
            now = time.monotonic()
            if not left or now >= deadline:
                return set(left)
            if self.sock.poll(int(min(deadline - now, 0.2) * 1000) + 1):
                rep = pb.IngestReply()
                rep.ParseFromString(self.sock.recv_multipart()[-1])
                assert rep.batch_id not in self.replies, "batch %d answered twice: %s and %s" % (
                    rep.batch_id, h.brief(self.replies[rep.batch_id]), h.brief(rep))
                self.replies[rep.batch_id] = rep

    def close(self):
        self.sock.close(0)


def wait_exit(c, seconds):
    try:
        return c.proc.wait(seconds)
    except Exception:
        err = c.stderr()
        c.kill()
        raise AssertionError("consumer still running %.0f s later; stderr:\n%s" % (seconds, err[-3000:]))


def part_clock_step(tmp):
    data = os.path.join(tmp, "clock-data")
    trig = os.path.join(tmp, "step-now")
    env = {"LD_PRELOAD": preload("OPTALLY_CLOCKSTEP"), "CLOCKSTEP_TRIGGER": trig,
           "CLOCKSTEP_BACK_MS": "3600000"}
    c = h.Consumer(data, h.ipc_endpoint(tmp), ["--flush-ms", str(FLUSH_MS)], env=env)
    d = Dealer(c.endpoint)
    try:
        t0 = time.monotonic()
        d.send(1, "clock-a")
        # Not a synchronisation: after the fix nothing depends on it. It
        # lets the writer start A's flush wait before the step, so that the
        # old code (deadline on the wall clock) is really exercised.
        time.sleep(0.5)
        with open(trig, "w"):
            pass
        d.send(2, "clock-b")
        late = d.collect({1, 2}, t0 + FLUSH_MS / 1000.0 + MARGIN_S)
        took = time.monotonic() - t0
        assert os.path.exists(trig + ".done"), (
            "the clock shim never stepped the wall clock (not preloaded?); stderr:\n%s" % c.stderr())
        assert not late, (
            "batches %s not answered %.1f s after sending (--flush-ms %d) once the wall clock "
            "stepped back an hour: a deadline is on CLOCK_REALTIME" % (sorted(late), took, FLUSH_MS))
        for b in (1, 2):
            rep = d.replies[b]
            assert rep.error == pb.BATCH_OK and [h.status_name(r.status) for r in rep.results] == ["STORED"], (
                "batch %d: %s" % (b, h.brief(rep)))
        h.log("clock step: both batches STORED %.2f s after the first was sent (flush %d ms)"
              % (took, FLUSH_MS))
        recs = {r.event.event_id: r for _, r in h.mdb_log(data)}
        back = recs["clock-a"].received_at - recs["clock-b"].received_at
        assert 3500 * 1000 < back < 3700 * 1000, (
            "received_at of B is %d ms before A's; want about an hour (the stamp is wall time)" % back)
        c.stop()
    finally:
        d.close()
        c.kill()


def meta_fault_env(tmp, data, name):
    arm = os.path.join(tmp, name + ".arm")
    logf = os.path.join(tmp, name + ".log")
    env = {"LD_PRELOAD": preload("OPTALLY_IOFAULT"), "OT_IOFAULT_PATH": data,
           "OT_IOFAULT_CALLS": "pwrite", "OT_IOFAULT_ERRNO": "EIO",
           "OT_IOFAULT_MAX_BYTES": "4095",   # the meta page write, not whole data pages
           "OT_IOFAULT_ARM": arm, "OT_IOFAULT_LOG": logf}
    return env, arm, logf


def check_fatal_exit(c, rc, logf, what):
    err = c.stderr()
    c.kill()   # reaps (already exited), removes the stderr file
    assert os.path.exists(logf) and open(logf).read().strip(), (
        "%s: the I/O shim injected no failure (not preloaded?); stderr:\n%s" % (what, err[-2000:]))
    assert rc == 2, "%s: consumer exit %d, want 2; stderr:\n%s" % (what, rc, err[-3000:])
    lines = [l for l in err.splitlines() if "store unusable (" in l and FATAL_LINE in l]
    assert len(lines) == 1 and lines[0].startswith("optally consume: "), (
        "%s: want one line 'optally consume: store unusable (...): %s'; stderr:\n%s"
        % (what, FATAL_LINE, err[-3000:]))
    assert "stopped cleanly" not in err, "%s: says 'stopped cleanly' after a fatal error" % what
    return lines[0]


def fatal_while_stopping_round(tmp, rnd, delay):
    """One try. Returns None when the signal won the race (the consumer
    stopped before it had read the batches: a clean stop, inconclusive),
    else a description of what was checked."""
    data = os.path.join(tmp, "stop-data-%d" % rnd)
    env, arm, logf = meta_fault_env(tmp, data, "stop-%d" % rnd)
    c = h.Consumer(data, h.ipc_endpoint(tmp), ["--flush-ms", "2000"], env=env)
    d = Dealer(c.endpoint)
    try:
        d.send(1, "ok-1")
        assert not d.collect({1}, time.monotonic() + 2 + MARGIN_S), "first batch unanswered"
        assert d.replies[1].error == pb.BATCH_OK, "first batch: %s" % h.brief(d.replies[1])
        with open(arm, "w"):
            pass
        ids = list(range(10, 16))
        for b in ids:
            d.send(b, "doomed-%d-%d" % (rnd, b))
        # Once read, the batches are held by --flush-ms: in flight when the
        # signal comes; the commit fails about 2 s later. The delay only
        # gives the consumer time to read them (later rounds wait longer).
        time.sleep(delay)
        t0 = time.monotonic()
        c.proc.send_signal(signal.SIGTERM)
        rc = wait_exit(c, EXIT_WITHIN_S)
        took = time.monotonic() - t0
        d.collect(set(ids), time.monotonic() + 2.0)
        doomed = {b: rep for b, rep in d.replies.items() if b != 1}
        for b, rep in doomed.items():
            assert h.batch_error_name(rep.error) in ("STORAGE_ERROR", "SHUTTING_DOWN") and not rep.results, (
                "batch %d after the store became unusable: %s" % (b, h.brief(rep)))
        injected = os.path.exists(logf) and open(logf).read().strip()
        if rc == 0 and not injected and all(
                h.batch_error_name(r.error) == "SHUTTING_DOWN" for r in doomed.values()):
            err = c.stderr()
            c.kill()
            assert "stopped cleanly" in err, "exit 0 without 'stopped cleanly':\n%s" % err
            return None
        line = check_fatal_exit(c, rc, logf, "SIGTERM with batches in flight, then MDB_PANIC")
        assert doomed, "no batch in flight was answered before the consumer exited"
        return ("exit 2 %.2f s after SIGTERM; %d of %d batches answered (STORAGE_ERROR/SHUTTING_DOWN): %s"
                % (took, len(doomed), len(ids), line))
    finally:
        d.close()


def part_fatal_while_stopping(tmp):
    for rnd in range(8):
        got = fatal_while_stopping_round(tmp, rnd, 0.05 * rnd)
        if got:
            h.log("fatal while stopping (round %d): %s" % (rnd, got))
            return
        h.log("round %d: SIGTERM came before the consumer read the batches (clean stop); again" % rnd)
    raise AssertionError("in 8 rounds SIGTERM never found the batches in flight: nothing was checked")


def part_fatal_by_itself(tmp):
    data = os.path.join(tmp, "self-data")
    env, arm, logf = meta_fault_env(tmp, data, "self")
    c = h.Consumer(data, h.ipc_endpoint(tmp), [], env=env)
    d = Dealer(c.endpoint)
    try:
        with open(arm, "w"):
            pass
        d.send(1, "doomed")
        t0 = time.monotonic()
        rc = wait_exit(c, EXIT_WITHIN_S)
        took = time.monotonic() - t0
        d.collect({1}, time.monotonic() + 2.0)
        line = check_fatal_exit(c, rc, logf, "MDB_PANIC, no signal")
        assert 1 in d.replies and h.batch_error_name(d.replies[1].error) == "STORAGE_ERROR", (
            "the batch of the failed commit: %s" % h.brief(d.replies.get(1)))
        h.log("fatal without a signal: exit 2 %.2f s after the batch was sent: %s" % (took, line))
    finally:
        d.close()


def test():
    with h.tempdir("ot-live-") as tmp:
        part_clock_step(tmp)
        part_fatal_while_stopping(tmp)
        part_fatal_by_itself(tmp)


if __name__ == "__main__":
    h.main(test)
