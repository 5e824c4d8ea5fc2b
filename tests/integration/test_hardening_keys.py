#!/usr/bin/python3
"""`--allow-keys` and the server key, as an operator handles them (issue
10, item 4).

  1. An allow-list is the NAME.pub files of its directory, nothing else:
     with alice.pub, scraper1.pub.revoked (bob's key, "revoked" by renaming)
     and intruder.pub.bak (mallory's key) in --allow-keys, alice stores, bob
     and mallory store nothing (produce exits 2). The consumer says which
     key it loaded (alice.pub and her public key in Z85), warns about each
     other file by name, and never prints a secret.
  2. A server key file that group or others may read (0644, 0640) is
     refused: exit 2, "permissions 0644 for 'server.key' are too open ...
     chmod 600 server.key", no "ready", and no new data directory left;
     after chmod 600 the consumer serves.
  3. A refused CURVE handshake (eve, whose key is in no file of the
     allow-list) is logged by the consumer: domain, address and the
     client's public key, for ingest and for the snapshot service
     ("subscribe"); a burst of 30 refused clients gives at most one line a
     second (plus the first), whose counts add up to every refusal.
"""

import json
import os
import re
import stat
import subprocess
import time

import otharness as h
from otharness import pb, zmq






def ev(n, who):
    return {"event_id": "hard-keys-%s-%d" % (who, n), "source": "TEST", "occurred_on": "2024-02-10",
            "country": "IQ", "partner_force": "ISF", "operations": 1, "type": "PARTNERED"}


def produce(ep, key, server_pub, who):
    return h.run_produce(["--to", ep, "--curve-secret", key, "--server-key", server_pub,
                          "--timeout-ms", "500", "--retries", "1"],
                         input=json.dumps(ev(1, who)) + "\n")


def total_events(data):
    rows = h.query(data, "total")
    return rows[0]["events"] if rows else 0


def wait_for(cond, what, timeout=10.0):
    """Poll cond() (a process's stderr file: no event to wait on) until true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


REFUSED_RE = re.compile(r"^optally consume: WARNING: refused (\d+) CURVE handshakes?\b.*$", re.M)


def refusals(text):
    """(lines, sum of counts) of the consumer's refusal lines."""
    found = REFUSED_RE.findall(text)
    return len(found), sum(int(n) for n in found)


def curve_client(ctx, kind, k, server_pub_z85, ep):
    s = ctx.socket(kind)
    s.curve_serverkey = server_pub_z85.encode()
    s.curve_publickey = k["public-key"].encode()
    s.curve_secretkey = k["secret-key"].encode()
    s.setsockopt(zmq.LINGER, 0)
    s.connect(ep)
    return s


class Keys:
    """A key directory (server, alice, bob, mallory) and an allow-list with
    alice.pub, scraper1.pub.revoked (bob) and intruder.pub.bak (mallory)."""

    def __init__(self, d):
        self.d = d
        keys, self.allow = os.path.join(d, "keys"), os.path.join(d, "allow")
        os.mkdir(keys)
        os.mkdir(self.allow)
        self.server_key, self.server_pub = h.keygen(keys, "server")
        self.alice_key, alice_pub = h.keygen(keys, "alice")
        self.bob_key, bob_pub = h.keygen(keys, "bob")
        self.mallory_key, mallory_pub = h.keygen(keys, "mallory")
        self.eve_key, _ = h.keygen(keys, "eve")   # in no file of the allow-list
        os.link(alice_pub, os.path.join(self.allow, "alice.pub"))
        os.link(bob_pub, os.path.join(self.allow, "scraper1.pub.revoked"))
        os.link(mallory_pub, os.path.join(self.allow, "intruder.pub.bak"))
        self.ak, self.bk, self.mk, self.ek, self.sk = (h.read_keys(p) for p in (
            self.alice_key, self.bob_key, self.mallory_key, self.eve_key, self.server_key))
        self.secrets = [k["secret-key"] for k in (self.ak, self.bk, self.mk, self.ek, self.sk)]

    def consumer(self, name, extra=()):
        data = os.path.join(self.d, name)
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep, ["--curve-secret", self.server_key, "--allow-keys", self.allow]
                       + list(extra))
        return c, data, ep


def test_server_key_mode(k):
    """2. A server key others can read: refused, nothing left behind."""
    for mode in (0o644, 0o640):
        os.chmod(k.server_key, mode)
        data = os.path.join(k.d, "never")
        p = subprocess.Popen([h.BIN, "consume", "--data", data, "--ingest", h.tcp_endpoint(),
                              "--publish", "none", "--snapshot", "none",
                              "--curve-secret", k.server_key, "--allow-keys", k.allow],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
            raise AssertionError("mode %o: the consumer accepted the key and ran:\n%s" % (
                mode, err.decode()))
        err = err.decode()
        want = "permissions %04o for '%s' are too open" % (mode, k.server_key)
        assert p.returncode == 2 and want in err and ("chmod 600 %s" % k.server_key) in err, \
            "mode %o: rc %d\n%s" % (mode, p.returncode, err)
        assert "ready" not in err, err
        assert not os.path.exists(data), "a refused start left %s behind" % data
    os.chmod(k.server_key, 0o600)
    c, _, _ = k.consumer("after-chmod")
    c.stop()
    h.log("server key 0644/0640: refused with the chmod to run; 0600 serves")


def test_only_pub(k):
    """1. Only NAME.pub counts."""
    c, data, ep = k.consumer("store")
    rc, out, err = produce(ep, k.alice_key, k.server_pub, "alice")
    assert rc == 0 and h.parse_summary(out)["stored"] == 1, "alice: rc %d\n%s%s" % (rc, out, err)
    for who, key in (("bob (scraper1.pub.revoked)", k.bob_key),
                     ("mallory (intruder.pub.bak)", k.mallory_key)):
        rc, out, err = produce(ep, key, k.server_pub, who.split()[0])
        assert rc == 2, "%s was let in: produce rc %d\n%s%s" % (who, rc, out, err)
    assert total_events(data) == 1, "a revoked or stray key stored events"
    log = c.stderr()
    assert "allowed key %s (alice.pub)" % k.ak["public-key"] in log, "key loaded not told:\n" + log
    for f in ("scraper1.pub.revoked", "intruder.pub.bak"):
        assert re.search(r"WARNING: .*ignoring %s: " % re.escape(f), log), \
            "no warning about %s:\n%s" % (f, log)
    for key in (k.bk, k.mk):
        assert ("allowed key %s" % key["public-key"]) not in log, log
    for secret in k.secrets:
        assert secret not in log, "a secret key reached the log"
    c.stop()
    h.log("allow-keys: only *.pub loaded (and told); .revoked and .bak ignored with a warning")


def test_refusals_logged(k):
    """3. Refusals are logged: ingest and subscribe; a burst rate-limited."""
    snap = h.tcp_endpoint()
    c, data, ep = k.consumer("refusals", ["--snapshot", snap])
    rc, out, err = produce(ep, k.eve_key, k.server_pub, "eve")
    assert rc == 2, "eve was let in: rc %d\n%s%s" % (rc, out, err)
    wait_for(lambda: k.ek["public-key"] in c.stderr(), "the refusal of eve's key")
    log = c.stderr()
    line = [l for l in log.splitlines() if k.ek["public-key"] in l and "refused" in l][0]
    assert "domain 'ingest'" in line and "address 127.0.0.1" in line, line
    ctx = h._CTX
    s = curve_client(ctx, zmq.DEALER, k.ek, k.sk["public-key"], snap)
    s.send(pb.SnapshotRequest(view="total").SerializeToString())
    assert not s.poll(1500), "an unlisted key got a snapshot"
    s.close()
    wait_for(lambda: "domain 'subscribe'" in c.stderr(), "the refusal on the snapshot service")

    # A burst: rate-limited, every refusal counted.
    lines0, sum0 = refusals(c.stderr())
    n = 30
    t0 = time.monotonic()
    socks = [curve_client(ctx, zmq.DEALER, k.ek, k.sk["public-key"], ep) for _ in range(n)]
    wait_for(lambda: refusals(c.stderr())[1] - sum0 >= n, "%d refusals counted in the log" % n)
    took = time.monotonic() - t0
    for s in socks:
        s.close()
    lines, total = refusals(c.stderr())
    assert lines - lines0 <= 2 + int(took), "%d lines for %d refusals in %.1f s: not rate-limited\n%s" % (
        lines - lines0, n, took, c.stderr())
    log = c.stderr()
    for secret in k.secrets:
        assert secret not in log, "a secret key reached the log"
    c.stop()
    h.log("refusals: %d in a burst told in %d lines over %.1f s" % (total - sum0, lines - lines0, took))


def main():
    with h.tempdir() as d:
        k = Keys(d)
        test_server_key_mode(k)
        test_only_pub(k)
        test_refusals_logged(k)
    h.log("OK")


if __name__ == "__main__":
    main()
