#!/usr/bin/python3
"""What a producer can make the consumer refuse, and what that may cost
(issue 10, items 1, 3 and 5).

  1. Reject flood: 100 messages of b"\\x0a\\x00" * 10000 (10,000 empty
     events each, 2 MB in all) from one connection used to make 1,000,000
     reject rows and grow data.mdb by 112 MiB in under a second. Every event
     is still answered REJECTED with its reason, but the store keeps at most
     the reject budget (ot_store.h: per peer 1,000 rows / 1 MiB a minute, in
     all 10,000 rows / 8 MiB a minute) and tells the rest in summary rows.
     Then: big junk events (60 kB each, 10 messages of 3.6 MB) keep at most
     the peer's bytes; 15 connections flooding at once keep at most the
     all-peers rows; and a valid producer running during a flood is served:
     every valid event STORED, its own invalid events kept one by one.
  3. One-line text fields take no control characters: a partner_force that
     would forge a table row is REJECTED BAD_CHARACTER, and no tally key
     holds a newline.
  5. Unknown fields of a newer producer may hold zero bytes: field 51
     holding the submessage 08 00, and bytes 00 01 in field 52, are STORED
     (they were BAD_STRING); a NUL in a real string field is still
     BAD_STRING.
"""

import json
import os
import time

import otharness as h
from otharness import pb, zmq

PEER_ROWS = 1000
PEER_BYTES = 1 << 20
ALL_ROWS = 10000


def dealer(ep):
    s = h._CTX.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 60000)
    s.connect(ep)
    return s


def flood(sock, messages, payload):
    """Send messages copies of payload on sock, then take every reply.
    Returns the replies (pb.IngestReply)."""
    for _ in range(messages):
        sock.send(payload)
    reps = []
    for _ in range(messages):
        rep = pb.IngestReply()
        rep.ParseFromString(sock.recv_multipart()[-1])
        reps.append(rep)
    return reps


def assert_all_rejected(reps, n, reason):
    for rep in reps:
        assert rep.error == 0 and len(rep.results) == n, h.brief(rep)
        for r in rep.results:
            assert r.status == pb.REJECTED and r.reason == reason and r.reason_text, \
                "not answered REJECTED %s: %s" % (h.reason_name(reason), r)


def reject_rows(data):
    return h.rejects(data)


def test_flood(tmp):
    data = os.path.join(tmp, "data")
    ep = h.ipc_endpoint(tmp)
    with h.Consumer(data, ep, ["--nosync"]) as c:
        base = h.dir_bytes(data)
        # 1. empty events, one connection
        t0 = time.monotonic()
        s = dealer(ep)
        reps = flood(s, 100, b"\x0a\x00" * 10000)
        took = time.monotonic() - t0
        s.close(0)
        assert_all_rejected(reps, 10000, pb.MISSING_FIELD)
        grown = h.dir_bytes(data) - base
        rows = reject_rows(data)
        summaries = [r for r in rows if "not kept one by one" in r["text"]]
        h.log("flood of 1,000,000 empty events in %.2fs: %d reject rows (%d summaries), "
              "data.mdb grew %d KiB (bound: %d rows / %d KiB of records a peer a minute)" % (
                  took, len(rows), len(summaries), grown >> 10, PEER_ROWS, PEER_BYTES >> 10))
        assert len(rows) <= PEER_ROWS, "%d reject rows kept for one peer" % len(rows)
        assert summaries and "MISSING_FIELD" in summaries[0]["text"], summaries[:1]
        assert grown <= 2 * PEER_BYTES, "the store grew by %d bytes" % grown

        # 2. big junk: 60 kB events without event_id (MISSING_FIELD), raw kept up to 64 KiB
        base = h.dir_bytes(data)
        big = h.make_batch([{"source": "J", "notes": "x" * 60000} for _ in range(60)])
        s = dealer(ep)
        reps = flood(s, 10, big)
        s.close(0)
        assert_all_rejected(reps, 60, pb.MISSING_FIELD)
        grown = h.dir_bytes(data) - base
        h.log("10 messages of 60 x 60 kB junk (%d MB sent): data.mdb grew %d KiB" % (
            10 * len(big) // 1000000, grown >> 10))
        assert grown <= 2 * PEER_BYTES, "the store grew by %d bytes" % grown

        # 3. many connections at once, and a valid producer served meanwhile
        events = os.path.join(tmp, "valid.jsonl")
        with open(events, "w") as f:
            for n in range(3000):
                f.write(json.dumps({"event_id": "valid-%d" % n, "source": "TEST",
                                    "occurred_on": "2024-04-01", "country": "IQ",
                                    "partner_force": "ISF", "operations": 1}) + "\n")
            for n in range(5):
                f.write(json.dumps({"event_id": "valid-bad-%d" % n, "source": "TEST",
                                    "occurred_on": "2024-13-01", "country": "IQ",
                                    "operations": 1}) + "\n")
        out_p, err_p = os.path.join(tmp, "p.out"), os.path.join(tmp, "p.err")
        # 5 flooding connections leave room in the all-peers budget (1,017
        # rows so far + 5 x 1,000), so the producer's own rejects must be kept
        socks = [dealer(ep) for _ in range(5)]
        payload = b"\x0a\x00" * 10000
        for s in socks:
            for _ in range(20):
                s.send(payload)
        prod = h.produce_bg(["--to", ep, events], out_p, err_p)
        for s in socks:
            for _ in range(20):
                rep = pb.IngestReply()
                rep.ParseFromString(s.recv_multipart()[-1])
                assert_all_rejected([rep], 10000, pb.MISSING_FIELD)
            s.close(0)
        rc = prod.wait(timeout=120)
        out, err = open(out_p).read(), open(err_p).read()
        assert rc == 1, "produce exit %d\n%s\n%s" % (rc, out, err[-2000:])
        got = h.parse_summary(out)
        assert got["stored"] == 3000 and got["rejected"] == 5, got
        rows = reject_rows(data)
        mine = [r for r in rows if r.get("event_id", "").startswith("valid-bad-")]
        # Each of the five kept as its own row with its reason. Under load
        # the producer may re-send a batch whose reply came late (its retry
        # rule): a re-sent invalid event is kept again, so whole copies of
        # the five are allowed, never a missing or summarised one.
        ids = sorted(r["event_id"] for r in mine)
        copies = len(mine) // 5
        assert copies >= 1 and ids == sorted(["valid-bad-%d" % n for n in range(5)] * copies) \
            and all(r["reason"] == "BAD_DATE" for r in mine), \
            "the valid producer's rejects were not kept one by one: %s" % mine
        total = h.query(data, "total")
        assert total and total[0]["events"] == 3000, total

        # 4. 15 more connections: the all-peers bound holds whatever the
        # number of peers (a window is a minute: allow one per minute passed)
        socks = [dealer(ep) for _ in range(15)]
        for s in socks:
            for _ in range(20):
                s.send(payload)
        for s in socks:
            for _ in range(20):
                rep = pb.IngestReply()
                rep.ParseFromString(s.recv_multipart()[-1])
                assert_all_rejected([rep], 10000, pb.MISSING_FIELD)
            s.close(0)
        windows = int((time.monotonic() - t0) // 60) + 1
        c.stop()
    rows = reject_rows(data)
    h.log("22 connections, 5,000,600 junk events in all: %d reject rows kept (bound %d a "
          "minute, %d window(s)); data.mdb is %d KiB" % (
              len(rows), ALL_ROWS, windows, h.dir_bytes(data) >> 10))
    assert len(rows) <= ALL_ROWS * windows, len(rows)


def raw_event(extra):
    """A valid event's wire bytes followed by extra (raw protobuf fields)."""
    ev = h.make_event(event_id="unk-%d" % len(extra) + extra.hex(), source="TEST",
                      occurred_on="2024-05-01", country="IQ", partner_force="ISF",
                      operations=1)
    return ev.SerializeToString() + extra


def batch_of_raw(events, batch_id):
    out = b""
    for e in events:
        out += b"\x0a" + bytes(varint(len(e))) + e
    return out + b"\x10" + bytes(varint(batch_id))


def varint(n):
    out = []
    while n >= 0x80:
        out.append((n & 0x7f) | 0x80)
        n >>= 7
    out.append(n)
    return out


def test_unknown_fields_and_characters(tmp):
    data = os.path.join(tmp, "data2")
    ep = h.ipc_endpoint(tmp).replace("ingest.sock", "in2.sock")
    with h.Consumer(data, ep, ["--nosync"]) as c:
        sub51 = b"\x9a\x03\x02\x08\x00"      # field 51, LEN, {08 00}
        bytes52 = b"\xa2\x03\x02\x00\x01"    # field 52, LEN, {00 01}
        nul_src = h.make_event(event_id="nul-src", source="TEST", occurred_on="2024-05-01",
                               country="IQ", operations=1).SerializeToString() + \
            b"\x22\x03C\x00M"                # source "C\0M" (a later field wins)
        rep = h.req_send(ep, batch_of_raw([raw_event(sub51), raw_event(bytes52), nul_src], 7))
        assert rep is not None and rep.error == 0 and len(rep.results) == 3, h.brief(rep)
        st = [(h.status_name(r.status), h.reason_name(r.reason)) for r in rep.results]
        assert st[0] == ("STORED", "REASON_NONE") and st[1] == ("STORED", "REASON_NONE"), st
        assert st[2] == ("REJECTED", "BAD_STRING"), st
        rows = h.query(data, "total")
        assert rows and rows[0]["events"] == 2, rows

        forged = "X  0 0 0 0 0\nIQ              ISF      999999999"
        lines = [{"event_id": "ctl-1", "source": "TEST", "occurred_on": "2024-05-02",
                  "country": "IQ", "partner_force": forged, "operations": 1},
                 {"event_id": "ctl-2", "source": "TEST", "occurred_on": "2024-05-02",
                  "country": "IQ", "partner_force": "\u001b[31mred", "operations": 1},
                 {"event_id": "ctl-3", "source": "TEST\u0085", "occurred_on": "2024-05-02",
                  "country": "IQ", "operations": 1},
                 {"event_id": "ctl-4", "source": "TEST", "occurred_on": "2024-05-02",
                  "country": "IQ", "partner_force": "ISF", "operations": 1,
                  "notes": "line 1\nline 2"}]
        rc, out, err = h.run_produce(["--to", ep, "-"],
                                     input="".join(json.dumps(x) + "\n" for x in lines))
        assert rc == 1, "produce exit %d\n%s\n%s" % (rc, out, err)
        got = h.parse_summary(out)
        assert got["stored"] == 1 and got["rejected"] == 3, (got, err)
        assert err.count("rejected: BAD_CHARACTER: field '") == 3, err
        assert "U+000A" in err and "U+001B" in err and "U+0085" in err, err
        c.stop()
    for row in h.query(data, "country,partner_force"):
        assert not any(ch in json.dumps(row, ensure_ascii=True) for ch in ("\\n", "\\u001b")), row
    h.log("unknown fields with zero bytes stored; control characters in one-line fields "
          "refused BAD_CHARACTER")


def test_curve_peer_is_its_key(tmp):
    """With CURVE a peer is its key: reconnecting (a new routing identity)
    does not buy a fresh per-peer budget. Five connections of one key flood
    5 x 500,000 empty events; the store keeps at most one peer's rows."""
    keys, allow = os.path.join(tmp, "keys"), os.path.join(tmp, "allow")
    os.makedirs(keys)
    os.makedirs(allow)
    server_key, server_pub = h.keygen(keys, "server")
    alice_key, alice_pub = h.keygen(keys, "alice")
    sk, ak = h.read_keys(server_pub), h.read_keys(alice_key)
    os.rename(alice_pub, os.path.join(allow, "alice.pub"))
    data = os.path.join(tmp, "curve-data")
    ep = h.tcp_endpoint()
    with h.Consumer(data, ep, ["--nosync", "--curve-secret", server_key, "--allow-keys", allow]) as c:
        for _ in range(5):
            s = h._CTX.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RCVTIMEO, 60000)
            s.curve_serverkey = sk["public-key"].encode()
            s.curve_publickey = ak["public-key"].encode()
            s.curve_secretkey = ak["secret-key"].encode()
            s.connect(ep)
            assert_all_rejected(flood(s, 50, b"\x0a\x00" * 10000), 10000, pb.MISSING_FIELD)
            s.close(0)
        c.stop()
    rows = reject_rows(data)
    h.log("one CURVE key over 5 connections, 2,500,000 junk events: %d reject rows kept "
          "(per-peer bound %d)" % (len(rows), PEER_ROWS))
    assert len(rows) <= PEER_ROWS, \
        "%d reject rows for one key: a reconnect renewed the per-peer budget" % len(rows)


def main():
    with h.tempdir() as tmp:
        test_unknown_fields_and_characters(tmp)
        test_flood(tmp)
        test_curve_peer_is_its_key(tmp)
    h.log("OK")


if __name__ == "__main__":
    h.main(main)
