#!/usr/bin/python3
"""What a producer writes cannot forge rows or drive a terminal through
query, rejects and subscribe (issue 10, item 3).

Hostile partner_force values (a newline followed by a fake row, ESC and C1
CSI sequences, a bidi override, DEL, an empty value, a literal "-", a
literal '""', spreadsheet formulas, separators) and hostile event_ids go
through a real consumer. Each event is either stored or rejected (whatever
validation decides, the printing must be safe). Then:
  - query table: one line per tally (row count equals the distinct keys of
    the JSON rows), no raw control byte, and each printed cell decodes (the
    C escapes of --help) to exactly its value: empty and "-" differ;
  - query csv: Python's csv module reads the header plus one row per tally,
    no cell starts with = + - @ tab or CR, each cell is the value (after the
    leading ' the OWASP rule adds);
  - query json: valid JSON, values exact, no raw control byte;
  - rejects (table and json): one line per reject, no raw control byte, the
    event_id cell decodes to the exact id;
  - subscribe --once (table, json) and the plain stream of updates: the same
    guarantees; each update is one line starting "seq ".

And what produce says about its CURVE keys (issue 10, item 4, the CLI's
side): a consumer that refuses the key looks like a dead one, so with keys
the "did not answer" message asks whether the key is allowed and points at
the consumer's log and --allow-keys (without keys the message is today's,
checked by test_cli_usage.py); a key pair others can read is refused with
the permissions and the chmod that fixes it; a missing one keeps the
keygen hint.
"""

import csv
import io
import json
import os
import pty
import queue
import select
import subprocess
import threading
import time

import otharness as h
import subharness as sh

VIEW = "country,partner_force"
HOSTILE = [
    "X  0 0 0 0 0\nIQ              ISF      999999999",
    "\x1b[2J\x1b[31mRED\x1b[0m",
    "",
    "-",
    '""',
    '"quoted',
    "=cmd()",
    "+SUM(A1)",
    "@x",
    "-2+3",
    "'=x",
    "\tTAB",
    "\rCR",
    "a,b;\"c\"",
    " padded ",
    "\x7f\u0085\u009b31m\u202eevil\u2028x",
    "\u202eright-to-left\u2028line",
    "back\\nslash",
    "ISF",
]
BAD_IDS = ["bad\x1b[2Jid", "bad\nIQ 1 2 3 4 5", "ok-id"]
BAD_ID_CELLS = ['"bad\\x1b[2Jid"', '"bad\\nIQ 1 2 3 4 5"']   # as the rejects table shows them
# Raw bytes that must never appear in a terminal's output: C0 (but the
# line feed that ends each line), DEL, the C1 controls as UTF-8 (U+0080..
# U+009F), and U+202E / U+2028.
FORBIDDEN = [bytes([c]) for c in range(0x20) if c != 0x0A] + [b"\x7f"] + \
    [bytes([0xC2, c]) for c in range(0x80, 0xA0)] + ["\u202e".encode(), "\u2028".encode()]
CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def event(i, pf, event_id=None):
    return {"event_id": event_id or "out-%d" % i, "source": "TEST", "occurred_on": "2024-03-15",
            "country": "IQ", "partner_force": pf, "operations": 1, "killed": i}


def assert_clean(raw, label, allow_cr_tab=False):
    for b in FORBIDDEN:
        if allow_cr_tab and b in (b"\r", b"\t"):
            continue
        assert b not in raw, "%s: raw control bytes %r in the output:\n%r" % (label, b, raw[:3000])


def decode_cell(cell):
    """A table cell back to its value (tally_print.h: plain, or quoted with
    C escapes)."""
    if not cell.startswith('"'):
        return cell
    assert len(cell) >= 2 and cell.endswith('"'), "unterminated quoted cell %r" % cell
    out, i, s = [], 0, cell[1:-1]
    while i < len(s):
        c = s[i]
        if c == '"':
            raise AssertionError("unescaped quote inside the cell %r" % cell)
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = s[i + 1]
        if e in '"\\':
            out.append(e)
            i += 2
        elif e in "nrt":
            out.append({"n": "\n", "r": "\r", "t": "\t"}[e])
            i += 2
        elif e == "x":
            out.append(chr(int(s[i + 2:i + 4], 16)))
            i += 4
        elif e == "u":
            out.append(chr(int(s[i + 2:i + 6], 16)))
            i += 6
        else:
            raise AssertionError("unknown escape \\%s in %r" % (e, cell))
    return "".join(out)


def run_bytes(args):
    p = subprocess.run([h.BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=h.CMD_TIMEOUT)
    assert p.returncode == 0, "optally %s: exit %d\n%s" % (" ".join(args), p.returncode,
                                                           p.stderr.decode("utf-8", "replace"))
    return p.stdout


def json_lines(raw):
    """JSON Lines split at b"\\n" only (str.splitlines would also split at
    U+0085 and U+2028)."""
    return [json.loads(l) for l in raw.decode("utf-8").split("\n") if l]


def table_cells(raw, label, nfields):
    """The key cells of each row of a one-view table: [[cell, ...], ...].
    Columns: 16 bytes at least per key cell (longer cells push the rest),
    then the counters (h.COUNTERS), 12 each."""
    lines = raw.decode("utf-8").split("\n")
    assert lines[-1] == "", "%s: no final newline" % label
    lines = lines[:-1]
    assert lines[0] == VIEW and lines[1].startswith("country"), "%s: header %r" % (label, lines[:2])
    rows = []
    for line in lines[2:]:
        width = 12 * len(h.COUNTERS)
        keys = line[:-width]
        counters = line[-width:].split()
        assert len(counters) == len(h.COUNTERS) and all(x.isdigit() for x in counters), \
            "%s: a line that is not a tally row (a forged row?): %r" % (label, line)
        cells = [keys[:16].rstrip()] if nfields == 1 else [keys[:16].rstrip(), keys[16:].rstrip()]
        rows.append(cells)
    return rows


def check_query(data, stored_pf):
    # JSON: exact values, valid JSON, nothing raw.
    jraw = run_bytes(["query", "--data", data, "--view", VIEW, "--format", "json"])
    jrows = json_lines(jraw)
    assert_clean(jraw, "query json")
    values = sorted(r["partner_force"] for r in jrows)
    assert values == sorted(stored_pf), "query json values %r, want %r" % (values, sorted(stored_pf))

    # Table: one line per tally, each cell decodes to its value.
    traw = run_bytes(["query", "--data", data, "--view", VIEW])
    assert_clean(traw, "query table")
    rows = table_cells(traw, "query table", 2)
    assert len(rows) == len(jrows), "query table: %d rows for %d distinct keys (forged rows?)\n%s" % (
        len(rows), len(jrows), traw.decode("utf-8", "replace"))
    got = sorted(decode_cell(r[1]) for r in rows)
    assert got == sorted(stored_pf), "query table cells decode to %r, want %r" % (got, sorted(stored_pf))
    cells = [r[1] for r in rows]
    assert len(set(cells)) == len(cells), "two values print the same: %r" % cells
    assert '""' in cells and "-" not in cells and '"-"' in cells, \
        "the empty value and '-' must print \"\" and \"-\": %r" % cells

    # CSV: the csv module reads header + one row per tally; no formula cell.
    craw = run_bytes(["query", "--data", data, "--view", VIEW, "--format", "csv"])
    assert_clean(craw, "query csv", allow_cr_tab=True)
    crows = list(csv.reader(io.StringIO(craw.decode("utf-8"), newline="")))
    assert crows[0][:5] == ["view", "country", "quarter", "month", "partner_force"], crows[0]
    assert len(crows) == 1 + len(jrows), "csv: %d rows for %d tallies" % (len(crows) - 1, len(jrows))
    for row in crows[1:]:
        for cell in row:
            assert not cell.startswith(CSV_FORMULA), "csv cell %r would be evaluated" % cell
    got = sorted(c[4] for c in crows[1:])
    want = sorted(("'" + v if v.startswith(CSV_FORMULA + ("'",)) else v) for v in stored_pf
                  if not any(ch in v for ch in "\x1b\x7f\u0085\u009b\u202e\u2028"))
    plain = [c for c in got if "\\x" not in c and "\\u" not in c]
    assert sorted(plain) == want, "csv cells %r, want %r" % (sorted(plain), want)
    h.log("query: table %d rows = %d keys, cells decode exactly; csv %d rows, no formula cell"
          % (len(rows), len(jrows), len(crows) - 1))
    return traw, jrows


def check_rejects(data, n_rejected):
    jraw = run_bytes(["rejects", "--data", data, "--format", "json"])
    assert_clean(jraw, "rejects json")
    jrows = json_lines(jraw)
    assert len(jrows) == n_rejected, "rejects json: %d rows, want %d" % (len(jrows), n_rejected)
    traw = run_bytes(["rejects", "--data", data])
    assert_clean(traw, "rejects table")
    lines = traw.decode("utf-8").split("\n")[:-1]
    assert len(lines) == 1 + len(jrows), "rejects table: %d lines for %d rejects (forged rows?)\n%s" % (
        len(lines), len(jrows), traw.decode("utf-8", "replace"))
    ids = {r.get("event_id") for r in jrows}
    for line in lines[1:]:
        assert line.split()[0].isdigit(), "rejects: a line that is not a reject row: %r" % line
    for bad, cell in zip(BAD_IDS[:2], BAD_ID_CELLS):
        assert bad in ids, "rejects json: event_id %r missing (exact values): %r" % (bad, ids)
        assert any(" %s " % cell in l for l in lines), "rejects table: no cell %s in\n%s" % (
            cell, traw.decode("utf-8", "replace"))
    h.log("rejects: %d rows, one line each, event_ids escaped" % len(jrows))


def read_lines(proc, q):
    for line in iter(proc.stdout.readline, b""):
        q.put(line)
    q.put(None)


def check_subscribe(pub, snap, ingest, query_table, n_keys):
    frm = pub + "," + snap
    once = run_bytes(["subscribe", "--from", frm, "--once", "--view", VIEW])
    assert once == query_table, "subscribe --once table differs from the query's:\n%r\n%r" % (
        once, query_table)
    jraw = run_bytes(["subscribe", "--from", frm, "--once", "--view", VIEW, "--format", "json"])
    assert_clean(jraw, "subscribe json")
    rows = json_lines(jraw)
    assert sum(1 for r in rows if r.get("kind") == "snapshot") == n_keys, rows

    # The plain stream: one line per update, even for hostile keys.
    p = subprocess.Popen([h.BIN, "subscribe", "--from", frm, "--view", VIEW], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    q = queue.Queue()
    threading.Thread(target=read_lines, args=(p, q), daemon=True).start()
    out = []
    try:
        deadline = time.monotonic() + 30
        while not any(l.startswith(b"# snapshot as of") for l in out):
            assert time.monotonic() < deadline, "subscribe: no snapshot line in 30 s: %r" % out
            try:
                out.append(q.get(timeout=1))
            except queue.Empty:
                pass
        news = [event(100 + i, pf) for i, pf in enumerate(
            ["X new\nIQ              ISF      999999999", "\x1b[2Jnew", '"new', "\u202enew", "-"])]
        rc, so, se = h.run_produce(["--to", ingest, "-"], input="".join(json.dumps(e) + "\n" for e in news))
        assert rc in (0, 1), "produce the updates: exit %d\n%s%s" % (rc, so, se)
        n_updates = h.parse_summary(so)["stored"]   # what validation let in: new keys
        assert n_updates >= 2, "produce the updates: %s%s" % (so, se)   # "\"new" and "-" at least
        updates = []
        while len(updates) < n_updates:
            assert time.monotonic() < deadline, "subscribe: %d update lines in 30 s: %r" % (len(updates), out)
            try:
                line = q.get(timeout=1)
            except queue.Empty:
                continue
            assert line is not None, "subscribe ended: %r" % out
            out.append(line)
            updates.append(line)
    finally:
        p.terminate()
        p.wait(10)
    raw = b"".join(out)
    assert_clean(raw, "subscribe stream")
    for line in updates:
        assert line.startswith(b"seq ") and line.count(b" events=") == 1, \
            "subscribe: an update line that is not one update (forged?): %r" % line
    h.log("subscribe: --once equals the query table; %d updates, one line each" % len(updates))
    check_live(frm, n_keys + n_updates - 1)   # "-" was a key already


def check_live(frm, n_keys):
    """The live table on a terminal (a pty): the only escape sequences are
    its own clear-screen ones, and it shows one line per tally."""
    master, slave = pty.openpty()
    p = subprocess.Popen([h.BIN, "subscribe", "--from", frm, "--view", VIEW], stdin=subprocess.DEVNULL,
                         stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    raw = b""
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    raw += os.read(master, 65536)
                except OSError:
                    break
            screen = raw.rsplit(b"\x1b[H\x1b[2J", 1)[-1]
            # A redraw may arrive in several reads (a pty passes ~4 KiB at a
            # time): wait for every row after the header, not a line count.
            if b"%d tallies" % n_keys in screen and screen.endswith(b"\r\n"):
                seen = screen.decode("utf-8", "replace").split("\r\n")
                hd = [i for i, l in enumerate(seen) if l.startswith("country ")]
                if hd and len([l for l in seen[hd[0] + 1:] if l.strip()]) >= n_keys:
                    break
    finally:
        p.terminate()
        p.wait(10)
        os.close(master)
    assert b"\x1b[H\x1b[2J" in raw, "subscribe on a terminal drew no table: %r" % raw[:2000]
    assert_clean(raw.replace(b"\x1b[H\x1b[2J", b"").replace(b"\r\n", b"\n"), "subscribe live table")
    lines = screen.decode("utf-8").split("\r\n")
    head = [i for i, l in enumerate(lines) if l.startswith("country ")]
    assert len(head) == 1, "live table: no single header line:\n%s" % "\n".join(lines)
    rows = [l for l in lines[head[0] + 1:] if l.strip()]
    assert len(rows) == n_keys, "live table: %d rows for %d tallies (forged rows?):\n%s" % (
        len(rows), n_keys, "\n".join(lines))
    h.log("subscribe live: %d rows on a terminal, no escape sequence but its own" % len(rows))


def check_key_messages(tmp):
    keys = os.path.join(tmp, "keys")
    allow = os.path.join(tmp, "allow")
    os.mkdir(keys)
    os.mkdir(allow)
    for name in ("server", "alice", "bob"):
        rc, _, err = h._run(["keygen", os.path.join(keys, name)])
        assert rc == 0, "keygen %s: %s" % (name, err)
    os.link(os.path.join(keys, "bob.pub"), os.path.join(allow, "bob.pub"))   # not alice
    alice = os.path.join(keys, "alice.key")
    server_pub = os.path.join(keys, "server.pub")
    ep = h.tcp_endpoint()
    line = json.dumps(event(0, "ISF", event_id="keys-1")) + "\n"
    with h.Consumer(os.path.join(tmp, "curve"), ep, ["--curve-secret", os.path.join(keys, "server.key"),
                                                     "--allow-keys", allow]) as c:
        rc, out, err = h.run_produce(["--to", ep, "--curve-secret", alice, "--server-key", server_pub,
                                      "--timeout-ms", "300", "--retries", "0", "-"], input=line)
        c.stop()
    assert rc == 2, "an unlisted key: produce exit %d, want 2\n%s" % (rc, err)
    want = ("optally produce: consumer at %s did not answer after 0 retries of 300 ms; is "
            "`optally consume` running, and is this key allowed?" % ep)
    assert want in err.splitlines(), "no CURVE hint: %r not in\n%s" % (want, err)
    assert "(CURVE: the consumer may have refused it: its log says 'refused ... CURVE handshake' " \
        "with the key; put your NAME.pub in its --allow-keys)" in err, err

    os.chmod(alice, 0o644)
    rc, out, err = h.run_produce(["--to", ep, "--curve-secret", alice, "--server-key", server_pub, "-"],
                                 input=line)
    want = ("optally produce: refusing key pair: permissions 0644 for '%s' are too open" % alice)
    assert rc == 64 and want in err and ("chmod 600 %s" % alice) in err and \
        "Operation not permitted" not in err, "a 0644 key pair: exit %d\n%s" % (rc, err)
    missing = os.path.join(keys, "nobody.key")
    rc, out, err = h.run_produce(["--to", ep, "--curve-secret", missing, "--server-key", server_pub,
                                  "-"], input=line)
    assert rc == 64 and ("cannot read key pair %s: No such file or directory (make one with "
                         "`optally keygen`)" % missing) in err, "a missing key pair: exit %d\n%s" % (rc, err)
    h.log("keys: a refused key, a 0644 key pair and a missing one are each explained")


def test():
    with h.tempdir() as tmp:
        data = os.path.join(tmp, "data")
        c, ingest, pub, snap = sh.sub_consumer(data, ["--nosync"])
        with c:
            evs = [event(i, pf) for i, pf in enumerate(HOSTILE)]
            evs += [event(50 + i, "ISF", event_id=eid) for i, eid in enumerate(BAD_IDS)]
            rc, out, err = h.run_produce(["--to", ingest, "-"],
                                         input="".join(json.dumps(e) + "\n" for e in evs))
            summary = h.parse_summary(out)
            assert rc in (0, 1), "produce: exit %d\n%s%s" % (rc, out, err)
            stored = {r["partner_force"] for r in json_lines(
                run_bytes(["query", "--data", data, "--view", VIEW, "--format", "json"]))}
            for must in ("", "-", '""', "=cmd()", "+SUM(A1)", "@x", "a,b;\"c\"", "ISF", " padded "):
                assert must in stored, "value %r was not stored: %s" % (must, err)
            h.log("produce: %r; %d distinct partner_force values stored" % (summary, len(stored)))
            qtable, jrows = check_query(data, stored)
            check_rejects(data, summary["rejected"])
            check_subscribe(pub, snap, ingest, qtable, len(jrows))
            c.stop()
        check_key_messages(tmp)


if __name__ == "__main__":
    h.main(test)
