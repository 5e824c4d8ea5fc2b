#!/usr/bin/python3
"""The harness itself: "ready" means the consumer's ready line, nothing else.

otharness.Consumer once took any stderr containing "ready" as ready, which
"already" matches: a consumer refused with "Address already in use" or
"another consumer already uses this data directory" counted as started,
and a test went on against the other process (or none). Checked here:
  1. is_ready() on texts: the ready line (also after warnings) is ready;
     the bind and lock errors, "already", a ready line not at the start of
     a line, and a bare "ready" are not;
  2. a real consumer refused for a busy ingest endpoint (exit 2, "Address
     already in use") makes otharness.Consumer raise, naming the exit;
  3. likewise a consumer refused for a data directory in use (the lock);
  4. a live process that prints only "... already ..." lines and never the
     ready line makes Consumer raise after its ready timeout (it is not
     taken as ready just because it is alive);
  5. positive control: a process that prints the exact ready line is ready.
"""

import os
import stat
import time

import otharness as h


def expect_refused(data, ep, want_text, label):
    try:
        c = h.Consumer(data, ep, ["--publish", "none", "--snapshot", "none"])
    except AssertionError as e:
        msg = str(e)
        assert "exited with 2 before ready" in msg, "%s: raised, but not for the exit: %s" % (label, msg)
        assert want_text in msg, "%s: the raise does not show the consumer's error %r: %s" % (
            label, want_text, msg)
        h.log("%s: Consumer raised: %s" % (label, msg.splitlines()[0]))
        return
    c.kill()
    raise AssertionError("%s: otharness.Consumer reported ready for a consumer that was refused "
                         "(stderr had %r)" % (label, want_text))


def fake_bin(tmp, name, lines):
    """A script standing in for optally: prints lines on stderr, then stays
    alive until killed."""
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
        for line in lines:
            f.write("printf '%%s\\n' '%s' >&2\n" % line.replace("'", "'\\''"))
        f.write("exec sleep 60\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def with_bin(path, fn):
    saved = h.BIN
    h.BIN = path
    try:
        return fn()
    finally:
        h.BIN = saved


def test():
    # 1. The matcher.
    ready = "optally consume: ready ingest=tcp://127.0.0.1:5555 publish=none snapshot=none data=/tmp/x\n"
    assert h.is_ready(ready), "the ready line is not ready"
    assert h.is_ready("optally consume: WARNING: ...\n" + ready), "the ready line after a warning is not ready"
    for text in ("optally consume: cannot bind ingest socket tcp://127.0.0.1:5555: Address already in use "
                 "(is another consumer running? use --ingest)\n",
                 "optally consume: cannot open store in d: another consumer already uses this data directory\n",
                 "already\n", "ready\n", "optally consume: ready\n",
                 "note: optally consume: ready ingest=x publish=y snapshot=z data=d\n"):
        assert not h.is_ready(text), "is_ready() takes %r as ready" % text

    with h.tempdir("ot-ready-") as tmp:
        data = os.path.join(tmp, "data")
        ep = h.tcp_endpoint()
        first = h.Consumer(data, ep, ["--publish", "none", "--snapshot", "none"])
        # 2. The endpoint is taken.
        expect_refused(os.path.join(tmp, "other"), ep, "Address already in use", "busy endpoint")
        # 3. The data directory is taken.
        expect_refused(data, h.tcp_endpoint(), "already uses this data directory", "locked data directory")
        assert first.alive(), "the first consumer died: %s" % first.stderr()
        first.stop()

        # 4. Alive, talks of "already", never ready.
        liar = fake_bin(tmp, "already.sh", [
            "optally consume: cannot bind ingest socket tcp://127.0.0.1:1: Address already in use",
            "optally consume: already ready? no"])
        t0 = time.monotonic()
        try:
            c = with_bin(liar, lambda: h.Consumer(data, ep, ready_timeout=2))
        except AssertionError as e:
            assert "not ready after 2s" in str(e), "raised for another reason: %s" % e
            h.log("a live process without the ready line: Consumer raised after %.1f s" % (
                time.monotonic() - t0))
        else:
            c.kill()
            raise AssertionError("otharness.Consumer took a process that printed only 'already' "
                                 "lines as ready")

        # 5. Positive control.
        good = fake_bin(tmp, "ready.sh", [ready.strip()])
        c = with_bin(good, lambda: h.Consumer(data, ep, ready_timeout=10))
        assert c.alive()
        c.kill()


if __name__ == "__main__":
    h.main(test)
