#!/usr/bin/python3
"""One progress display (cli/progress.c) for every long-running command.

produce and log import used to draw a line of their own ("FILE: N lines,
S sent, A answered, R events/s"); they now draw the line of export, replay
and rebuild:

    LABEL: N UNIT[ of TOTAL (P%)], R UNIT/s[, H:MM:SS left]

redrawn in place on a terminal ("\\r\\033[K" first) and erased at the end.
The test runs each command with its stderr on a pseudo-terminal, slowed
down (one small batch in flight) so that it lasts past the first redraw
(250 ms), and checks the lines it drew, and that a pipe gets none.
"""

import os
import pty
import random
import re
import select
import subprocess
import time

import otharness as h

CLEAR = b"\r\x1b[K"
LINE = re.compile(rb"\r\x1b\[K([a-z]+): (\d+) ([a-z]+)(?: of (\d+) \(\d+%\))?, (\d+) ([a-z]+)/s"
                  rb"(?:, \d+:\d\d:\d\d left)?")


def run_on_pty(args, timeout=300):
    """optally ARGS with stderr on a pseudo-terminal. Returns (rc, stdout,
    the bytes written to the terminal)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([h.BIN] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=slave)
    os.close(slave)
    got = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "optally %s: still running after %ds" % (" ".join(args), timeout)
            ready, _, _ = select.select([master], [], [], left)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:     # EIO: every writer of the terminal has closed it
                break
            if not data:
                break
            got.append(data)
        out = p.stdout.read()
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return rc, out.decode(), b"".join(got)


def check_drawn(label, unit, term, what):
    lines = LINE.findall(term)
    assert lines, "%s: no progress line of the shared form on the terminal:\n%r" % (what, term[-600:])
    for got_label, _, got_unit, _, _, rate_unit in lines:
        assert (got_label, got_unit, rate_unit) == (label, unit, unit), \
            "%s: progress line %r, want label %r and unit %r" % (what, lines[0], label, unit)
    last = term.rfind(b"/s")
    assert term.find(CLEAR, last) != -1, "%s: the last progress line is not erased:\n%r" % (
        what, term[-300:])
    return len(lines)


def drawn(what, label, unit, make_args):
    """Run optally make_args(attempt) on a terminal until a run lasts long
    enough for a redraw (1 s: four times the 250 ms before the first);
    make_args gives more work at each attempt. Checks what was drawn."""
    for attempt in range(6):
        args = make_args(attempt)
        t0 = time.monotonic()
        rc, out, term = run_on_pty(args)
        took = time.monotonic() - t0
        assert rc == 0, "%s: exit %d\nstdout: %s\nterminal: %r" % (what, rc, out, term[-600:])
        if LINE.search(term) or took >= 1.0:
            n = check_drawn(label, unit, term, what)
            h.log("%s: %d progress lines of the shared form in %.1f s, erased at the end"
                  % (what, n, took))
            return
        h.log("%s took %.2f s, too short to redraw: again with more work" % (what, took))
    raise AssertionError("%s never lasted 1 s, even with 32 times the work" % what)


def main():
    rng = random.Random(9)
    with h.tempdir("ot-prog-") as tmp:
        data = os.path.join(tmp, "data")
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep, ["--nosync"])
        slow = ["--to", ep, "--batch", "20", "--window", "1"]

        def events(attempt, name="produce"):
            """A file of new events, twice as many at each attempt."""
            jl = os.path.join(tmp, "%s-%d.jsonl" % (name, attempt))
            h.write_jsonl(jl, h.gen_events(rng, 6000 << attempt))
            return jl

        drawn("produce", b"produce", b"events", lambda a: ["produce"] + slow + [events(a)])

        path = os.path.join(tmp, "log.pb")

        def exported(attempt):
            if attempt:     # more in the log, for a longer import
                rc, out, err = h.run_produce(["-q", "--to", ep, events(attempt, "more")])
                assert rc == 0, "produce: exit %d\n%s" % (rc, err)
            rc, out, err = h._run(["log", "export", "--data", data, "--out", path, "--quiet"])
            assert rc == 0, "log export: exit %d\n%s" % (rc, err)
            return ["log", "import"] + slow + [path]

        drawn("log import", b"import", b"events", exported)

        # Not a terminal: no progress at all (a log file gets no escapes).
        rc, out, err = h._run(["log", "import"] + slow + [path])
        assert rc == 0 and "\r" not in err and "\x1b" not in err, \
            "log import to a pipe: exit %d, stderr %r" % (rc, err[-300:])
        c.stop()
    h.log("ok")


if __name__ == "__main__":
    main()
