"""reports_model: the rules of issue 11 ("reports as published") in Python,
to compute what `query`, `reconcile`, `figures` and `disagreements` must
print, independently of the C code.

The rules (docs/ARCHITECTURE.md, issue 11):
  - OPERATION events (granularity 0) feed the observed tallies (`query`).
    Events with the same non-empty `incident` are one real operation,
    counted once with the counts of its counted member: among the
    non-retracted members, the best-ranked source (position in the store's
    source ranking; unranked sources after every ranked one), ties broken
    by the earliest first-stored revision (lowest log seq of the member's
    first stored revision). The member's counts go to its own keys.
  - AGGREGATE events feed the reported tallies, never the observed ones.
    An aggregate is placed in a view's key when its scope determines it
    (one country; the whole span occurred_on..occurred_until inside one
    quarter / month); else it is unplaced. It counts in its key unless a
    non-retracted aggregate ancestor (walking parent_id while the parent
    exists and its current revision is an aggregate) is placed in the same
    key: then it is shadowed. Retracted aggregates count nowhere and shadow
    nothing.
  - Counters: events, operations, killed, detained, wounded, killed_low,
    killed_high; an estimate of 0 is the same as killed.
  - Figures: deduped by figure_id like events (content = every field but
    reported_at); `figures` shows per (metric, scope, source) the current
    non-retracted figure with the latest as_of (on or before --as-of), ties
    on as_of to the highest log seq; `--history` every current
    non-retracted revision in as_of order.

Log seqs (first-stored seq of an event, seq of a figure's current
revision) come from the store's log (set_log), since batching decides them;
without a log the model uses the order in which apply() first stored
things, which is the log order of a stream sent one item a batch.

Also: gen_stream(), a random valid stream of plain events, incident
members, aggregate families and figures, with revisions, retractions,
re-parenting and exact copies.
"""

import datetime
import json

import otharness as h

COUNTERS7 = ("events", "operations", "killed", "detained", "wounded", "killed_low", "killed_high")
VIEWS = h.VIEWS
STATUSES = h.STATUSES
GRANULARITY = {"OPERATION": 0, "AGGREGATE": 1}
QUALIFIERS = ("EXACT", "APPROX", "AT_LEAST", "AT_MOST")
# The order of a `figures` JSON row: a contract (issue 11).
FIGURE_ROW_KEYS = ("metric", "scope", "as_of", "value", "qualifier", "low", "high", "unit",
                   "source", "figure_id")

EV_DEFAULTS = dict(h._DEFAULTS, granularity=0, parent_id="", countries=(), killed_low=0,
                   killed_high=0, incident="", via="")
FIG_DEFAULTS = {"figure_id": "", "revision": 0, "retracted": False, "source": "", "via": "",
                "source_url": "", "metric": "", "scope": (), "as_of": "", "value": 0,
                "qualifier": 0, "low": 0, "high": 0, "unit": "", "reported_at": 0, "notes": ""}
_EV_INTS = ("revision", "operations", "killed", "detained", "wounded", "reported_at",
            "killed_low", "killed_high", "granularity")
_FIG_INTS = ("revision", "value", "low", "high", "reported_at", "qualifier")


def is_figure(d):
    return "figure_id" in d


def norm_event(ev):
    """Every field present (proto3 defaults), enums as numbers, lists as tuples."""
    n = dict(EV_DEFAULTS)
    n.update(ev)
    if isinstance(n["type"], str):
        n["type"] = h._TYPE_NAMES[n["type"]]
    if isinstance(n["granularity"], str):
        n["granularity"] = GRANULARITY[n["granularity"]]
    n["countries"] = tuple(n["countries"])
    for f in _EV_INTS:
        n[f] = int(n[f])
    n["retracted"] = bool(n["retracted"])
    return n


def norm_figure(f):
    n = dict(FIG_DEFAULTS)
    n.update(f)
    if isinstance(n["qualifier"], str):
        n["qualifier"] = QUALIFIERS.index(n["qualifier"])
    n["scope"] = tuple(n["scope"])
    for k in _FIG_INTS:
        n[k] = int(n[k])
    n["retracted"] = bool(n["retracted"])
    return n


def content(n):
    c = dict(n)
    del c["reported_at"]
    return c


def pb_event_dict(ev):
    """A pb.OperationEvent as a normalized dict."""
    d = {f: getattr(ev, f) for f in EV_DEFAULTS}
    d["countries"] = tuple(ev.countries)
    return norm_event(d)


def pb_figure_dict(f):
    d = {k: getattr(f, k) for k in FIG_DEFAULTS}
    d["scope"] = tuple(f.scope)
    return norm_figure(d)


def counts_of(e):
    """The 7 counters one event adds to a tally."""
    return {"events": 1, "operations": e["operations"], "killed": e["killed"],
            "detained": e["detained"], "wounded": e["wounded"],
            "killed_low": e["killed_low"] or e["killed"],
            "killed_high": e["killed_high"] or e["killed"]}


def zero():
    return dict.fromkeys(COUNTERS7, 0)


def add(acc, c):
    for k in COUNTERS7:
        acc[k] += c[k]


def _quarter(d):
    return "%s-Q%d" % (d[:4], (int(d[5:7]) - 1) // 3 + 1)


def op_key(view, e):
    """The key (tuple of values) of an OPERATION event in a view."""
    vals = []
    for f in VIEWS[view]:
        if f == "quarter":
            vals.append(_quarter(e["occurred_on"]))
        elif f == "month":
            vals.append(e["occurred_on"][:7])
        else:
            vals.append(e[f])
    return tuple(vals)


def agg_key(view, a):
    """The key of an aggregate in a view, or None when its scope determines
    no key there (unplaced)."""
    vals = []
    for f in VIEWS[view]:
        if f == "country":
            if a["country"]:
                vals.append(a["country"])
            elif len(a["countries"]) == 1:
                vals.append(a["countries"][0])
            else:
                return None
        elif f == "quarter":
            q = _quarter(a["occurred_on"])
            if not a["occurred_until"] or _quarter(a["occurred_until"]) != q \
                    or a["occurred_until"][:4] != a["occurred_on"][:4]:
                return None
            vals.append(q)
        elif f == "month":
            if not a["occurred_until"] or a["occurred_until"][:7] != a["occurred_on"][:7]:
                return None
            vals.append(a["occurred_on"][:7])
        else:
            vals.append(a[f])
    return tuple(vals)


def key_string(view, key):
    """The store's key string ("country,quarter/IQ/2024-Q1"): rows come in
    its byte order."""
    return "/".join((view,) + tuple(key))


class ReportsModel:
    """Current revisions of events and figures, folded from what was sent."""

    def __init__(self, source_rank=()):
        self.events = {}     # event_id -> normalized current revision
        self.figures = {}    # figure_id -> normalized current revision
        self.rank = list(source_rank)
        self._order = 0
        self.first_seq = {}  # event_id -> log seq of its first stored revision
        self.fig_seq = {}    # figure_id -> log seq of its current revision

    # --- folding --------------------------------------------------------------

    def _fold(self, table, key, n, seqs):
        cur = table.get(n[key])
        if cur is None or n["revision"] > cur["revision"]:
            self._order += 1
            table[n[key]] = n
            if table is self.events:
                self.first_seq.setdefault(n[key], self._order)
            else:
                self.fig_seq[n[key]] = self._order
            return "STORED" if cur is None else "SUPERSEDED"
        if n["revision"] == cur["revision"]:
            return "DUPLICATE" if content(n) == content(cur) else "REJECTED"
        return "STALE"

    def apply(self, item):
        """Fold one valid event or figure dict; returns its status name."""
        if is_figure(item):
            return self._fold(self.figures, "figure_id", norm_figure(item), None)
        return self._fold(self.events, "event_id", norm_event(item), None)

    def apply_all(self, items):
        counts = dict.fromkeys(STATUSES, 0)
        for it in items:
            counts[self.apply(it).lower()] += 1
        return counts

    def set_log(self, records):
        """Take the log seqs from the store's log [(seq, pb.LogRecord)], and
        check that its fold agrees with the model's current revisions."""
        first, figseq, evcur, figcur = {}, {}, {}, {}
        for seq, rec in records:
            if rec.HasField("figure"):
                f = pb_figure_dict(rec.figure)
                if f["figure_id"] not in figcur or f["revision"] > figcur[f["figure_id"]]["revision"]:
                    figcur[f["figure_id"]] = f
                    figseq[f["figure_id"]] = seq
            else:
                e = pb_event_dict(rec.event)
                first.setdefault(e["event_id"], seq)
                first[e["event_id"]] = min(first[e["event_id"]], seq)
                if e["event_id"] not in evcur or e["revision"] > evcur[e["event_id"]]["revision"]:
                    evcur[e["event_id"]] = e
        for what, got, want in (("event", evcur, self.events), ("figure", figcur, self.figures)):
            missing = sorted(set(want) - set(got))[:5]
            extra = sorted(set(got) - set(want))[:5]
            assert not missing and not extra, "the log's %ss are not the model's: missing %r, extra %r" % (
                what, missing, extra)
            for k in want:
                assert content(got[k]) == content(want[k]), \
                    "the log's current %s %s differs from the model's:\n log   %r\n model %r" % (
                        what, k, got[k], want[k])
        self.first_seq, self.fig_seq = first, figseq

    # --- observed ---------------------------------------------------------------

    def _rank(self, source):
        return self.rank.index(source) if source in self.rank else len(self.rank)

    def incidents(self):
        """{incident: [members' current revisions, in first-stored order]}."""
        out = {}
        for e in self.events.values():
            if e["granularity"] == 0 and e["incident"]:
                out.setdefault(e["incident"], []).append(e)
        for m in out.values():
            m.sort(key=lambda e: self.first_seq[e["event_id"]])
        return out

    def counted_member(self, members):
        live = [e for e in members if not e["retracted"]]
        if not live:
            return None
        return min(live, key=lambda e: (self._rank(e["source"]), self.first_seq[e["event_id"]]))

    def observed(self):
        """{view: {key: 7 counters}} of the observed tallies (zero rows dropped)."""
        counting = [e for e in self.events.values()
                    if e["granularity"] == 0 and not e["incident"] and not e["retracted"]]
        for members in self.incidents().values():
            c = self.counted_member(members)
            if c is not None:
                counting.append(c)
        out = {v: {} for v in VIEWS}
        for e in counting:
            for v in VIEWS:
                add(out[v].setdefault(op_key(v, e), zero()), counts_of(e))
        return out

    # --- reported ---------------------------------------------------------------

    def aggregates(self):
        return {i: e for i, e in self.events.items() if e["granularity"] == 1}

    def ancestors(self, a):
        seen = {a["event_id"]}
        p = a["parent_id"]
        while p and p in self.events and self.events[p]["granularity"] == 1 and p not in seen:
            seen.add(p)
            yield self.events[p]
            p = self.events[p]["parent_id"]

    def placements(self, view):
        """{event_id: ("counted", key) | ("shadowed", key) | ("unplaced", None)}
        for every current non-retracted aggregate."""
        out = {}
        for i, a in self.aggregates().items():
            if a["retracted"]:
                continue
            k = agg_key(view, a)
            if k is None:
                out[i] = ("unplaced", None)
            elif any(not p["retracted"] and agg_key(view, p) == k for p in self.ancestors(a)):
                out[i] = ("shadowed", k)
            else:
                out[i] = ("counted", k)
        return out

    def reported(self):
        out = {v: {} for v in VIEWS}
        for v in VIEWS:
            for i, (where, k) in self.placements(v).items():
                if where == "counted":
                    add(out[v].setdefault(k, zero()), counts_of(self.events[i]))
        return out

    def reconcile_rows(self, view):
        """The rows `reconcile --view V --format json` must print, in order."""
        obs, rep = self.observed()[view], self.reported()[view]
        pl = self.placements(view)
        keys = sorted(set(obs) | set(rep), key=lambda k: key_string(view, k).encode("utf-8"))
        rows = []
        for k in keys:
            r = {"view": view}
            r.update(zip(VIEWS[view], k))
            o, p = obs.get(k, zero()), rep.get(k, zero())
            r["reported"] = p
            r["observed"] = o
            r["difference"] = {c: o[c] - p[c] for c in COUNTERS7}
            r["aggregates"] = sorted(i for i, (w, kk) in pl.items() if w == "counted" and kk == k)
            rows.append(r)
        rows.append({"view": view, "unplaced": sorted(i for i, (w, _) in pl.items() if w == "unplaced")})
        return rows

    def check_parts(self):
        """Rows of `reconcile --check-parts --format json`, in parent order:
        {"parent","counts","children_sum","children"} for each current
        non-retracted aggregate whose current non-retracted aggregate
        children sum to other counts (events, 1 against N, not compared)."""
        kids = {}
        for a in self.aggregates().values():
            if not a["retracted"] and a["parent_id"]:
                kids.setdefault(a["parent_id"], []).append(a)
        rows = []
        for pid in sorted(kids, key=lambda s: s.encode("utf-8")):
            p = self.events.get(pid)
            if p is None or p["granularity"] != 1 or p["retracted"]:
                continue
            s = zero()
            for c in kids[pid]:
                add(s, counts_of(c))
            pc = counts_of(p)
            if any(pc[k] != s[k] for k in COUNTERS7[1:]):
                rows.append({"parent": pid, "counts": pc, "children_sum": s,
                             "children": sorted((c["event_id"] for c in kids[pid]),
                                                key=lambda s: s.encode("utf-8"))})
        return rows

    def check_parts_code(self):
        return 1 if self.check_parts() else 0

    # --- figures ----------------------------------------------------------------

    def figure_row(self, f):
        return {"metric": f["metric"], "scope": list(f["scope"]), "as_of": f["as_of"],
                "value": f["value"], "qualifier": QUALIFIERS[f["qualifier"]], "low": f["low"],
                "high": f["high"], "unit": f["unit"], "source": f["source"], "figure_id": f["figure_id"]}

    def _fig_live(self, metric, scope, as_of):
        for f in self.figures.values():
            if f["retracted"]:
                continue
            if metric is not None and f["metric"] != metric:
                continue
            if scope is not None and scope not in f["scope"]:
                continue
            if as_of is not None and f["as_of"] > as_of:
                continue
            yield f

    def figure_rows(self, metric=None, scope=None, as_of=None, history=False):
        """Rows of `figures` (sorted by metric, scope, source, figure_id;
        with history, every live revision)."""
        live = list(self._fig_live(metric, scope, as_of))
        if not history:
            best = {}
            for f in live:
                g = (f["metric"], tuple(sorted(f["scope"])), f["source"])
                if g not in best or (f["as_of"], self.fig_seq[f["figure_id"]]) > \
                        (best[g]["as_of"], self.fig_seq[best[g]["figure_id"]]):
                    best[g] = f
            live = list(best.values())
        return sorted((self.figure_row(f) for f in live), key=figure_sort_key)

    # --- disagreements ---------------------------------------------------------

    def disagreements(self):
        """Rows of `disagreements --format json`: incidents (in incident order)
        whose non-retracted members differ on any counter."""
        rows = []
        for inc in sorted(self.incidents(), key=lambda s: s.encode("utf-8")):
            members = [e for e in self.incidents()[inc] if not e["retracted"]]
            if len({tuple(counts_of(e)[k] for k in COUNTERS7) for e in members}) < 2:
                continue
            rows.append({"incident": inc, "counted": self.counted_member(members)["event_id"],
                         "members": [{"event_id": e["event_id"], "source": e["source"],
                                      "revision": e["revision"], "counts": counts_of(e)}
                                     for e in members]})
        return rows


def figure_sort_key(r):
    return (r["metric"], r["scope"], r["source"], r["as_of"], r["figure_id"])


# --- comparing CLI output with the model ------------------------------------------

def ordered_rows(text, what):
    """JSON Lines as lists of (key, value) pairs, key order kept."""
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line, object_pairs_hook=list))
        except ValueError as e:
            raise AssertionError("%s: line %d is not JSON (%s): %r" % (what, n, e, line))
    return rows


def _plain(pairs):
    """Nested pair lists (object_pairs_hook=list) back to dicts."""
    if isinstance(pairs, list) and all(isinstance(p, tuple) and len(p) == 2 for p in pairs) and pairs:
        return {k: _plain(v) for k, v in pairs}
    if isinstance(pairs, list):
        return [_plain(x) for x in pairs]
    return pairs


def json_rows(text, what):
    return [_plain(r) for r in ordered_rows(text, what)]


def counts_from_query_row(r, what):
    for c in COUNTERS7:
        assert c in r, "%s: row lacks counter %r: %r" % (what, c, r)
    return {c: int(r[c]) for c in COUNTERS7}


def query7(data_dir, view):
    """{key: 7 counters} of `query --view V --format json` (zero rows dropped)."""
    out = {}
    for r in h.query(data_dir, view):
        assert r.get("view") == view, "query of %s printed a row of %r" % (view, r.get("view"))
        k = tuple(r[f] for f in VIEWS[view])
        assert k not in out, "query %s: key %r twice" % (view, k)
        c = counts_from_query_row(r, "query --view " + view)
        if any(c.values()):
            out[k] = c
    return out


def diff_table(got, want, label):
    lines = []
    for k in sorted(set(got) | set(want), key=repr):
        if got.get(k) != want.get(k):
            lines.append("  %s %s: got %s, want %s" % (label, "/".join(k) or "-", got.get(k), want.get(k)))
    return "\n".join(lines)


def check_query(data_dir, model, label):
    obs = model.observed()
    bad = []
    for v in VIEWS:
        want = {k: c for k, c in obs[v].items() if any(c.values())}
        d = diff_table(query7(data_dir, v), want, v)
        if d:
            bad.append(d)
    assert not bad, "%s: observed tallies (query) differ from the model:\n%s" % (label, "\n".join(bad))


def run_ok(args, label=None, rc_want=0):
    rc, out, err = h._run(args)
    assert rc == rc_want, "%s: exit %d, want %d\nstdout: %s\nstderr: %s" % (
        label or "optally " + " ".join(args), rc, rc_want, out[-3000:], err[-3000:])
    return out, err


def reconcile(data_dir, view, extra=()):
    args = ["reconcile", "--data", data_dir, "--view", view, "--format", "json"] + list(extra)
    out, _ = run_ok(args)
    return json_rows(out, "optally " + " ".join(args)), out


def check_reconcile(data_dir, model, label, views=None):
    for v in views or VIEWS:
        got, _ = reconcile(data_dir, v)
        want = model.reconcile_rows(v)
        if got == want:
            continue
        lines = ["%s: reconcile --view %s differs from the model (%d rows, want %d):" % (
            label, v, len(got), len(want))]
        gk = {json.dumps({f: r.get(f) for f in ("view",) + VIEWS[v] + ("unplaced",) if f in r}): r for r in got}
        wk = {json.dumps({f: r.get(f) for f in ("view",) + VIEWS[v] + ("unplaced",) if f in r}): r for r in want}
        for k in sorted(set(gk) | set(wk)):
            if gk.get(k) != wk.get(k):
                lines.append("  got  %s\n  want %s" % (json.dumps(gk.get(k)), json.dumps(wk.get(k))))
            if len(lines) > 12:
                break
        if len(lines) == 1:
            lines.append("  same rows, other order: got %r" % [list(r.values())[:3] for r in got][:20])
        raise AssertionError("\n".join(lines))


def figures(data_dir, extra=()):
    args = ["figures", "--data", data_dir, "--format", "json"] + list(extra)
    out, _ = run_ok(args)
    rows = ordered_rows(out, "optally " + " ".join(args))
    for r in rows:
        keys = tuple(k for k, _ in r)
        assert keys == FIGURE_ROW_KEYS, "optally %s: row keys %r, want exactly %r" % (
            " ".join(args), keys, FIGURE_ROW_KEYS)
    return [_plain(r) for r in rows], out


def check_figures(data_dir, model, label, metric=None, scope=None, as_of=None, history=False):
    extra = []
    if metric is not None:
        extra += ["--metric", metric]
    if scope is not None:
        extra += ["--scope", scope]
    if as_of is not None:
        extra += ["--as-of", as_of]
    if history:
        extra += ["--history"]
    got, _ = figures(data_dir, extra)
    if history:
        ases = [r["as_of"] for r in got]
        assert ases == sorted(ases), "%s: figures %s: not in as_of order: %r" % (label, " ".join(extra), ases)
    got = sorted(got, key=figure_sort_key)
    want = model.figure_rows(metric, scope, as_of, history)
    if got != want:
        gi = {r["figure_id"]: r for r in got}
        wi = {r["figure_id"]: r for r in want}
        lines = ["%s: figures %s differs from the model (%d rows, want %d):" % (
            label, " ".join(extra), len(got), len(want))]
        for i in sorted(set(gi) | set(wi)):
            if gi.get(i) != wi.get(i):
                lines.append("  %s: got %s\n  %s  want %s" % (i, json.dumps(gi.get(i)), " " * len(i),
                                                              json.dumps(wi.get(i))))
            if len(lines) > 12:
                break
        raise AssertionError("\n".join(lines))
    return len(got)


def check_parts(data_dir, model, label):
    """`reconcile --check-parts --format json`: rows and exit code as the model's."""
    want = model.check_parts()
    args = ["reconcile", "--data", data_dir, "--check-parts", "--format", "json"]
    out, _ = run_ok(args, rc_want=1 if want else 0)
    got = json_rows(out, "optally " + " ".join(args))
    if got != want:
        gi = {r.get("parent"): r for r in got}
        wi = {r["parent"]: r for r in want}
        lines = ["%s: check-parts differs from the model (%d rows, want %d):" % (label, len(got), len(want))]
        for i in sorted(set(gi) | set(wi), key=str):
            if gi.get(i) != wi.get(i):
                lines.append("  got  %s\n  want %s" % (json.dumps(gi.get(i)), json.dumps(wi.get(i))))
            if len(lines) > 9:
                break
        if len(lines) == 1:
            lines.append("  same rows, other order: %r" % [r.get("parent") for r in got])
        raise AssertionError("\n".join(lines))
    return len(got)


def check_disagreements(data_dir, model, label):
    args = ["disagreements", "--data", data_dir, "--format", "json"]
    out, _ = run_ok(args)
    got = json_rows(out, "optally disagreements")
    want = model.disagreements()
    if got != want:
        gi = {r.get("incident"): r for r in got}
        wi = {r["incident"]: r for r in want}
        lines = ["%s: disagreements differ from the model (%d rows, want %d):" % (label, len(got), len(want))]
        for i in sorted(set(gi) | set(wi), key=str):
            if gi.get(i) != wi.get(i):
                lines.append("  got  %s\n  want %s" % (json.dumps(gi.get(i)), json.dumps(wi.get(i))))
            if len(lines) > 9:
                break
        if len(lines) == 1:
            lines.append("  same rows, other order: %r" % [r.get("incident") for r in got])
        raise AssertionError("\n".join(lines))
    return len(got)


def check_all(data_dir, model, label):
    """query (every view), reconcile (every view), figures (latest, by
    metric, scope, as-of, history) and disagreements against the model."""
    check_query(data_dir, model, label)
    check_reconcile(data_dir, model, label)
    n = check_figures(data_dir, model, label)
    assert n > 0 or not model.figures, "%s: no figure rows" % label
    check_figures(data_dir, model, label, history=True)
    check_figures(data_dir, model, label, metric="detainees_held")
    check_figures(data_dir, model, label, scope="IQ")
    check_figures(data_dir, model, label, as_of="2024-02-15")
    check_figures(data_dir, model, label, metric="fighters_at_large", as_of="2024-03-31", history=True)
    check_disagreements(data_dir, model, label)
    check_parts(data_dir, model, label)


def read_log(data_dir):
    """[(seq, pb.LogRecord)] of the store's log, straight from LMDB."""
    return h.mdb_log(data_dir)


# --- random streams -----------------------------------------------------------------

SOURCES = ("CENTCOM", "SDF", "ISF", "Reuters", "AFP")
RANK = ("CENTCOM", "SDF", "ISF")          # Reuters and AFP unranked
METRICS = ("fighters_at_large", "detainees_held", "camp_residents")
SCOPES = (("IQ", "SY"), ("SY",), ("IQ",))
_DAY0 = datetime.date(2024, 1, 1)


def _day(n):
    return (_DAY0 + datetime.timedelta(days=n)).isoformat()


def _estimates(rng, killed):
    """killed_low, killed_high valid for killed (0 = none), sometimes set."""
    lo = rng.randint(1, killed) if killed and rng.random() < 0.3 else 0
    hi = killed + rng.randint(0, 5) if rng.random() < 0.3 else 0
    return lo, hi


def _counts(rng, base=None):
    k = rng.randint(0, 6)
    lo, hi = _estimates(rng, k)
    return {"operations": rng.randint(1, 4), "killed": k, "detained": rng.randint(0, 9),
            "wounded": rng.randint(0, 2), "killed_low": lo, "killed_high": hi}


def _span(rng):
    """(occurred_on, occurred_until) of an aggregate: inside a month,
    inside a quarter across months, or across quarters."""
    kind = rng.random()
    if kind < 0.35:
        m = rng.randint(1, 6)
        a, b = sorted(rng.sample(range(1, 29), 2))
        return "2024-%02d-%02d" % (m, a), "2024-%02d-%02d" % (m, b)
    if kind < 0.8:
        q = rng.randint(0, 1)
        m1 = 3 * q + rng.randint(1, 2)
        m2 = rng.randint(m1 + 1, 3 * q + 3)
        return "2024-%02d-%02d" % (m1, rng.randint(1, 28)), "2024-%02d-%02d" % (m2, rng.randint(1, 28))
    return "2024-%02d-%02d" % (rng.randint(2, 3), rng.randint(1, 28)), "2024-%02d-%02d" % (
        rng.randint(4, 6), rng.randint(1, 28))


def _scope(rng):
    r = rng.random()
    if r < 0.45:
        return {"country": rng.choice(("IQ", "SY"))}
    if r < 0.65:
        return {"countries": [rng.choice(("IQ", "SY"))]}
    return {"countries": ["IQ", "SY"]}


def gen_stream(rng, n_plain=150, n_incidents=50, n_roots=30, n_figures=60, tag="r"):
    """A random stream of valid lines (dicts, file order): plain operation
    events, incident members (several sources, disagreements), aggregate
    families (children sent before or after their parent, re-parenting,
    retraction of parents and children) and figures (as_of ties, revisions,
    retractions); ~5% exact copies of earlier lines. Every revision comes
    after what it revises; no two lines share an id and revision with other
    content."""
    items = []          # (position, revision, dict)
    pos = [0]

    def at():
        pos[0] += 1
        return pos[0] * 10 + rng.randint(0, 9)

    def revise(base, first_at, changes):
        """Append revisions of base: changes() returns the next content or None."""
        rev, t = 0, first_at
        while True:
            nxt = changes(rev)
            if nxt is None:
                return
            rev += 1
            t += rng.randint(1, 4000)
            items.append((t, rev, dict(base, revision=rev, reported_at=base["reported_at"] + rev, **nxt)))

    # plain operation events
    for i in range(n_plain):
        base = {"event_id": "%s-op-%04d" % (tag, i), "source": rng.choice(SOURCES),
                "occurred_on": _day(rng.randrange(180)), "country": rng.choice(("IQ", "SY", "AF")),
                "partner_force": rng.choice(("ISF", "SDF", "")), "type": "PARTNERED",
                "reported_at": 1712059200000 + i}
        base.update(_counts(rng))
        if rng.random() < 0.3:
            base["via"] = "Kurdistan24"
        t = at()
        items.append((t, 0, base))
        revise(base, t, lambda r: (_counts(rng) if r == 0 and rng.random() < 0.15 else
                                   {"retracted": True} if r < 2 and rng.random() < 0.05 else None))

    # incidents: 1-4 members each, sources from SOURCES
    for j in range(n_incidents):
        inc = "%s-inc-%03d" % (tag, j)
        day, cc = rng.randrange(180), rng.choice(("IQ", "SY"))
        shared = _counts(rng)
        for m in range(rng.randint(1, 4)):
            c = dict(shared) if rng.random() < 0.5 else _counts(rng)
            base = {"event_id": "%s-inc-%03d-m%d" % (tag, j, m), "source": rng.choice(SOURCES),
                    "occurred_on": _day(day if rng.random() < 0.85 else rng.randrange(180)),
                    "country": cc if rng.random() < 0.9 else rng.choice(("IQ", "SY")),
                    "partner_force": "SDF" if cc == "SY" else "ISF", "type": "RAID",
                    "incident": inc, "reported_at": 1712059300000 + j * 10 + m}
            base.update(c)
            t = at()
            items.append((t, 0, base))

            def ch(r, base=base):
                x = rng.random()
                if r >= 3:
                    return None
                if x < 0.15:
                    return _counts(rng)
                if x < 0.22:
                    return {"source": rng.choice(SOURCES)}
                if x < 0.32:
                    return {"retracted": True}
                return None
            revise(base, t, ch)

    # aggregate families: a root, children, grandchildren (ids in creation
    # order). Re-parenting moves a child or grandchild under another root
    # (or detaches it, or names a plain operation event): chains stay at
    # most 3 deep and no loop can form.
    roots, nagg = [], 0
    span_all = 10 * (n_plain + n_incidents * 3 + n_roots * 4 + n_figures)
    for r in range(n_roots):
        fam = [("%s-agg-%03d-r" % (tag, r), "")]
        for k in range(rng.choice((0, 1, 2, 2, 3))):
            kid = "%s-agg-%03d-k%d" % (tag, r, k)
            fam.append((kid, fam[0][0]))
            for g in range(rng.choice((0, 0, 1))):
                fam.append(("%s-agg-%03d-k%d-g%d" % (tag, r, k, g), kid))
        roots.append(fam[0][0])
        for aid, parent in fam:
            on, until = _span(rng)
            base = {"event_id": aid, "granularity": "AGGREGATE", "source": "CENTCOM",
                    "via": "Kurdistan24", "occurred_on": on, "occurred_until": until,
                    "partner_force": rng.choice(("ISF", "SDF", "")), "type": "PARTNERED",
                    "reported_at": 1712059400000 + nagg}
            nagg += 1
            base.update(_scope(rng))
            base.update(_counts(rng))
            if parent:
                base["parent_id"] = parent
            # children often come before their parent: random positions
            t = rng.randint(1, span_all)
            items.append((t, 0, base))

            def ch(r, base=base, is_root=not parent, nroots=len(roots)):
                x = rng.random()
                if r >= 3:
                    return None
                if x < 0.12:
                    return _counts(rng)
                if x < 0.24 and not is_root:
                    y = rng.random()
                    if y < 0.7:
                        return {"parent_id": roots[rng.randrange(nroots)]}
                    if y < 0.85:
                        return {"parent_id": ""}
                    return {"parent_id": "%s-op-%04d" % (tag, rng.randrange(max(1, n_plain)))}
                if x < 0.30:
                    on2, until2 = _span(rng)
                    return {"occurred_on": on2, "occurred_until": until2}
                if x < 0.38:
                    return {"retracted": True}
                return None
            revise(base, t, ch)

    # figures: as_of ties within a (metric, scope, source)
    asofs = ("2024-01-31", "2024-02-15", "2024-03-31", "2024-03-31", "2024-04-30")
    for i in range(n_figures):
        v = rng.choice((2500, 9000, 45000, rng.randint(1, 100000)))
        base = {"figure_id": "%s-fig-%03d" % (tag, i), "source": rng.choice(("CENTCOM", "SDF")),
                "metric": rng.choice(METRICS), "scope": list(rng.choice(SCOPES)),
                "as_of": rng.choice(asofs), "value": v,
                "qualifier": rng.choice(QUALIFIERS), "unit": rng.choice(("fighters", "individuals and families", "")),
                "reported_at": 1712059500000 + i}
        if rng.random() < 0.3:
            base["low"] = rng.randint(1, v)
        if rng.random() < 0.3:
            base["high"] = v + rng.randint(0, 1000)
        if rng.random() < 0.4:
            base["via"] = "Kurdistan24"
        t = at()
        items.append((t, 0, base))

        def ch(r, base=base):
            x = rng.random()
            if r >= 2:
                return None
            if x < 0.2:
                nv = rng.randint(base.get("low", 0) or 1, 100000)
                d = {"value": nv}
                if base.get("high") and base["high"] < nv:
                    d["high"] = nv
                return d
            if x < 0.3:
                return {"as_of": rng.choice(asofs)}
            if x < 0.38:
                return {"retracted": True}
            return None
        revise(base, t, ch)

    # exact copies of earlier lines (duplicates, or stale when later revised)
    for _ in range(len(items) // 20):
        t, rev, d = rng.choice(items)
        items.append((t + rng.randint(1, 4000), rev, d))
    items.sort(key=lambda x: (x[0], x[1]))
    return [d for _, _, d in items]
