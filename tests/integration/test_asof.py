#!/usr/bin/python3
"""As-of queries and the history of one tally (issue 12), end to end.

1. A consumer with one declared view takes a random stream (seed printed;
   $OPTALLY_TEST_SEED repeats it: duplicates, revisions, retractions,
   incidents, aggregates) from `produce` in chunks. At random moments the
   test records `query --format json` (every view) and `query --view
   DECLARED`, with the seq each prints on stderr ("as of log seq N").
   Midway the consumer is killed with SIGKILL and restarted; the stream
   goes on. Each recorded answer must match the model replayed from the
   log to its seq.
2. Afterwards `query --as-of-seq N` reproduces every recorded output byte
   for byte and says "as of log seq N"; the last seq gives today's query;
   `--as-of-time T` (unix ms, and RFC 3339) answers as of the last record
   received at or before T; --quiet prints no seq. After another kill -9
   and a restart, every as-of answer is unchanged.
3. `history` of keys of a built-in and the declared view (json and csv):
   the deltas chain into the counts after, the last equals the tally, the
   seqs are exactly where the model replayed from the log changes that
   tally, and `query --as-of-seq` at each seq shows that row's counts.
4. `status --format json`: log_seq and last_received_at are the log's.
5. Bad input: a seq beyond the log, malformed seqs and times, both
   --as-of options, history of an unknown view or a malformed key: exit
   64 with a message, the store untouched.
"""

import datetime
import os
import random
import re
import time

import otharness as h
import reports_model as rm
import views_model as vm

RANK = ",".join(rm.RANK)
CONSUMER_ARGS = ["--nosync", "--source-rank", RANK, "--publish", "none", "--snapshot", "none"]
SEQ_RE = re.compile(r"as of log seq (\d+)")
V_DECL = vm.View("asof.force_week", ["partner_force", "week", "incident"], ["country=IQ|SY"])


def query_at(data, extra=(), label=""):
    """(stdout, seq on stderr) of `query --format json EXTRA`."""
    args = ["query", "--data", data, "--format", "json"] + list(extra)
    out, err = vm.run(args)
    m = SEQ_RE.findall(err)
    assert len(m) == 1, "%s: optally %s: stderr says no (or several) 'as of log seq N': %r" % (
        label, " ".join(args), err[-1000:])
    return out, int(m[0])


def parse_query(out, views):
    """{view name: {values: 7 counters}} of query JSON text (zero rows dropped)."""
    dims = {v.name: v.group_by for v in views}
    t = {}
    for r in rm.json_rows(out, "query"):
        c = {f: int(r[f]) for f in vm.COUNTERS7}
        if any(c.values()):
            t.setdefault(r["view"], {})[tuple(r[f] for f in dims[r["view"]])] = c
    return t


def model_tables(m, views):
    out = {}
    for v in views:
        tb, _ = m.observed_view(v)
        if tb:
            out[v.name] = tb
    return out


def rfc3339(ms):
    return datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- 1. record during a stream, with a kill -9 ---------------------------------------

def record_stream(tmp, rng, seed):
    stream = vm.decorate(rm.gen_stream(rng, n_plain=240, n_incidents=60, n_roots=20, n_figures=10, tag="a"), seed)
    model = vm.ViewsModel(rm.RANK)
    want = model.apply_all(stream)
    data = os.path.join(tmp, "asof")
    ing = h.tcp_endpoint()
    c = h.Consumer(data, ing, CONSUMER_ARGS)
    out, _ = vm.view_add(data, V_DECL)
    st = vm.Streamer(ing, stream, tmp, 24, 0.12, "asof")
    st.start()
    moments = []    # (extra args, stdout, seq)
    killed = False
    while st.is_alive():
        time.sleep(rng.uniform(0.05, 0.5))
        for extra in ([], ["--view", V_DECL.name]):
            o, seq = query_at(data, extra, "recording")
            if seq > 0:
                moments.append((extra, o, seq))
        if not killed and st.chunks_done >= len(st.chunks) // 2:
            st.hold()
            c.kill()
            c = h.Consumer(data, ing, CONSUMER_ARGS)
            killed = True
            st.release()
            h.log("kill -9 after %d chunks; restarted" % st.chunks_done)
    st.finish(want, "as-of stream (seed %d)" % seed)
    assert killed, "the stream ended before the kill"
    model.summary = st.summary
    log = rm.read_log(data)
    model.set_log(log)
    vm.check_view(data, model, V_DECL, "after the stream")
    rm.check_query(data, model, "after the stream")
    seqs = sorted({s for _, _, s in moments})
    assert len(seqs) >= 6 and seqs[0] < log[-1][0], "recorded only %d distinct seqs %r (log ends at %d)" % (
        len(seqs), seqs, log[-1][0])
    return data, ing, c, log, moments, model


def check_recorded(data, log, moments, label):
    """Every recorded answer equals the model replayed to its seq."""
    views = vm.builtin_views() + [V_DECL]
    want_at = {}
    wanted = {s for _, _, s in moments}

    def probe(m, seq, _):
        if seq in wanted:
            want_at[seq] = model_tables(m, views)
    vm.replay(log, rm.RANK, probe)
    for extra, out, seq in moments:
        got = parse_query(out, views)
        want = want_at.get(seq, {}) if seq else {}
        if extra:
            want = {k: t for k, t in want.items() if k == V_DECL.name}
        bad = ["%s: %s" % (v, vm.diff(got.get(v, {}), want.get(v, {}), v)) for v in sorted(set(got) | set(want))
               if got.get(v, {}) != want.get(v, {})]
        assert not bad, "%s: query %s recorded as of seq %d differs from the model replayed to it:\n%s" % (
            label, " ".join(extra), seq, "\n".join(bad)[:4000])


# --- 2. as-of reproduces ---------------------------------------------------------------

def check_asof(data, log, moments, label):
    for extra, out, seq in moments:
        o, s = query_at(data, ["--as-of-seq", str(seq)] + extra, label)
        assert s == seq, "%s: query --as-of-seq %d says 'as of log seq %d'" % (label, seq, s)
        assert o == out, "%s: query --as-of-seq %d %s differs from what query printed then:\nthen:\n%s\nnow:\n%s" % (
            label, seq, " ".join(extra), out[:3000], o[:3000])


def check_asof_time(data, log, rng, label):
    recs = [(seq, r.received_at) for seq, r in log]
    for seq, t in rng.sample(recs, 4) + [recs[-1]]:
        last = max(s for s, at in recs if at <= t)
        o1, s1 = query_at(data, ["--as-of-time", str(t)], label)
        o2, s2 = query_at(data, ["--as-of-seq", str(last)], label)
        assert s1 == last and o1 == o2, "%s: --as-of-time %d (received_at of seq %d) says seq %d, want %d " \
            "(the last received at or before it)%s" % (label, t, seq, s1, last, "" if o1 == o2 else "; outputs differ")
        whole = t // 1000 * 1000
        o3, s3 = query_at(data, ["--as-of-time", rfc3339(t)], label)
        o4, s4 = query_at(data, ["--as-of-time", str(whole)], label)
        assert (o3, s3) == (o4, s4), "%s: --as-of-time %s and %d (the same instant) differ: seq %d and %d" % (
            label, rfc3339(t), whole, s3, s4)


def test_asof(tmp, rng, seed):
    data, ing, c, log, moments, model = record_stream(tmp, rng, seed)
    label = "as-of (seed %d)" % seed
    check_recorded(data, log, moments, label)
    check_asof(data, log, moments, label)
    end = log[-1][0]
    o1, s1 = query_at(data, [], label)
    o2, s2 = query_at(data, ["--as-of-seq", str(end)], label)
    assert s1 == s2 == end and o1 == o2, "%s: --as-of-seq %d (the end) differs from query (seq %d)" % (label, end, s1)
    rc, out, err = h._run(["query", "--data", data, "--format", "json", "--quiet", "--as-of-seq", str(end)])
    assert rc == 0 and out == o1 and not SEQ_RE.search(err), "%s: --quiet: exit %d, stderr %r" % (label, rc, err)
    check_asof_time(data, log, rng, label)
    c.kill()
    c = h.Consumer(data, ing, CONSUMER_ARGS)
    check_asof(data, log, moments, label + ", after kill -9 and restart")
    h.log("as-of: %d recorded answers (seqs %d..%d) reproduced, before and after kill -9" % (
        len(moments), moments[0][2], moments[-1][2]))
    return data, c, log, model


# --- 3. history ----------------------------------------------------------------------------

def check_history(data, log, model, rng, label):
    views = [vm.View("country,quarter", ("country", "quarter")), vm.View("country", ("country",)), V_DECL]
    picks = []
    for v in views:
        table, keys = model.observed_view(v)
        ks = sorted(table, key=lambda k: -table[k]["events"])
        picks += [(v, ks[0], keys[ks[0]]), (v, rng.choice(ks), None)]
    for i, (v, values, _) in enumerate(picks):
        picks[i] = (v, values, model.observed_view(v)[1][values])
    want_hist = {i: [] for i in range(len(picks))}
    cache = {}

    def probe(m, seq, at):
        cnt = m.counting()
        for i, (v, values, _) in enumerate(picks):
            c = rm.zero()
            for e in cnt:
                ck = (i, e["event_id"], e["revision"])
                if ck not in cache:
                    k = v.key(e)
                    cache[ck] = k is not None and k[0] == values
                if cache[ck]:
                    rm.add(c, rm.counts_of(e))
            prev = want_hist[i][-1][1] if want_hist[i] else rm.zero()
            if c != prev:
                want_hist[i].append((seq, c, at))
    vm.replay(log, rm.RANK, probe)
    received = {seq: r.received_at for seq, r in log}
    for i, (v, values, key) in enumerate(picks):
        rows, _ = vm.history(data, v.name, key)
        what = "%s: history --view %s --key %r" % (label, v.name, key)
        assert rows, "%s: no rows" % what
        after = rm.zero()
        for r in rows:
            assert set(r) >= {"seq", "received_at", "after", "delta"}, "%s: row %r" % (what, r)
            for k in vm.COUNTERS7:
                after[k] += r["delta"][k]
            assert after == r["after"], "%s: seq %d: after %r is not the previous after plus delta %r" % (
                what, r["seq"], r["after"], r["delta"])
            assert r["received_at"] == received.get(r["seq"]), "%s: seq %d received_at %r, the log says %r" % (
                what, r["seq"], r["received_at"], received.get(r["seq"]))
        tally = model.observed_view(v)[0][values]
        assert rows[-1]["after"] == tally, "%s: last after %r, tally %r" % (what, rows[-1]["after"], tally)
        got = [(r["seq"], r["after"]) for r in rows]
        want = [(s, c) for s, c, _ in want_hist[i]]
        assert got == want, "%s: (seq, after) rows differ from the log replayed:\n got  %r\n want %r" % (
            what, got[:12], want[:12])
        # the counts after a row are what as-of says at its seq, and before it at seq - 1
        for r in rng.sample(rows, min(2, len(rows))):
            for s, c in ((r["seq"], r["after"]), (r["seq"] - 1, {k: r["after"][k] - r["delta"][k] for k in vm.COUNTERS7})):
                if s <= 0:
                    continue
                t, _, _ = vm.query_view(data, v, ["--as-of-seq", str(s)])
                assert t.get(values, rm.zero()) == c, "%s: query --as-of-seq %d shows %r, history says %r" % (
                    what, s, t.get(values), c)
    v, values, key = picks[0]
    out, _ = vm.history(data, v.name, key, "csv")
    lines = out.splitlines()
    head = "seq,received_at," + ",".join(vm.COUNTERS7) + "," + ",".join("delta_" + c for c in vm.COUNTERS7)
    assert lines and lines[0] == head, "%s: history --format csv header %r, want %r" % (label, lines[:1], head)
    assert len(lines) == 1 + len(want_hist[0]), "%s: history csv has %d rows, want %d" % (
        label, len(lines) - 1, len(want_hist[0]))
    vm.run(["history", "--data", data, "--view", v.name, "--key", key, "--format", "table"])
    h.log("history: %d keys, every change at the seq the log replay says" % len(picks))


def check_status(data, log, summary, label):
    st = vm.status(data)
    got = {k: st.get(k) for k in h.STATUSES}
    assert got == summary, "%s: status counts %r, the produce summaries %r" % (label, got, summary)
    assert st.get("log_seq") == log[-1][0] and st.get("last_received_at") == log[-1][1].received_at, \
        "%s: status log_seq %r last_received_at %r, the log ends at %d received %d: %r" % (
            label, st.get("log_seq"), st.get("last_received_at"), log[-1][0], log[-1][1].received_at, st)
    assert st.get("declared_views") == [V_DECL.name], "%s: status declared_views %r" % (label, st.get("declared_views"))


# --- 5. bad input --------------------------------------------------------------------------

def check_bad(data, args, label):
    rc, out, err = h._run(args)
    assert rc == 64 and err.strip(), "%s: optally %s: exit %d (want 64 with a message)\nstderr: %s" % (
        label, " ".join(args), rc, err[-1000:])
    return err


def test_bad(data, c, log):
    end = log[-1][0]
    q = ["query", "--data", data, "--format", "json"]
    err = check_bad(data, q + ["--as-of-seq", str(end + 1)], "consumer running")
    assert str(end) in err or str(end + 1) in err, "seq beyond the log: the message names neither %d nor the " \
        "log's end %d: %s" % (end + 1, end, err)
    c.stop()
    before = vm.fingerprint(data)
    bad = [q + ["--as-of-seq", str(end + 1)], q + ["--as-of-seq", "18446744073709551615"],
           q + ["--as-of-seq", "-1"], q + ["--as-of-seq", "12abc"], q + ["--as-of-seq", ""],
           q + ["--as-of-time", "yesterday"], q + ["--as-of-time", "2024-13-01T00:00:00Z"],
           q + ["--as-of-seq", "1", "--as-of-time", "0"],
           q + ["--view", "nosuch", "--as-of-seq", "1"],
           ["history", "--data", data, "--view", "nosuch", "--key", "nosuch/x"],
           ["history", "--data", data, "--view", V_DECL.name, "--key", V_DECL.name + "/x"],
           ["history", "--data", data, "--view", "country", "--key", "country/IQ", "--format", "xml"],
           ["status", "--data", data, "--format", "xml"]]
    for args in bad:
        check_bad(data, args, "bad input")
    assert vm.fingerprint(data) == before, "bad input changed the store"
    h.log("bad input: %d commands exit 64, the store untouched" % (len(bad) + 1))


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    with h.tempdir("ot-asof-") as tmp:
        data, c, log, model = test_asof(tmp, rng, seed)
        check_history(data, log, model, rng, "history (seed %d)" % seed)
        check_status(data, log, model.summary, "status")
        test_bad(data, c, log)


if __name__ == "__main__":
    h.main(test)
