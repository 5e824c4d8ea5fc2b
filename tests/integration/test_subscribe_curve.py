#!/usr/bin/python3
"""Live subscriptions under CurveZMQ: a subscriber whose key the consumer
allows gets the snapshot and the updates; an unlisted key and a plain
(NULL) client get nothing, and `--once` says so and exits 2.

The consumer runs with --curve-secret and --allow-keys (every socket a
CURVE server, a ZAP handler that fails closed); `optally subscribe` takes
--curve-secret me.key --server-key server.pub (made by `optally keygen`).
"""

import os

import otharness as h
import subharness as sh




def test():
    with h.tempdir("ot-subcurve-") as d:
        keys, allow = os.path.join(d, "keys"), os.path.join(d, "allow")
        os.mkdir(keys)
        os.mkdir(allow)
        server_key, server_pub = h.keygen(keys, "server")
        alice_key, alice_pub = h.keygen(keys, "alice")
        mallory_key, _ = h.keygen(keys, "mallory")
        os.link(alice_pub, os.path.join(allow, "alice.pub"))
        data = os.path.join(d, "data")
        c, ingest, pub, snap = sh.sub_consumer(data, ["--curve-secret", server_key, "--allow-keys", allow])
        alice = ["--curve-secret", alice_key, "--server-key", server_pub]
        rc, out, err = h.run_produce(["--to", ingest] + alice + [h.DEMO_FILE])
        assert rc == 0, "produce with alice's key: rc %d %s" % (rc, err)

        frm = pub + "," + snap
        rc, out, err = h._run(["subscribe", "--from", frm, "--once", "--format", "json"] + alice)
        rows = [{k: v for k, v in r.items() if k not in ("kind", "seq")}
                for r in h._jsonl(out, "subscribe --once") if r.get("kind") == "snapshot"]
        assert rc == 0 and rows == h.query(data), "allowed key: rc %d, %d rows\n%s" % (rc, len(rows), err)

        live = sh.Subscriber(pub, snap, alice)
        h.wait_for(lambda: live.table()[1], 20)
        rc, out, err = h.run_produce(["--to", ingest] + alice + [h.UPDATES_FILE])
        st = sh.wait_equal(live, sh.want_tables(data), 20, "CURVE subscriber")
        assert st["updates"] > 0 and st["resyncs"] == 0, st
        live.stop()

        for who, extra in (("unlisted key", ["--curve-secret", mallory_key, "--server-key", server_pub]),
                           ("plain client", [])):
            rc, out, err = h._run(["subscribe", "--from", frm, "--once", "--snapshot-timeout-ms", "300"] + extra,
                                  timeout=30)
            assert rc == 2 and "did not answer" in err and '"view"' not in out and not out.strip(), \
                "%s: rc %d (want 2), stdout %r, stderr %s" % (who, rc, out[:200], err)
        rc, out, err = h._run(["subscribe", "--from", frm, "--once", "--curve-secret", alice_key])
        assert rc == 64 and "--server-key" in err, (rc, err)
        h.log("allowed key: snapshot and updates; unlisted key and plain client: nothing, exit 2")
        c.stop()


if __name__ == "__main__":
    h.main(test)
