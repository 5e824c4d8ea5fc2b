"""CurveZMQ: only listed keys may write or read, and the wire is encrypted.

- `optally keygen` writes NAME.key (0600) and NAME.pub; it refuses to
  overwrite a key.
- a consumer with --curve-secret/--allow-keys stores what a listed producer
  sends, and nothing from an unlisted key or a plain (NULL) client;
- the snapshot service answers a listed key and not an unlisted one;
- bytes captured on the wire between a listed producer and the consumer do
  not contain the events' text; the same capture without CURVE does (so the
  check can fail);
- misconfigurations fail with a clear message; a non-loopback bind without
  keys prints a loud warning.
"""
import os
import socket
import stat
import subprocess
import threading
import time

import otharness as h
from otharness import pb, zmq






class Relay:
    """A TCP relay that records every byte going to the consumer."""

    def __init__(self, target_port):
        self.port = h.free_port()
        self.captured = bytearray()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", self.port))
        self.srv.listen(8)
        self.target = target_port
        threading.Thread(target=self._accept, daemon=True).start()

    def _pipe(self, a, b, record):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if record:
                    self.captured += data
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, False), daemon=True).start()


def total_events(data_dir):
    rows = h.query(data_dir, "total")
    return rows[0]["events"] if rows else 0


def test():
    with h.tempdir() as d:
        keys = os.path.join(d, "keys")
        allow = os.path.join(d, "allow")
        os.mkdir(keys)
        os.mkdir(allow)
        server_key, server_pub = h.keygen(keys, "server")
        alice_key, alice_pub = h.keygen(keys, "alice")
        mallory_key, _ = h.keygen(keys, "mallory")
        assert stat.S_IMODE(os.stat(server_key).st_mode) == 0o600, "key file not 0600"
        rc, _, err = h._run(["keygen", os.path.join(keys, "server")])
        assert rc != 0 and "overwrite" in err, "keygen overwrote a key: %d %s" % (rc, err)
        os.link(alice_pub, os.path.join(allow, "alice.pub"))

        # Misconfigurations.
        p = subprocess.run([h.BIN, "consume", "--data", os.path.join(d, "x"), "--ingest",
                            h.tcp_endpoint(), "--curve-secret", server_key],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        assert p.returncode == 2 and b"--allow-keys" in p.stderr, p.stderr
        p = subprocess.run([h.BIN, "consume", "--data", os.path.join(d, "x"), "--ingest",
                            h.tcp_endpoint(), "--curve-secret", alice_pub, "--allow-keys", allow],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        assert p.returncode == 2 and b"key pair" in p.stderr, p.stderr

        data = os.path.join(d, "store")
        port = h.free_port()
        snap_port = h.free_port()
        ep = "tcp://127.0.0.1:%d" % port
        snap_ep = "tcp://127.0.0.1:%d" % snap_port
        c = h.Consumer(data, ep, ["--curve-secret", server_key, "--allow-keys", allow,
                                  "--snapshot", snap_ep])
        curve_alice = ["--curve-secret", alice_key, "--server-key", server_pub]
        curve_mallory = ["--curve-secret", mallory_key, "--server-key", server_pub]

        # A listed producer writes.
        rc, out, err = h.run_produce(["--to", ep] + curve_alice + [h.DEMO_FILE])
        assert rc == 0, "listed key refused: rc %d\n%s\n%s" % (rc, out, err)
        assert h.parse_summary(out)["stored"] == 94, out
        # An unlisted key and a plain client get nowhere: transport failure, nothing stored.
        for who, extra in (("unlisted key", curve_mallory), ("plain client", [])):
            rc, out, err = h.run_produce(["--to", ep, "--timeout-ms", "700", "--retries", "1"] + extra,
                                         input='{"event_id":"intruder-1","source":"X","occurred_on":"2024-01-02","country":"IQ","operations":1}\n')
            assert rc == 2, "%s: produce rc %d (want 2: refused)\n%s" % (who, rc, err)
        assert total_events(data) == 94, "an unauthenticated client changed the tallies"
        assert "intruder" not in open(os.path.join(data, "data.mdb"), "rb").read().decode("latin-1")

        # Snapshot: listed key answered, unlisted not.
        ak, mk, sk = h.read_keys(alice_key), h.read_keys(mallory_key), h.read_keys(server_pub)
        ctx = zmq.Context.instance()
        for who, k, want in (("alice", ak, True), ("mallory", mk, False)):
            s = ctx.socket(zmq.DEALER)
            s.curve_serverkey = sk["public-key"].encode()
            s.curve_publickey = k["public-key"].encode()
            s.curve_secretkey = k["secret-key"].encode()
            s.setsockopt(zmq.LINGER, 0)
            s.connect(snap_ep)
            s.send(pb.SnapshotRequest(view="total").SerializeToString())
            got = s.poll(2000)
            if want:
                assert got, "listed subscriber got no snapshot"
                r = pb.SnapshotReply.FromString(s.recv())
                assert r.tallies[0].counts.events == 94, r
            else:
                assert not got, "unlisted subscriber got a snapshot"
            s.close()

        # The wire is not plain text with CURVE...
        relay = Relay(port)
        rc, out, err = h.run_produce(["--to", "tcp://127.0.0.1:%d" % relay.port] + curve_alice
                                     + [h.UPDATES_FILE])
        assert rc in (0, 1), "produce through relay: rc %d %s" % (rc, err)
        assert len(relay.captured) > 1000, "relay captured nothing"
        assert b"centcom-2024q1" not in relay.captured, "event ids readable on the wire with CURVE"
        c.stop()

        # ...and is without it (the check above can fail).
        c2 = h.Consumer(os.path.join(d, "plain"), ep, [])
        relay2 = Relay(port)
        rc, out, err = h.run_produce(["--to", "tcp://127.0.0.1:%d" % relay2.port, h.DEMO_FILE])
        assert rc == 0, err
        assert b"centcom-2024q1" in relay2.captured, "control capture does not show plain text"
        c2.stop()

        # A public bind without keys warns loudly.
        c3 = h.Consumer(os.path.join(d, "open"), "tcp://0.0.0.0:%d" % h.free_port(), [])
        time.sleep(0.2)
        assert "WARNING" in c3.stderr() and "CURVE" in c3.stderr(), c3.stderr()
        c3.stop()
        h.log("curve: listed producer stored 94; unlisted key, plain client and unlisted "
              "subscriber refused; %d bytes captured, no plain text" % len(relay.captured))


if __name__ == "__main__":
    h.main(test)
