#!/usr/bin/python3
"""Views you define, numbers you can trace (issue 12), end to end against
real processes, compared with views_model.

1. Live: a consumer (publish, snapshot, --source-rank) takes a random
   stream (seed printed; $OPTALLY_TEST_SEED repeats it) spread over every
   dimension (views_model.decorate: admin1, types, sources with '/', '%'
   and long UTF-8 names, ISO week edges at year ends, long incident ids,
   aggregates, incidents, duplicates, revisions, retractions), sent by
   `produce` in chunks. Mid-stream, `optally view add --data DIR` (the
   consumer holds DIR: the admin socket) declares two views, the README's
   "per partner force per month in Syria, CENTCOM only" and one over week,
   source and incident; a `subscribe --view` of each starts right after its
   add. After the stream: `query --view` of both equals the model field by
   field (row fields, values, rows in key order), the built-in views too;
   each subscriber's fold equals the model with gap-free view_seq; `view
   list`, `status`, `rebuild --check` agree.
2. Random definitions (1..6 dimensions, filters of every form) against the
   model: added through the running consumer, then on the stopped store
   (the maintenance path); a drop; a restart and a second stream folded
   live into every declared view; reported tallies (`reconcile --view`) of
   declared views against the model's placement.
3. Explain: random keys of built-in and declared views, as printed and as
   dim=value in any order: the event rows sum to the total row, which
   equals the tally; every listed event is the current revision (its log
   seq holds it), not retracted, the incident's counted member; --limit.
4. Bad input: names with '/' or spaces, a built-in or taken name, unknown
   dimensions, bad filters, unknown views, malformed keys: exit 64 with a
   message, through the consumer and on the stopped store, the store
   byte for byte untouched.
"""

import os
import random
import re
import time

import otharness as h
import reports_model as rm
import subharness as sh
import views_model as vm

RANK = ",".join(rm.RANK)
CONSUMER_ARGS = ["--nosync", "--source-rank", RANK]
ADDED_RE = re.compile(r"view (\S+) added: (\d+) log records folded in ([0-9.]+) ?s")

# The README's example, and one over the dimensions whose values run long.
V_SYRIA = vm.View("syria.centcom_force_month", ["partner_force", "month"],
                  ["country=SY", "source=CENTCOM"])
V_WEEK = vm.View("week_src_inc", ["week", "source", "incident"], ["type!=RAID"])


def add_ok(data, v, label):
    """`view add`; asserts its line "view NAME added: N log records folded
    in X s" and returns N."""
    out, err = vm.view_add(data, v)
    m = ADDED_RE.search(out + err)
    assert m and m.group(1) == v.name, "%s: view add %s printed no 'view %s added: N log records " \
        "folded in X s' line:\nstdout: %s\nstderr: %s" % (label, v.name, v.name, out, err[-2000:])
    return int(m.group(2))


def check_list(data, declared, label):
    rows = vm.view_list(data)
    want = [{"name": n, "group_by": list(d), "where": [], "builtin": True} for n, d in vm.BUILTIN.items()]
    want += [{"name": v.name, "group_by": list(v.group_by), "where": list(v.where), "builtin": False}
             for v in declared]
    got_b = [r for r in rows if r.get("builtin")]
    got_d = sorted((r for r in rows if not r.get("builtin")), key=lambda r: r.get("name"))
    assert rows[:len(got_b)] == got_b, "%s: view list: built-in views not first: %r" % (label, rows)
    assert got_b + got_d == want[:5] + sorted(want[5:], key=lambda r: r["name"]), \
        "%s: view list --format json differs:\n got  %s\n want %s" % (
            label, "\n      ".join(map(vm.dumps, rows)), "\n      ".join(map(vm.dumps, want)))


def check_status(data, declared, label):
    st = vm.status(data)
    log = rm.read_log(data)
    want_seq = log[-1][0] if log else 0
    assert st.get("log_seq") == want_seq, "%s: status log_seq %r, the log ends at %d: %r" % (
        label, st.get("log_seq"), want_seq, st)
    assert sorted(st.get("declared_views") or []) == sorted(v.name for v in declared), \
        "%s: status declared_views %r, want %r" % (label, st.get("declared_views"), [v.name for v in declared])
    assert st.get("views") == 5 + len(declared), "%s: status views %r, want %d" % (
        label, st.get("views"), 5 + len(declared))


def check_all_views(data, model, declared, label):
    rm.check_query(data, model, label)
    for v in declared:
        vm.check_view(data, model, v, label)


# --- 1. live --------------------------------------------------------------------

def test_live(tmp, rng, seed):
    stream = vm.decorate(rm.gen_stream(rng, n_plain=220, n_incidents=60, n_roots=25, n_figures=8, tag="v"), seed)
    model = vm.ViewsModel(rm.RANK)
    want = model.apply_all(stream)
    data = os.path.join(tmp, "live")
    c, ing, pub, snap = sh.sub_consumer(data, CONSUMER_ARGS)
    st = vm.Streamer(ing, stream, tmp, 30, 0.1, "live")
    st.start()
    subs = []
    for v, at in ((V_SYRIA, 8), (V_WEEK, 18)):
        st.wait_chunks(at)
        n = add_ok(data, v, "live add (seed %d)" % seed)
        assert 0 < n, "view add %s mid-stream folded %d records" % (v.name, n)
        subs.append((v, sh.Subscriber(pub, snap, ["--view", v.name])))
    assert st.chunks_done < len(st.chunks), "the stream ended before the second view add: the test adds " \
        "nothing mid-stream (chunks %d)" % st.chunks_done
    st.finish(want, "live (seed %d)" % seed)
    model.set_log(rm.read_log(data))
    label = "live (seed %d)" % seed
    check_all_views(data, model, [V_SYRIA, V_WEEK], label)
    for v, sub in subs:
        want_t, _ = model.observed_view(v)
        assert want_t, "%s: view %s is empty: the stream exercises nothing" % (label, v.name)
        deadline = time.monotonic() + 20
        while True:
            got, complete, stats = vm.fold_view(sub.lines(), v)
            if complete and got == want_t:
                break
            assert time.monotonic() < deadline, "%s: subscribe --view %s differs from the model after 20 s " \
                "(complete %s, stats %r):\n%s\nstderr:\n%s" % (label, v.name, complete, stats,
                                                              vm.diff(got, want_t, v.name), sub.stderr()[-2000:])
            time.sleep(0.2)
        assert stats["updates"] > 0, "%s: subscriber of %s saw no update after the fill" % (label, v.name)
        h.log("subscribe --view %s: %d updates after its snapshot, gap-free, equals the model" % (
            v.name, stats["updates"]))
        sub.stop()
    check_list(data, [V_SYRIA, V_WEEK], label)
    check_status(data, [V_SYRIA, V_WEEK], label)
    rc, out, err = h._run(["subscribe", "--from", pub + "," + snap, "--view", "nosuch", "--once",
                           "--format", "json"], timeout=30)
    assert rc == 64 and "nosuch" in err, "%s: subscribe --view nosuch: exit %d (want 64 naming it)\n%s" % (
        label, rc, err[-1000:])
    rc, out, err = h.rebuild_check(data)
    assert rc == 0 and "0 differences" in out, "%s: rebuild --check with declared views: %d\n%s%s" % (
        label, rc, out, err[-2000:])
    h.log("live: 2 views added mid-stream of %d lines, equal to the model" % len(stream))
    return data, c, ing, model


# --- 2. random definitions ---------------------------------------------------------

def test_random(tmp, rng, seed, data, c, ing, model):
    label = "random views (seed %d)" % seed
    declared = [V_SYRIA, V_WEEK]
    running = [vm.random_view(rng, model, "r%d-%s" % (i, rng.choice(("a", "B.x", "c_d-e")))) for i in range(5)]
    for v in running:
        add_ok(data, v, label + ", through the consumer")
        n = vm.check_view(data, model, v, label + ", through the consumer")
        h.log("  %r: %d keys" % (v, n))
    declared += running
    c.stop()
    stopped = [vm.random_view(rng, model, "s%d" % i) for i in range(3)]
    for v in stopped:
        add_ok(data, v, label + ", stopped store")
        n = vm.check_view(data, model, v, label + ", stopped store")
        h.log("  %r: %d keys (stopped store)" % (v, n))
    declared += stopped
    gone = max(declared[2:], key=lambda v: len(model.observed_view(v)[0]))
    declared.remove(gone)
    held = [k for db in ("tallies", "reported") for k in vm.mdb_keys(data, db)
            if k == gone.name or k.startswith(gone.name + "/")]
    assert held, "%s: view %s holds no tally before its drop: the drop check proves nothing" % (label, gone.name)
    vm.run(["view", "drop", gone.name, "--data", data])
    left = [k for db in ("tallies", "reported") for k in vm.mdb_keys(data, db)
            if k == gone.name or k.startswith(gone.name + "/")]
    assert not left, "%s: view %s dropped, %d of its %d tallies left: %r" % (
        label, gone.name, len(left), len(held), left[:5])
    _, err = vm.run(["query", "--data", data, "--view", gone.name, "--format", "json"], 64)
    assert gone.name in err, "query of a dropped view: exit 64 but the message does not name it: %r" % err
    again = vm.View(gone.name, ["country", "day"], ["granularity=OPERATION"])
    add_ok(data, again, label + ", a dropped name reused")
    declared.append(again)
    check_list(data, declared, label)

    # A restart and a second stream: the live fold of every declared view.
    c = h.Consumer(data, ing, CONSUMER_ARGS + ["--publish", "none", "--snapshot", "none"])
    more = vm.decorate(rm.gen_stream(rng, n_plain=120, n_incidents=30, n_roots=12, n_figures=0, tag="w"), seed + 1)
    # revisions of the first stream's events too: a revision moves a tally between keys
    for eid in rng.sample(sorted(model.events), 25):
        e = model.events[eid]
        if e["granularity"] == 0 and not e["incident"]:
            d = {k: v for k, v in e.items() if k not in ("countries", "granularity", "parent_id",
                                                          "occurred_until", "incident")}
            d.update(revision=e["revision"] + 1, occurred_on=rng.choice(vm.DATE_POOL),
                     admin1=rng.choice(vm.ADMIN1), killed=e["killed"] + 1, killed_low=0, killed_high=0,
                     retracted=False, type=vm.TYPE_NAMES[e["type"]])
            if not d["type"]:
                del d["type"]
            more.append(d)
    want = model.apply_all(more)
    st = vm.Streamer(ing, more, tmp, 4, 0, "more")
    st.run()
    st.finish(want, label + ", second stream")
    model.set_log(rm.read_log(data))
    check_all_views(data, model, declared, label + ", after a restart and a second stream")
    check_status(data, declared, label)

    h.log("random: %d declared views equal the model after adds, a drop, a restart and a live stream" % len(declared))
    return c, declared


# --- 3. explain -------------------------------------------------------------------------

def check_explain(data, model, v, values, keystr, by_seq, label, tally, alt_key=None):
    rows, _ = vm.explain(data, v.name, keystr)
    what = "%s: explain --view %s --key %r" % (label, v.name, keystr)
    assert rows and rows[-1].get("kind") == "total", "%s: no final total row: %r" % (what, rows[-1:])
    total, evrows = rows[-1], rows[:-1]
    want = model.contributors(v, values)
    wsum = rm.zero()
    for e in want:
        rm.add(wsum, rm.counts_of(e))
    assert total.get("counts") == tally.get(values) == wsum, "%s: total %r, tally %r, model %r" % (
        what, total.get("counts"), tally.get(values), wsum)
    assert total.get("events") == len(evrows) == len(want), "%s: total events %r, %d event rows, model %d" % (
        what, total.get("events"), len(evrows), len(want))
    rsum = rm.zero()
    for r in evrows:
        rm.add(rsum, r["contribution"])
        e = model.events.get(r.get("event_id"))
        assert e is not None, "%s: row of an unknown event: %r" % (what, r)
        assert r["revision"] == e["revision"] and not e["retracted"], \
            "%s: %s revision %r listed; current revision %d (retracted %s)" % (
                what, r["event_id"], r["revision"], e["revision"], e["retracted"])
        assert by_seq.get(r["seq"]) == (e["event_id"], e["revision"]), \
            "%s: %s revision %d listed at seq %r, where the log holds %r" % (
                what, e["event_id"], e["revision"], r["seq"], by_seq.get(r["seq"]))
        for f in ("source", "source_url", "occurred_on"):
            assert r[f] == e[f], "%s: %s %s %r, want %r" % (what, e["event_id"], f, r[f], e[f])
        assert r["contribution"] == rm.counts_of(e), "%s: %s contribution %r, want %r" % (
            what, e["event_id"], r["contribution"], rm.counts_of(e))
        if e["incident"]:
            members = model.incidents()[e["incident"]]
            assert r.get("incident") == e["incident"] and 1 <= r.get("members", 0) <= len(members), \
                "%s: %s: incident %r members %r, want %r and 1..%d" % (
                    what, e["event_id"], r.get("incident"), r.get("members"), e["incident"], len(members))
            assert model.counted_member(members) is e, "%s: %s listed, not the counted member" % (what, e["event_id"])
        else:
            assert r.get("incident") in (None, ""), "%s: %s has no incident, row says %r" % (
                what, e["event_id"], r.get("incident"))
    seqs = [r["seq"] for r in evrows]
    assert seqs == sorted(seqs), "%s: event rows not in log order: seqs %r" % (what, seqs[:20])
    assert rsum == total["counts"], "%s: event rows sum to %r, total row %r" % (what, rsum, total["counts"])
    assert sorted(r["event_id"] for r in evrows) == sorted(e["event_id"] for e in want), \
        "%s: events %r, model %r" % (what, sorted(r["event_id"] for r in evrows)[:20],
                                     sorted(e["event_id"] for e in want)[:20])
    if alt_key is not None:
        rows2, _ = vm.explain(data, v.name, alt_key)
        assert rows2 == rows, "%s: --key %r gives other rows than --key %r" % (what, alt_key, keystr)
    if len(evrows) > 2:
        rows3, _ = vm.explain(data, v.name, keystr, ["--limit", "2"])
        assert len(rows3) == 3 and rows3[-1] == total, "%s --limit 2: %d rows, total %r, want 2 rows and %r" % (
            what, len(rows3), rows3[-1:], total)
    return len(evrows)


def test_explain(tmp, rng, seed, data, model, declared):
    label = "explain (seed %d)" % seed
    by_seq = {seq: (r.event.event_id, r.event.revision) for seq, r in rm.read_log(data) if r.HasField("event")}
    views = vm.builtin_views() + declared
    done = inc_keys = 0
    for v in views:
        table, keys = model.observed_view(v)
        if not table:
            continue
        cands = sorted(table, key=lambda k: -table[k]["events"])
        with_inc = [k for k in cands if any(e["incident"] for e in model.contributors(v, k))]
        pick = {rng.choice(with_inc) if with_inc else cands[0]}
        if rng.random() < 0.5 or not with_inc:
            pick.add(rng.choice(cands[:3]))
        tally, _, _ = vm.query_view(data, v)
        for values in sorted(pick):
            alt = None
            if all("~" not in x for x in values) and v.group_by:
                # dim=value in any order; a comma or % inside a value as %2C, %25
                pairs = [(d, x.replace("%", "%25").replace(",", "%2C")) for d, x in zip(v.group_by, values)]
                rng.shuffle(pairs)
                alt = ",".join("%s=%s" % p for p in pairs)
            n = check_explain(data, model, v, values, keys[values], by_seq, label, tally, alt)
            done += 1
            inc_keys += values in with_inc
            if done <= 3:
                h.log("  explain %s: %d events" % (keys[values], n))
    assert done >= 5 + 2 and inc_keys > 0, "%s: %d keys explained (%d with incidents)" % (label, done, inc_keys)
    out, _ = vm.run(["explain", "--data", data, "--view", "country", "--key", "country/IQ"])
    assert "IQ" in out or "total" in out.lower(), "explain --format table: %r" % out[:500]
    h.log("explain: %d keys of %d views (%d with incidents) sum to their tallies" % (done, len(views), inc_keys))


# --- 4. bad input ------------------------------------------------------------------------

def bad_defs(taken):
    """[(view add args, what the error must mention)]."""
    return [
        (["a/b", "--group-by", "country"], "a/b"),
        (["a b", "--group-by", "country"], "a b"),
        (["", "--group-by", "country"], ""),
        (["x" * 65, "--group-by", "country"], ""),
        (["country", "--group-by", "country"], "country"),
        (["total", "--group-by", "admin1"], "total"),
        ([taken, "--group-by", "country"], taken),
        (["nodim", "--group-by", "colour"], "colour"),
        (["nodim2", "--group-by", "country,"], ""),
        (["rep", "--group-by", "country,country"], "country"),
        (["seven", "--group-by", "country,admin1,partner_force,source,type,year,quarter"], ""),
        (["bf1", "--group-by", "country", "--where", "colour=red"], "colour"),
        (["bf2", "--group-by", "country", "--where", "country"], "country"),
        (["bf3", "--group-by", "country", "--where", "occurred_on>=2024-13-01"], "2024-13-01"),
        (["bf4", "--group-by", "country", "--where", "occurred_on=2024-01-01x"], ""),
        (["bf5", "--group-by", "country", "--where", "country>=IQ"], ""),
        (["bf6", "--group-by", "country", "--where", "occurred_on<=yesterday"], "yesterday"),
        (["nogroup"], ""),
    ]


def check_bad(data, args, mention, label):
    rc, out, err = h._run(args)
    assert rc == 64, "%s: optally %s: exit %d, want 64\nstdout: %s\nstderr: %s" % (
        label, " ".join(args), rc, out[-1000:], err[-1000:])
    assert err.strip(), "%s: optally %s: exit 64 without a message" % (label, " ".join(args))
    assert mention in err, "%s: optally %s: the message does not name %r: %s" % (
        label, " ".join(args), mention, err.strip()[:500])


def test_bad(tmp, data, c, declared):
    label = "bad input"
    v = declared[0]
    # Through the running consumer (the admin socket): usage errors too.
    seq = vm.status(data)["log_seq"]
    for args, mention in bad_defs(v.name)[:7:2]:
        check_bad(data, ["view", "add"] + args + ["--data", data], mention, label + " (consumer running)")
    assert vm.status(data)["log_seq"] == seq, "%s: the log moved under bad view adds" % label
    check_list(data, declared, label + " (consumer running)")
    c.stop()
    before = vm.fingerprint(data)
    n = 0
    for args, mention in bad_defs(v.name):
        check_bad(data, ["view", "add"] + args + ["--data", data], mention, label)
        n += 1
    key = "/".join([v.name] + ["x"] * len(v.group_by))
    dimkey = ",".join("%s=x" % d for d in v.group_by)
    others = [
        (["view", "drop", "nosuch", "--data", data], "nosuch"),
        (["view", "drop", "country", "--data", data], "country"),
        (["view", "drop", "a/b", "--data", data], "a/b"),
        (["query", "--view", "nosuch", "--data", data], "nosuch"),
        (["explain", "--view", "nosuch", "--key", "nosuch/IQ", "--data", data], "nosuch"),
        (["explain", "--view", "country", "--key", "country/IQ/2024-Q1", "--data", data], ""),
        (["explain", "--view", "country,quarter", "--key", "country/IQ", "--data", data], ""),
        (["explain", "--view", "country,quarter", "--key", "country,quarter/IQ", "--data", data], ""),
        (["explain", "--view", "country,quarter", "--key", "country=IQ", "--data", data], "quarter"),
        (["explain", "--view", "country,quarter", "--key", "country=IQ,month=2024-01", "--data", data], "month"),
        (["explain", "--view", "country,quarter", "--key", "country=IQ,quarter=2024-Q1,quarter=2024-Q2",
          "--data", data], "quarter"),
        (["explain", "--view", "country", "--key", "country/%zz", "--data", data], ""),
        (["explain", "--view", v.name, "--key", key + "/extra", "--data", data], ""),
        (["explain", "--view", v.name, "--key", dimkey + ",colour=red", "--data", data], "colour"),
        (["explain", "--view", v.name, "--data", data], ""),
        (["history", "--view", "nosuch", "--key", "nosuch", "--data", data], "nosuch"),
        (["history", "--view", "country", "--key", "country", "--data", data], ""),
        (["explain", "--view", "country", "--key", "country/IQ", "--limit", "-1", "--data", data], ""),
        (["view", "list", "--format", "yaml", "--data", data], "yaml"),
    ]
    for args, mention in others:
        check_bad(data, args, mention, label)
        n += 1
    after = vm.fingerprint(data)
    assert after == before, "%s: the store changed under %d bad commands (mdb_dump -a %r -> %r)" % (
        label, n, before, after)
    check_list(data, declared, label)
    h.log("bad input: %d commands exit 64 with a message, the store untouched" % (n + 4))


# --- rebuild -----------------------------------------------------------------------------

def test_rebuild(data, model, declared, seed):
    """rebuild (every view, and --views of declared ones) on the stopped
    store: nothing to change, and every declared view still the model's."""
    label = "rebuild (seed %d)" % seed
    vm.run(["rebuild", "--data", data, "--quiet"])
    rc, out, err = h.rebuild_check(data)
    assert rc == 0 and "0 differences" in out, "%s: rebuild --check: %d\n%s%s" % (label, rc, out, err[-2000:])
    check_all_views(data, model, declared, label)
    h.log("rebuild: declared views rebuilt from the log equal the model")


# --- 5. reported tallies of declared views ---------------------------------------------

def test_reported(data, model, declared, seed):
    """rebuild --views of declared views; reconcile --view DECLARED: the
    reported tallies (aggregates placed as the filters and dimensions
    determine them) equal the model's."""
    label = "reported (seed %d)" % seed
    for names in (declared[0].name, declared[1].name + "," + declared[-1].name):
        vm.run(["rebuild", "--data", data, "--views", names, "--quiet"])
    check_all_views(data, model, declared, label + ", after rebuild --views")
    n = 0
    for v in declared:
        rows, _ = rm.reconcile(data, v.name)
        got = {}
        for r in rows:
            if "unplaced" in r:
                continue
            k = tuple(r[f] for f in v.group_by)
            if any(r["reported"].values()):
                got[k] = {x: int(r["reported"][x]) for x in vm.COUNTERS7}
        want = model.reported_view(v)
        d = vm.diff(got, want, v.name)
        assert not d, "%s: reconcile --view %s (%r): reported differs from the model:\n%s" % (label, v.name, v, d)
        n += len(want)
    assert n > 0, "%s: no reported tally in any declared view: the test proves nothing" % label
    h.log("reported: %d reported tallies of %d declared views equal the model" % (n, len(declared)))


def test():
    seed = h.seed_from_env()
    rng = random.Random(seed)
    t0 = time.monotonic()

    def took(what):
        h.log("[%s: %.1f s]" % (what, time.monotonic() - t0))
    with h.tempdir("ot-views-") as tmp:
        data, c, ing, model = test_live(tmp, rng, seed)
        took("live")
        c, declared = test_random(tmp, rng, seed, data, c, ing, model)
        took("random")
        test_explain(tmp, rng, seed, data, model, declared)
        took("explain")
        test_bad(tmp, data, c, declared)
        took("bad input")
        test_rebuild(data, model, declared, seed)
        took("rebuild")
        test_reported(data, model, declared, seed)


if __name__ == "__main__":
    h.main(test)
