#!/usr/bin/python3
"""Memory flood: peers that send as fast as they can and never read a reply
cannot make the consumer hold more than a stated amount of memory.

8 flooder processes, each with its own DEALER connection to the ingest
socket, for FLOOD_SECONDS:
  valid    x3  EventBatch of 10,000 events, just under 4 MiB (the largest
               valid batch; the same ids every time, so DUPLICATE after the
               first and the store does not grow)
  bomb     x1  one event padded with ~1.3 million tiny unknown fields, under
               4 MiB on the wire but over the 32 MiB decode budget (TOO_LARGE)
  garbage  x3  random bytes, 1 byte to 4 MiB (UNDECODABLE)
  oversize x1  5 MiB messages, over --max-msg-size: the connection is dropped
               (the DEALER reconnects and sends again)
(OPTALLY_FLOOD_KINDS=valid,garbage,... picks other flooders, to study one
kind.) The consumer's VmRSS (/proc/PID/status) is sampled every 50 ms; the flood is
stopped at once if it passes the bound, so the test cannot take the machine
down. Asserted: the peak (VmHWM, the kernel's own high-water mark) stays
under the bound; the consumer is alive; once the flooders are gone a normal
client gets STORED within 60 s; the consumer stops cleanly (exit 0).

The bound, from the design (docs/ARCHITECTURE.md): work in flight between
the threads is capped at 64 messages / 256 MiB (payload + decoded size);
one more message can be in the receiver's hands (4 MiB + 32 MiB decode
budget); plus a baseline for libzmq, LMDB's mapped pages and the id index:
  plain build  448 MiB = 256 + 64 + 128
  ASan build   768 MiB = the same + 256 MiB allocator quarantine + shadow
               (chosen from `ldd $OPTALLY_BIN`; OPTALLY_FLOOD_BOUND_MIB overrides)
Bytes queued inside libzmq count too: the daemon must bound them (a
receive high-water mark in messages times the message size), or they
break the bound.
"""

import os
import subprocess
import sys
import tempfile
import time

import otharness as h

pb = h.pb
FLOOD_SECONDS = 12.0
SAMPLE_S = 0.05
MIB = 1024 * 1024

FLOODER = r'''
import os, random, signal, sys, time, zmq
kind, ep, seconds, path = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
sent = 0
def on_term(*_):
    print(sent, flush=True)
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
payloads = []
if kind in ("valid", "bomb"):
    with open(path, "rb") as f:
        payloads = [f.read()]
elif kind == "oversize":
    payloads = [os.urandom(5 * 1024 * 1024)]
else:
    rnd = random.Random(os.getpid())
    blob = os.urandom(4 * 1024 * 1024)
    for n in (1, 7, 100, 4096, 65536, 1 << 20, 4 * 1024 * 1024 - 64):
        start = rnd.randrange(0, len(blob) - n + 1)
        payloads.append(b"\x0f" + blob[start:start + n - 1] if n > 1 else b"\x0f")
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(ep)
end = time.monotonic() + seconds
i = 0
while time.monotonic() < end:
    try:
        s.send(payloads[i % len(payloads)], zmq.NOBLOCK, copy=False)
        sent += 1
        i += 1
    except zmq.Again:
        time.sleep(0.005)
print(sent)
s.close(0)
ctx.term()
'''


def bound_mib():
    v = os.environ.get("OPTALLY_FLOOD_BOUND_MIB")
    if v:
        return int(v), "OPTALLY_FLOOD_BOUND_MIB"
    p = subprocess.run(["ldd", h.BIN], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if b"libasan" in p.stdout:
        return 768, "ASan build"
    return 448, "plain build"


def valid_batch():
    """The largest valid EventBatch under 4 MiB: 10,000 events."""
    evs = [{"event_id": "flood-%06d" % i, "source": "TEST", "occurred_on": "2024-01-05",
            "country": "IQ", "operations": 1, "notes": "n" * 372} for i in range(h.BATCH_MAX)]
    data = h.make_batch(evs, 1)
    assert 4 * MIB - 65536 < len(data) < 4 * MIB, "valid flood batch is %d bytes" % len(data)
    return data, evs


def bomb_batch():
    """One event whose ~1.3 million unknown fields decode to more than the
    32 MiB budget, in under 4 MiB."""
    ev = h.make_event(event_id="bomb-1", source="TEST", occurred_on="2024-01-05", country="IQ",
                      operations=1).SerializeToString()
    pad = b"\xa0\x06\x00" * 1300000          # field 100, varint 0: kept as unknown fields
    body = ev + pad
    n, varint = len(body), b""
    while True:
        b = n & 0x7F
        n >>= 7
        varint += bytes([b | (0x80 if n else 0)])
        if not n:
            break
    data = b"\x0a" + varint + body
    assert len(data) < 4 * MIB, len(data)
    return data


def test():
    bound, why = bound_mib()
    h.log("RSS bound: %d MiB (%s)" % (bound, why))
    with h.tempdir("ot-flood-") as tmp:
        data = os.path.join(tmp, "data")
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep, ["--nosync", "--quiet"])
        valid, evs = valid_batch()
        # The first valid batch goes through normally: later ones are duplicates.
        rep = h.req_send(ep, valid, timeout_ms=60000)
        assert rep is not None and rep.error == pb.BATCH_OK and len(rep.results) == h.BATCH_MAX, \
            "the first max-size batch: %s" % h.brief(rep)
        paths = {"valid": os.path.join(tmp, "valid.bin"), "bomb": os.path.join(tmp, "bomb.bin")}
        with open(paths["valid"], "wb") as f:
            f.write(valid)
        with open(paths["bomb"], "wb") as f:
            f.write(bomb_batch())
        rss0, _ = h.rss_kib(c.pid)
        disk0 = h.dir_bytes(data)
        kinds = os.environ.get("OPTALLY_FLOOD_KINDS", "valid,valid,valid,bomb,garbage,garbage,garbage,oversize")
        kinds = kinds.split(",")
        procs = []
        for k in kinds:
            out = tempfile.TemporaryFile(dir=tmp)
            procs.append((k, out, subprocess.Popen(
                [sys.executable, "-c", FLOODER, k, ep, str(FLOOD_SECONDS), paths.get(k, "-")],
                stdout=out, stderr=subprocess.STDOUT)))
        peak, over, t0 = rss0, None, time.monotonic()
        try:
            while any(p.poll() is None for _, _, p in procs):
                rss, _ = h.rss_kib(c.pid)
                peak = max(peak, rss)
                if rss > bound * 1024:
                    over = (rss, time.monotonic() - t0)
                    break
                assert c.alive(), "consumer died under the flood (rc %s); stderr:\n%s" % (
                    c.proc.returncode, c.stderr()[-3000:])
                time.sleep(SAMPLE_S)
        finally:
            for _, _, p in procs:
                if p.poll() is None:
                    p.terminate()
            for _, _, p in procs:
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        sent = {}
        for k, out, p in procs:
            out.seek(0)
            txt = out.read().decode("utf-8", "replace").strip()
            sent[k] = sent.get(k, 0) + (int(txt) if txt.isdigit() else 0)
        _, hwm = h.rss_kib(c.pid)
        h.log("flood for %.1f s: messages handed to libzmq by kind %r; consumer RSS before %d MiB, "
              "sampled peak %d MiB, VmHWM %d MiB; store grew by %d MiB" % (
                  time.monotonic() - t0, sent, rss0 // 1024, peak // 1024, hwm // 1024,
                  (h.dir_bytes(data) - disk0) // MIB))
        if over:
            c.kill()
            raise AssertionError(
                "consumer RSS reached %d MiB after %.1f s of flood, over the bound of %d MiB (%s); the "
                "flood was stopped there. Repeat: %s" % (over[0] // 1024, over[1], bound, why,
                                                        "/usr/bin/python3 " + os.path.abspath(__file__)))
        assert hwm <= bound * 1024, "consumer VmHWM %d MiB is over the bound of %d MiB (%s)" % (
            hwm // 1024, bound, why)
        assert c.alive(), "consumer died after the flood; stderr:\n%s" % c.stderr()[-3000:]

        # Served again once the flooders are gone.
        t1 = time.monotonic()
        probe = {"event_id": "flood-probe", "source": "TEST", "occurred_on": "2024-01-06",
                 "country": "SY", "operations": 1}
        rep = h.req_send(ep, h.make_batch([probe], 7), timeout_ms=60000)
        assert rep is not None and [h.status_name(r.status) for r in rep.results] == ["STORED"], \
            "after the flood a normal client got %s" % h.brief(rep)
        h.log("after the flood a normal client was answered STORED in %.1f s" % (time.monotonic() - t1))
        c.stop(timeout=60)
        model = h.Model()
        model.apply_all(evs + [probe])
        h.assert_tallies(data, model, "after the flood")


if __name__ == "__main__":
    h.main(test)
