#!/usr/bin/python3
"""I/O faults below the store: pwrite, writev and fdatasync fail inside LMDB.

The consumer runs under tests/fault/iofault.c (LD_PRELOAD; after the ASan
runtime in a sanitizer build), which fails the calls LMDB makes on the data
directory's files, from the moment a test "arms" it (creates a file) until
it is disarmed, and logs each failure it injected (so this test can show
the fault really happened). The store is on a 48 MiB tmpfs: plenty of room
for the few MiB it holds, but less than 64 MiB, the threshold under which
the store once called every EIO "full".

Phases, on one store, a durable consumer, an AckClient keeping every answer:
  0. events stream with no fault: all answered;
  A. armed: EIO from fdatasync (the commit's data sync). Every failed batch
     is answered STORAGE_ERROR, never STORAGE_FULL (the disk has room); the
     consumer stays up (LMDB's environment is intact: the meta page was
     never written); disarmed, the same process takes everything;
  B. armed: EIO from the page writes (pwrite/writev of whole pages):
     likewise STORAGE_ERROR, stays up, recovers;
  C. armed: ENOSPC from the page writes: STORAGE_FULL (a file system that
     says "no space" is full, whatever statvfs says), stays up, recovers;
  D. armed: EIO from the meta page write (pwrite shorter than a page; LMDB
     then also fails to write the old meta back and sets its fatal flag:
     every later transaction gets MDB_PANIC). The consumer must stop with
     exit 2 and a clear message within 30 s, not answer STORAGE_ERROR
     forever; batches it refuses meanwhile are STORAGE_ERROR.
After each phase (after D on the store as the panic left it, then again
after a consumer restarted WITHOUT the shim took the rest):
every answer STORED/SUPERSEDED/DUPLICATE names a log seq holding that event
(nothing acknowledged lost), each (event_id, revision) is in the log at most
once with the content sent (nothing counted twice, nothing torn), and the
tallies equal the fold of the log. At the end every event is re-sent to a
restarted consumer: nothing new is stored, the tallies equal the model of
the input, `optally rebuild --check` exits 0.

Needs root (tmpfs mount) and the shim (OT_IOFAULT_SHIM, set by ctest);
without them it FAILS with the reason: it does not skip.
"""

import os
import random
import subprocess
import time

import otharness as h

N_EVENTS = 6000
PHASES = 5          # 0, A, B, C, D: each streams its own share of the events
TMPFS_MIB = 48
ARM_ERRORS = 4      # batch errors to see while armed before disarming


def sh(*args):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert p.returncode == 0, "%s: exit %d: %s" % (" ".join(args), p.returncode,
                                                  p.stdout.decode("utf-8", "replace"))


def shim_env():
    shim = os.environ.get("OT_IOFAULT_SHIM", "")
    assert shim and os.path.exists(shim), (
        "no I/O fault shim at OT_IOFAULT_SHIM=%r (ctest sets it; build target iofault): "
        "test_iofault cannot inject faults; it does not skip" % shim)
    pre = [shim]
    asan = os.environ.get("OT_ASAN_RUNTIME", "")
    if asan:
        assert os.path.exists(asan), "OT_ASAN_RUNTIME=%s does not exist" % asan
        pre.insert(0, asan)
    return ":".join(pre)


class Fault:
    """The shim's configuration for one consumer, and its arm file and log."""

    def __init__(self, tmp, data, name, **cfg):
        self.arm_path = os.path.join(tmp, "arm-" + name)
        self.log_path = os.path.join(tmp, "iofault-%s.log" % name)
        self.env = {"LD_PRELOAD": shim_env(), "OT_IOFAULT_PATH": data + "/",
                    "OT_IOFAULT_ARM": self.arm_path, "OT_IOFAULT_LOG": self.log_path}
        for k, v in cfg.items():
            self.env["OT_IOFAULT_" + k.upper()] = str(v)

    def arm(self):
        open(self.arm_path, "w").close()

    def disarm(self):
        os.unlink(self.arm_path)

    def injected(self):
        """The failure lines the shim wrote."""
        try:
            with open(self.log_path) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []


def check_store(data, client, inputs, label):
    """Nothing acknowledged lost, nothing twice, tallies = fold of the log.
    The log and the tallies are read by separate commands: call it only
    while nothing commits (every batch answered, or no consumer)."""
    rows = h.mdb_log(data)
    folded = h.check_log(rows, inputs, client.ack_list(), None, label)
    d = h.diff_tables(h.query_all(data), folded.tables(), label + ": tallies vs the fold of the log")
    assert not d, d
    return len(rows)


def stream(client, label, seconds=300):
    assert client.pump(seconds), "%s: %d events unanswered after %d s" % (
        label, len(client.unanswered()), seconds)


def armed_phase(tmp, data, ep, client, inputs, chunk, name, want_error, fault_cfg):
    """One recoverable fault: arm, send, see the errors, disarm, recover."""
    fault = Fault(tmp, data, name, **fault_cfg)
    c = h.Consumer(data, ep, ["--quiet"], env=fault.env)
    try:
        before = dict(client.batch_errors)
        fault.arm()
        client.submit(chunk)

        def errors_seen():
            return sum(client.batch_errors.values()) - sum(before.values())
        t0 = time.monotonic()
        while errors_seen() < ARM_ERRORS and time.monotonic() - t0 < 60 and c.alive():
            client.pump(0.2)
        got = {k: v - before.get(k, 0) for k, v in client.batch_errors.items() if v - before.get(k, 0)}
        lines = fault.injected()
        assert lines, "%s: the shim injected no failure while armed (%r): the test proved nothing" % (
            name, fault_cfg)
        assert c.alive(), "%s: the consumer died on a recoverable I/O error (exit %s); stderr:\n%s" % (
            name, c.proc.returncode, c.stderr()[-3000:])
        assert errors_seen() >= ARM_ERRORS, "%s: only %r batch errors in 60 s while armed" % (name, got)
        assert set(got) == {want_error}, \
            "%s: batch errors while armed were %r, want only %s (%d failures injected, e.g. %s)" % (
                name, got, want_error, len(lines), lines[0])
        fault.disarm()
        stream(client, name + " (disarmed)")
        n = check_store(data, client, inputs, name)
        h.log("%s: %d calls failed by the shim (e.g. %s); batch errors %r; after disarming the "
              "same consumer took everything; log %d records, every acknowledgement holds" % (
                  name, len(lines), lines[0], got, n))
        c.stop()
    finally:
        if c.alive():
            c.kill()


def panic_phase(tmp, data, ep, client, inputs, chunk):
    """The meta page write fails: LMDB's environment is unusable."""
    name = "D (EIO on the meta page write)"
    fault = Fault(tmp, data, "meta", calls="pwrite", errno="EIO", max_bytes=4095)
    c = h.Consumer(data, ep, ["--quiet"], env=fault.env)
    try:
        before = dict(client.batch_errors)
        n_acks = len(client.ack_list())
        fault.arm()
        client.submit(chunk)
        t0 = time.monotonic()
        while c.alive() and time.monotonic() - t0 < 30:
            client.pump(0.2)
        lines = fault.injected()
        assert lines, "%s: the shim injected no failure (no meta write while armed?)" % name
        got = {k: v - before.get(k, 0) for k, v in client.batch_errors.items() if v - before.get(k, 0)}
        err = c.stderr()
        assert not c.alive(), (
            "%s: LMDB's environment is unusable (MDB_PANIC) after %d injected failures, but the "
            "consumer is still running 30 s later, answering %r (STYLE 13: stop with exit 2 for a "
            "supervisor); stderr:\n%s" % (name, len(lines), got, err[-3000:]))
        rc = c.proc.returncode
        assert rc == 2, "%s: consumer exit %d, want 2; stderr:\n%s" % (name, rc, err[-3000:])
        last = [ln for ln in err.splitlines() if ln.strip()][-3:]
        assert any(w in err.lower() for w in ("unusable", "panic", "fatal")), \
            "%s: exit 2 without a message naming the cause; last lines: %r" % (name, last)
        assert "STORAGE_FULL" not in got, "%s: STORAGE_FULL on an I/O error: %r" % (name, got)
        h.log("%s: %d calls failed by the shim; the consumer exited 2 after %.1f s: %s; batch errors %r; "
              "%d acknowledgements before" % (name, len(lines), time.monotonic() - t0, last[-1], got, n_acks))
    finally:
        c.kill()   # kills if need be, reaps, removes the stderr file
    # The store as the panic left it (no process writes to it now, so the
    # log and the tallies are read at one state): every acknowledgement
    # holds. Then restart WITHOUT the shim: it opens and takes the rest.
    n = check_store(data, client, inputs, name + ", as the panic left it")
    c = h.Consumer(data, ep, ["--quiet"])
    try:
        stream(client, name + " (restarted)")
        n = check_store(data, client, inputs, name + ", after the re-sends")
        h.log("%s: restarted without the shim: every acknowledgement holds; the re-sends were "
              "taken; log %d records" % (name, n))
        c.stop()
    finally:
        if c.alive():
            c.kill()


def test():
    assert os.geteuid() == 0, ("test_iofault needs root to mount a %d MiB tmpfs (make test and CI "
                               "run as root); it does not skip" % TMPFS_MIB)
    shim_env()
    seed = h.seed_from_env()
    rng = random.Random(seed)
    events = h.gen_events(rng, N_EVENTS)
    model = h.Model()
    model.apply_all(events, check=False)
    inputs = {(e["event_id"], int(e.get("revision", 0))): h.content(e) for e in events}
    chunks = [events[i * len(events) // PHASES:(i + 1) * len(events) // PHASES] for i in range(PHASES)]

    with h.tempdir("ot-iofault-") as tmp:
        mnt = os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        sh("mount", "-t", "tmpfs", "-o", "size=%dm" % TMPFS_MIB, "tmpfs", mnt)
        try:
            data = os.path.join(mnt, "data")
            ep = h.tcp_endpoint()
            client = h.AckClient(ep, batch=50, window=4, timeout_ms=3000, backoff_ms=100)
            try:
                # 0. No fault.
                c = h.Consumer(data, ep, ["--quiet"])
                client.submit(chunks[0])
                stream(client, "phase 0")
                check_store(data, client, inputs, "phase 0")
                c.stop()
                st = os.statvfs(mnt)
                h.log("phase 0: %d events stored; tmpfs free %.1f MiB of %d" % (
                    len(chunks[0]), st.f_bavail * st.f_frsize / 1048576.0, TMPFS_MIB))

                armed_phase(tmp, data, ep, client, inputs, chunks[1], "A (EIO from fdatasync)",
                            "STORAGE_ERROR", {"calls": "fdatasync", "errno": "EIO"})
                armed_phase(tmp, data, ep, client, inputs, chunks[2], "B (EIO from page writes)",
                            "STORAGE_ERROR", {"calls": "pwrite,writev", "errno": "EIO", "min_bytes": 4096})
                armed_phase(tmp, data, ep, client, inputs, chunks[3], "C (ENOSPC from page writes)",
                            "STORAGE_FULL", {"calls": "pwrite,writev", "errno": "ENOSPC", "min_bytes": 4096})
                panic_phase(tmp, data, ep, client, inputs, chunks[4])

                # Everything again to a fresh consumer: nothing new.
                c = h.Consumer(data, ep, ["--quiet"])
                again = h.AckClient(ep, batch=200)
                again.submit(events)
                stream(again, "final re-send")
                new = [a for a in again.ack_list() if a[2] in ("STORED", "SUPERSEDED")]
                assert not new, "re-sending every event stored %d again (an acknowledged event was " \
                    "lost, seed %d), e.g. %r" % (len(new), seed, new[:3])
                h.check_log(h.mdb_log(data), inputs, client.ack_list() + again.ack_list(), model,
                            "log at the end (seed %d)" % seed)
                h.assert_tallies(data, model, "after the I/O faults (seed %d)" % seed)
                again.close()
                c.stop()
                rb = h.rebuild_check(data)
                assert rb[0] == 0, "optally rebuild --check: exit %d\n%s%s" % rb
                h.log("end: every event re-sent, nothing new stored; tallies equal the model; "
                      "rebuild --check exit 0")
            finally:
                client.close()
        finally:
            h._cleanup()
            subprocess.run(["umount", mnt])


if __name__ == "__main__":
    h.main(test)
