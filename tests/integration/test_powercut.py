#!/usr/bin/python3
"""Power cut: the disk keeps only what had reached it, and every event the
consumer acknowledged must be there.

How the cut is made (root; loop devices; fsfreeze):
  outer.img  an ext4 image on /tmp, loop-mounted at OUTER
  inner.img  an ext4 image in OUTER, on its own loop device, mounted at
             INNER; the consumer's --data is INNER/data
At random moments while an AckClient streams events (durable consumer;
each cut when a random share of the events has been answered):
  1. `fsfreeze -f OUTER`: from here no write reaches inner.img, so no
     commit of the consumer can complete (its fsync needs one), and
     everything the inner loop device had completed is in inner.img;
  2. inner.img is copied: the image of the inner disk at that instant.
     ext4's and LMDB's pages still in the inner filesystem's page cache,
     never written to the device, are not in it, as after a power cut;
  3. SIGKILL to the consumer, thaw, tear the inner disk down, and put the
     copy in place of inner.img: the machine "boots" on the cut disk (ext4
     replays its journal at mount).
Checked after each cut, on the cut disk, before the consumer restarts
(nothing commits while the log and the tallies are read):
  - every answer received before the thaw (STORED / SUPERSEDED / DUPLICATE
    with a seq) names a log seq that holds exactly that event: an
    acknowledged event survives the cut;
  - each (event_id, revision) is in the log at most once, with the content
    that was sent;
  - the tallies equal the fold of the log: no half-written transaction is
    visible; `optally rebuild --check` agrees.
Then the consumer restarts on the cut disk (LMDB recovers to its last good
meta page) and streaming resumes (unanswered batches are re-sent). At the
end every event is answered, the tallies equal the model of the input, and
the log holds each acknowledged event exactly once.

What it does NOT cover: a drive's volatile write cache that loses or
reorders writes it had completed but not flushed (that needs dm-log-writes
or dm-flakey; this kernel has no device-mapper); torn sectors. The copy keeps
every write the loop device completed, in order. See docs/RELIABILITY.md.

Broken variant: `test_powercut.py --broken-nosync` runs the consumer with
--nosync (acknowledges before the data reaches the disk) and must FAIL:
that shows this test can see a lost acknowledged event.

Needs root, /dev/loop-control, mkfs.ext4 and fsfreeze; without them it FAILS
with the reason (it never skips). OPTALLY_POWERCUT_CUTS sets the number of
cuts (default 4).
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import otharness as h

N_EVENTS = 16000


def sh(*args, check=True):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.decode("utf-8", "replace").strip()
    if check:
        assert p.returncode == 0, "%s: exit %d: %s" % (" ".join(args), p.returncode, out)
    return out


def need_tools():
    missing = [t for t in ("mkfs.ext4", "fsfreeze", "losetup", "mount", "umount") if not shutil.which(t)]
    why = []
    if os.geteuid() != 0:
        why.append("not root")
    if not os.path.exists("/dev/loop-control"):
        why.append("no /dev/loop-control")
    if missing:
        why.append("missing " + ", ".join(missing))
    assert not why, ("test_powercut cannot simulate a power cut here (%s): it needs root, loop devices, "
                     "mkfs.ext4 and fsfreeze (make test and CI run as root on such a machine). "
                     "It does not skip." % "; ".join(why))


class Disks:
    """outer.img on /tmp (freezable ext4), inner.img inside it (the consumer's disk)."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.outer = os.path.join(tmp, "outer")
        self.inner = os.path.join(tmp, "inner")
        self.outer_img = os.path.join(tmp, "outer.img")
        self.inner_img = os.path.join(self.outer, "inner.img")
        self.cut_img = os.path.join(tmp, "cut.img")
        self.frozen = False
        self.outer_dev = self.inner_dev = None
        os.mkdir(self.outer)
        os.mkdir(self.inner)
        sh("truncate", "-s", "384M", self.outer_img)
        sh("mkfs.ext4", "-q", "-F", self.outer_img)
        self.outer_dev = sh("losetup", "-f", "--show", self.outer_img)
        sh("mount", self.outer_dev, self.outer)
        sh("truncate", "-s", "160M", self.inner_img)
        sh("mkfs.ext4", "-q", "-F", self.inner_img)
        self.mount_inner()

    def mount_inner(self):
        self.inner_dev = sh("losetup", "-f", "--show", self.inner_img)
        sh("mount", self.inner_dev, self.inner)

    def umount_inner(self):
        if self.inner_dev:
            sh("umount", self.inner)
            sh("losetup", "-d", self.inner_dev)
            self.inner_dev = None

    def freeze(self):
        sh("fsfreeze", "-f", self.outer)
        self.frozen = True

    def thaw(self):
        if self.frozen:
            sh("fsfreeze", "-u", self.outer)
            self.frozen = False

    def copy_inner(self):
        sh("cp", "--sparse=always", self.inner_img, self.cut_img)

    def boot_cut(self):
        """The inner disk becomes the copy taken at the cut."""
        self.umount_inner()
        sh("cp", "--sparse=always", self.cut_img, self.inner_img)
        os.unlink(self.cut_img)
        self.mount_inner()

    def close(self):
        try:
            self.thaw()
        finally:
            for mnt, dev in ((self.inner, self.inner_dev), (self.outer, self.outer_dev)):
                if dev:
                    sh("umount", mnt, check=False)
                    sh("losetup", "-d", dev, check=False)


class Streamer:
    """AckClient.pump in a thread until told to stop."""

    def __init__(self, client):
        self.client = client
        self.stop = threading.Event()
        self.error = None
        self.t = threading.Thread(target=self._run)
        self.t.start()

    def _run(self):
        try:
            while not self.stop.is_set() and not self.client.done():
                self.client.pump(0.2, stop=self.stop.is_set)
        except BaseException as e:  # noqa: B902 - re-raised by join()
            self.error = e

    def join(self):
        self.stop.set()
        self.t.join()
        if self.error:
            raise self.error


def check_cut(data, client, inputs, before, label):
    """The store on the cut disk holds every answer received before `before`."""
    acks = client.ack_list(before)
    stored = [a for a in acks if a[2] in ("STORED", "SUPERSEDED")]
    assert os.path.exists(os.path.join(data, "data.mdb")), \
        "%s: %d events were acknowledged STORED/SUPERSEDED before the cut, but the cut disk has " \
        "no store at all (%s/data.mdb is missing): every acknowledged event was lost" % (
            label, len(stored), data)
    try:
        rows = h.mdb_log(data)
    except AssertionError as e:
        # A store LMDB cannot even open after the cut (seen with the
        # --nosync variant: a torn meta page) lost everything acknowledged.
        raise AssertionError("%s: %d events were acknowledged STORED/SUPERSEDED before the cut, "
                             "but the store on the cut disk cannot be read: every acknowledged "
                             "event was lost (%s)" % (label, len(stored), e))
    folded = h.check_log(rows, inputs, acks, None, label)
    d = h.diff_tables(h.query_all(data), folded.tables(), label + ": tallies vs the fold of the log")
    assert not d, d
    rb = h.rebuild_check(data)
    assert rb[0] == 0, "%s: optally rebuild --check exit %d\n%s%s" % ((label,) + rb)
    n_acked = len({(a[0], a[1]) for a in acks if a[2] in ("STORED", "SUPERSEDED")})
    return len(rows), n_acked


def test():
    broken = "--broken-nosync" in sys.argv[1:]
    need_tools()
    seed = h.seed_from_env()
    rng = random.Random(seed)
    cuts = int(os.environ.get("OPTALLY_POWERCUT_CUTS", "4"))
    events = h.gen_events(rng, N_EVENTS)
    model = h.Model()
    model.apply_all(events, check=False)
    inputs = {(e["event_id"], int(e.get("revision", 0))): h.content(e) for e in events}
    extra = ["--quiet"] + (["--nosync"] if broken else [])
    if broken:
        h.log("BROKEN VARIANT: consumer with --nosync; this run is expected to FAIL")
    with h.tempdir("ot-pcut-") as tmp:
        disks = Disks(tmp)
        c = None
        try:
            data = os.path.join(disks.inner, "data")
            ep = h.tcp_endpoint()
            c = h.Consumer(data, ep, extra)
            client = h.AckClient(ep, batch=50, window=4, timeout_ms=2000)
            client.submit(events)
            figures = []
            # Cut k when this many events have answers (spread over the
            # stream), plus a random moment.
            targets = sorted(rng.randint(len(events) // 20, len(events) * 9 // 10) for _ in range(cuts))
            for k in range(1, cuts + 1):
                # ... and at least a few batches after the restart.
                target = max(targets[k - 1], len(client.acks) + 200)
                s = Streamer(client)
                h.wait_for(lambda: len(client.acks) >= target or client.done() or s.error, 120, 0.005)
                time.sleep(rng.uniform(0.0, 0.05))
                try:
                    disks.freeze()
                    disks.copy_inner()
                    # SIGKILL now; it lands when the consumer's blocked I/O
                    # returns after the thaw, before any more user code runs.
                    c.proc.send_signal(signal.SIGKILL)
                    t_thaw = time.monotonic()
                    disks.thaw()
                    c.proc.wait(30)
                    c.kill()
                finally:
                    s.join()
                disks.boot_cut()
                # Checked before the consumer restarts: the log and the
                # tallies are read by separate commands, so nothing may
                # commit meanwhile (a restarted consumer would take the
                # batches still queued in the client's socket).
                n_log, n_acked = check_cut(data, client, inputs, t_thaw, "cut %d (seed %d)" % (k, seed))
                c = h.Consumer(data, ep, extra)
                figures.append((n_log, n_acked))
                h.log("cut %d/%d: the cut disk holds %d log records; all %d revisions acknowledged "
                      "STORED/SUPERSEDED before the cut are there at their seq; tallies equal the "
                      "fold of the log" % (k, cuts, n_log, n_acked))
                if client.done():
                    h.log("(every event was answered before cut %d; the later cuts find a quiet store)" % k)
            assert client.pump(300), "%d events unanswered 300 s after the last cut" % len(client.unanswered())
            n_log, n_acked = check_cut(data, client, inputs, None, "after the last cut (seed %d)" % seed)
            h.assert_tallies(data, model, "after %d power cuts (seed %d)" % (cuts, seed))
            h.check_log(h.mdb_log(data), inputs, client.ack_list(), model, "log after the cuts")
            client.close()
            c.stop()
            c = None
            h.log("power cuts survived: %d; events checked: %d (%d log records); records at each cut "
                  "(in log, acknowledged): %r" % (cuts, len(events), n_log, figures))
        finally:
            if c is not None and c.alive():
                c.proc.send_signal(signal.SIGKILL)
                disks.thaw()
                c.kill()
            disks.close()


if __name__ == "__main__":
    h.main(test)
