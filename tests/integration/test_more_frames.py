"""The endless-message trap: ZMQ_MAXMSGSIZE bounds a frame, not a message.

A raw TCP peer that completes a ZMTP 3.0 NULL handshake and then streams
frames that all carry the MORE flag never completes a message; libzmq
buffers it (a PULL socket grew from 6 MB to 6.3 GB in 9 s on this machine).
What optally does:
- with CURVE on, such a peer cannot even finish the handshake (it speaks
  NULL to a CURVE server), so nothing is buffered: RSS stays flat;
- without CURVE (loopback demo mode), the memory ceiling (--max-rss-mb)
  stops the daemon loudly before it takes the machine down; everything it
  had acknowledged is still there after a restart.
"""
import os
import socket
import struct
import threading
import time

import otharness as h


def zmtp_null_peer(port, seconds, stop):
    """Handshake as a DEALER with the NULL mechanism, then stream 1 MiB
    frames with MORE set until told to stop. Returns bytes sent."""
    s = socket.create_connection(("127.0.0.1", port))
    greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31
    s.sendall(greeting)
    s.settimeout(2)
    try:
        s.recv(64)
    except OSError:
        pass
    prop = b"\x0bSocket-Type" + struct.pack(">I", 6) + b"DEALER"
    body = b"\x05READY" + prop
    s.sendall(b"\x04" + bytes([len(body)]) + body)
    frame = b"\x03" + struct.pack(">Q", 1 << 20) + b"x" * (1 << 20)   # long frame, MORE
    sent = 0
    t_end = time.monotonic() + seconds
    s.settimeout(1)
    try:
        while time.monotonic() < t_end and not stop.is_set():
            s.sendall(frame)
            sent += len(frame)
    except OSError:
        pass
    s.close()
    return sent


def rss_mb(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return 0
    return 0


def test():
    with h.tempdir() as d:
        # 1. CURVE on: the NULL peer is refused at the handshake; memory stays flat.
        keys = os.path.join(d, "keys")
        allow = os.path.join(d, "allow")
        os.mkdir(keys)
        os.mkdir(allow)
        for name in ("server", "alice"):
            rc, _, err = h._run(["keygen", os.path.join(keys, name)])
            assert rc == 0, err
        os.link(os.path.join(keys, "alice.pub"), os.path.join(allow, "alice.pub"))
        port = h.free_port()
        ep = "tcp://127.0.0.1:%d" % port
        c = h.Consumer(os.path.join(d, "secure"), ep,
                       ["--curve-secret", os.path.join(keys, "server.key"), "--allow-keys", allow])
        base = rss_mb(c.pid)
        stop = threading.Event()
        sent = zmtp_null_peer(port, 4, stop)
        peak = rss_mb(c.pid)
        assert c.alive(), "consumer died under the NULL peer with CURVE on"
        assert peak - base < 64, "CURVE consumer grew %d MiB (sent %d MiB)" % (peak - base, sent >> 20)
        c.stop()
        h.log("CURVE on: NULL peer sent %d MiB, consumer RSS %d -> %d MiB" % (sent >> 20, base, peak))

        # 2. Plain mode: the ceiling stops the daemon loudly; acked data survives.
        data = os.path.join(d, "plain")
        port = h.free_port()
        ep = "tcp://127.0.0.1:%d" % port
        c = h.Consumer(data, ep, ["--max-rss-mb", "400"])
        rc, out, _ = h.run_produce(["--to", ep, h.DEMO_FILE])
        assert rc == 0, out
        stop = threading.Event()
        result = {}
        t = threading.Thread(target=lambda: result.update(sent=zmtp_null_peer(port, 40, stop)))
        t.start()
        deadline = time.monotonic() + 45
        peak = 0
        while time.monotonic() < deadline and c.alive():
            peak = max(peak, rss_mb(c.pid))
            time.sleep(0.05)
        stop.set()
        t.join()
        assert not c.alive(), "consumer still alive after the peer streamed %d MiB (peak %d MiB)" % (
            result.get("sent", 0) >> 20, peak)
        rc = c.proc.wait()
        err = c.stderr()
        c._done()
        assert rc == 2 and "MEMORY CEILING" in err, "rc %d, stderr:\n%s" % (rc, err)
        assert peak < 1500, "peak RSS %d MiB: the ceiling did not hold" % peak
        c = h.Consumer(data, ep, [])
        assert h.query(data, "total")[0]["events"] == 94, "acknowledged events lost"
        c.stop()
        h.log("plain: peer sent %d MiB, consumer stopped loudly at peak %d MiB (ceiling 400)"
              % (result.get("sent", 0) >> 20, peak))


if __name__ == "__main__":
    h.main(test)
