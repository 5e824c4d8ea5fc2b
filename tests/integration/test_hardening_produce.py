#!/usr/bin/python3
"""`optally produce` with one line too big for a message (issue 10, item 6).

A file of valid lines, one line whose `notes` is 5 MB, then more valid
lines. Before: the 5 MB event made a batch over the consumer's
--max-msg-size, the consumer dropped the connection, produce waited 20 s
(4 x 5 s timeouts), exited 2 "consumer did not answer", and every line
after the big one was never sent. Now the producer knows the limit (its
default is the consumer's 4 MiB): the big event is REJECTED
STRING_TOO_LONG locally, naming its line, every valid line is STORED, and
produce exits 1 (some rejected) quickly.
"""

import json
import os
import time

import otharness as h

BEFORE = 1500
AFTER = 489
BIG_LINE = BEFORE + 1


def ev(n, notes="x" * 400):
    # 400-byte notes: 10,000 of them would already pass 4 MiB in one batch
    return {"event_id": "big-line-%d" % n, "source": "TEST", "occurred_on": "2024-03-10",
            "country": "IQ", "partner_force": "ISF", "operations": 1, "type": "PARTNERED",
            "notes": notes}


def test_big_line_rejected_rest_sent():
    with h.tempdir() as tmp:
        _big_line(tmp)


def _big_line(tmp):
    path = os.path.join(tmp, "events.jsonl")
    with open(path, "w") as f:
        for n in range(1, BEFORE + 1):
            f.write(json.dumps(ev(n)) + "\n")
        f.write(json.dumps(ev(BIG_LINE, "n" * (5 * 1000 * 1000))) + "\n")
        for n in range(BIG_LINE + 1, BIG_LINE + 1 + AFTER):
            f.write(json.dumps(ev(n)) + "\n")
    data = os.path.join(tmp, "data")
    ep = h.ipc_endpoint(tmp)
    with h.Consumer(data, ep, ["--nosync"]) as c:
        t0 = time.monotonic()
        # --batch 10000: batches must be split by bytes as well (10,000
        # events of 400-byte notes are ~4.6 MB)
        rc, out, err = h.run_produce(["--to", ep, "--batch", "10000", path], timeout=60)
        took = time.monotonic() - t0
        assert rc == 1, "produce exit %d (want 1: some rejected)\nstdout:%s\nstderr:%s" % (
            rc, out, err[-2000:])
        assert took < 10, "produce took %.1fs: it waited for a timeout" % took
        got = h.parse_summary(out)
        assert got["stored"] == BEFORE + AFTER and got["rejected"] == 1 and \
            got["duplicate"] == 0, "summary %s\nstderr:%s" % (got, err[-2000:])
        want = "%s:%d: rejected: STRING_TOO_LONG:" % (path, BIG_LINE)
        assert want in err and "'notes'" in err, "no line %r in stderr:\n%s" % (want, err[-2000:])
        assert "did not answer" not in err, err[-2000:]
        c.stop()
    rows = h.query(data, "total")
    assert rows and rows[0]["events"] == BEFORE + AFTER, "tallies: %s" % rows
    h.log("5 MB line %d rejected STRING_TOO_LONG locally, %d valid lines stored in %.1fs" % (
        BIG_LINE, BEFORE + AFTER, took))


def test_max_msg_size_flag():
    """`produce --max-msg-size B` matches a consumer started with the same
    limit: a 100 kB event is refused locally, the rest is stored, and the
    consumer never drops the connection. Without the flag (the 4 MiB
    default) the consumer would disconnect and the run would give up."""
    with h.tempdir() as tmp:
        path = os.path.join(tmp, "events.jsonl")
        with open(path, "w") as f:
            f.write(json.dumps(ev(1)) + "\n")
            f.write(json.dumps(ev(2, "m" * 100000)) + "\n")
            f.write(json.dumps(ev(3)) + "\n")
        ep = h.ipc_endpoint(tmp)
        with h.Consumer(os.path.join(tmp, "data"), ep, ["--nosync", "--max-msg-size", "65536"]) as c:
            rc, out, err = h.run_produce(["--to", ep, "--max-msg-size", "65536", path], timeout=60)
            got = h.parse_summary(out)
            assert rc == 1 and got["stored"] == 2 and got["rejected"] == 1, \
                "rc %d summary %s\nstderr:%s" % (rc, got, err[-2000:])
            assert "%s:2: rejected: STRING_TOO_LONG:" % path in err, err[-2000:]
            c.stop()
        rc, out, err = h.run_produce(["--to", ep, "--max-msg-size", "1023", path], timeout=60)
        assert rc == 64 and "--max-msg-size" in err and "1024.." in err, (rc, err)
    h.log("--max-msg-size: 100 kB event refused locally under a 64 KiB limit; 1023 is a usage error")


def main():
    test_big_line_rejected_rest_sent()
    test_max_msg_size_flag()
    h.log("OK")


if __name__ == "__main__":
    h.main(main)
