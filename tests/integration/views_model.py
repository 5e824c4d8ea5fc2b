"""views_model: views declared at run time (issue 12) in Python, to compute
what `query --view NAME`, `explain`, `history` and `view list` must print,
independently of the C code. Built on reports_model (the fold of issue 11:
current revisions, incidents counted once by source rank, aggregate
placement and shadowing).

The rules (issue 12, the design's "Rules everyone follows"):
  - A declared view: a name, 1..6 group-by dimensions from DIMS, filters.
    Values: type the enum name ("" unspecified), granularity
    "OPERATION"/"AGGREGATE", incident "" when none, year "2024", quarter
    "2024-Q1", month "2024-01", week ISO 8601 "2024-W05" (ISO week-year),
    day "2024-01-31"; an OPERATION event's time dimensions come from
    occurred_on.
  - Key: name "/" value "/" value ..., values escaped (% -> %25, / -> %2F).
    An escaped value longer than 64 bytes is shortened to its first whole
    characters up to 47 escaped bytes + "~" + 16 lower-case hex digits of
    FNV-1a 64 of the whole unescaped value; query prints the shortened
    value (the key's, unescaped).
  - Filters: dim=value, dim!=value, dim=a|b, occurred_on>=D, occurred_on<=D,
    AND-ed. An AGGREGATE passes a dimension filter only when its scope
    determines the value (one country; the whole span in one bucket);
    occurred_on>=D tests occurred_on, occurred_on<=D tests occurred_until.
  - Incidents: the store's group rule picks the counted member (over all
    members, whatever the view); its counts go to its key in every view
    whose filters it passes.

Also: decorate(), which spreads a reports_model stream over every
dimension (admin1, type, sources with '/', '%' and long UTF-8 names, ISO
week edges at year ends, long incident ids), random_view(), and the CLI
wrappers of the issue's commands.
"""

import datetime
import hashlib
import json
import random
import os
import subprocess
import threading
import time

import otharness as h
import reports_model as rm

COUNTERS7 = rm.COUNTERS7
DIMS = ("country", "admin1", "partner_force", "source", "type", "year", "quarter", "month",
        "week", "day", "incident", "granularity")
TIME_DIMS = ("year", "quarter", "month", "week", "day")
TYPE_NAMES = {0: "", 1: "PARTNERED", 2: "UNILATERAL", 3: "AIRSTRIKE", 4: "RAID"}
BUILTIN = dict(h.VIEWS)         # name -> dims, in slot order
KEY_VALUE_MAX = 64              # escaped bytes of a value before shortening
SHORT_PREFIX = 47


# --- values and keys ---------------------------------------------------------------

def esc(v):
    return v.replace("%", "%25").replace("/", "%2F")


def fnv1a64(data):
    x = 0xcbf29ce484222325
    for b in data:
        x ^= b
        x = (x * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return x


def shorten(v):
    """(value as query prints it, escaped key part) of a declared view's value."""
    e = esc(v)
    if len(e.encode("utf-8")) <= KEY_VALUE_MAX:
        return v, e
    pre, n = [], 0
    for ch in v:
        c = esc(ch).encode("utf-8")
        if n + len(c) > SHORT_PREFIX:
            break
        pre.append(ch)
        n += len(c)
    tail = "~%016x" % fnv1a64(v.encode("utf-8"))
    p = "".join(pre)
    return p + tail, esc(p) + tail


def iso_week(d):
    y, w, _ = datetime.date(int(d[:4]), int(d[5:7]), int(d[8:10])).isocalendar()
    return "%04d-W%02d" % (y, w)


def bucket(dim, d):
    if dim == "year":
        return d[:4]
    if dim == "quarter":
        return "%s-Q%d" % (d[:4], (int(d[5:7]) - 1) // 3 + 1)
    if dim == "month":
        return d[:7]
    if dim == "week":
        return iso_week(d)
    return d        # day


def dim_value(e, dim):
    """The value of dimension dim for a normalized event (reports_model's
    norm_event), or None when an aggregate's scope does not determine it."""
    agg = e["granularity"] == 1
    if dim == "granularity":
        return "AGGREGATE" if agg else "OPERATION"
    if dim == "type":
        return TYPE_NAMES.get(e["type"], str(e["type"]))
    if dim in TIME_DIMS:
        v = bucket(dim, e["occurred_on"])
        if agg and bucket(dim, e["occurred_until"] or e["occurred_on"]) != v:
            return None
        return v
    if dim == "country" and agg:
        if e["country"]:
            return e["country"]
        return e["countries"][0] if len(e["countries"]) == 1 else None
    return e[dim]


def parse_filter(f):
    """(dim, op, values) of a filter as written: op one of = != >= <=."""
    for op in ("!=", ">=", "<=", "="):
        i = f.find(op)
        if i > 0:
            dim, rest = f[:i], f[i + len(op):]
            return dim, op, (rest.split("|") if op == "=" else [rest])
    raise ValueError("not a filter: %r" % f)


def passes(e, where):
    for f in where:
        dim, op, vals = parse_filter(f)
        if dim == "occurred_on":
            if op == ">=" and not e["occurred_on"] >= vals[0]:
                return False
            if op == "<=":
                last = e["occurred_until"] if e["granularity"] == 1 else e["occurred_on"]
                if not (last or e["occurred_on"]) <= vals[0]:
                    return False
            continue
        v = dim_value(e, dim)
        if v is None:
            return False
        if op == "=" and v not in vals:
            return False
        if op == "!=" and v == vals[0]:
            return False
    return True


class View:
    """A view definition: name, group_by (dims), where (filters as written)."""

    def __init__(self, name, group_by, where=()):
        self.name, self.group_by, self.where = name, tuple(group_by), tuple(where)
        self.builtin = name in BUILTIN and not where and tuple(group_by) == BUILTIN[name]

    def __repr__(self):
        return "View(%s by %s where %s)" % (self.name, ",".join(self.group_by), " & ".join(self.where) or "-")

    def key(self, e):
        """(printed values tuple, key string) of e in this view, or None when
        its filters leave e out or (an aggregate) it is unplaced."""
        if not passes(e, self.where):
            return None
        shown, parts = [], []
        for d in self.group_by:
            v = dim_value(e, d)
            if v is None:
                return None
            if self.builtin:
                shown.append(v)
                parts.append(esc(v))
            else:
                s, p = shorten(v)
                shown.append(s)
                parts.append(p)
        return tuple(shown), "/".join([self.name] + parts)

    def args(self):
        a = ["--group-by", ",".join(self.group_by)]
        for w in self.where:
            a += ["--where", w]
        return a


def builtin_views():
    return [View(n, d) for n, d in BUILTIN.items()]


# --- the model ------------------------------------------------------------------------

class ViewsModel(rm.ReportsModel):
    """reports_model's fold, seen through any View."""

    def counting(self):
        """The OPERATION events that count in the observed tallies: plain
        current non-retracted ones, and each incident's counted member."""
        out = [e for e in self.events.values()
               if e["granularity"] == 0 and not e["incident"] and not e["retracted"]]
        for members in self.incidents().values():
            c = self.counted_member(members)
            if c is not None:
                out.append(c)
        return out

    def observed_view(self, v):
        """{printed values tuple: 7 counters} (no all-zero rows) and
        {values: key string}."""
        out, keys = {}, {}
        for e in self.counting():
            k = v.key(e)
            if k is None:
                continue
            rm.add(out.setdefault(k[0], rm.zero()), rm.counts_of(e))
            keys[k[0]] = k[1]
        return {k: c for k, c in out.items() if any(c.values())}, keys

    def contributors(self, v, values):
        """The counting events in the key of v with these printed values."""
        return [e for e in self.counting() if (v.key(e) or (None,))[0] == values]

    def reported_view(self, v):
        """{values: 7 counters} of the reported tallies (aggregates counted
        in their key unless a non-retracted ancestor sits in the same key)."""
        out = {}
        for a in self.aggregates().values():
            if a["retracted"]:
                continue
            k = v.key(a)
            if k is None:
                continue
            if any(not p["retracted"] and v.key(p) == k for p in self.ancestors(a)):
                continue
            rm.add(out.setdefault(k[0], rm.zero()), rm.counts_of(a))
        return {k: c for k, c in out.items() if any(c.values())}

    def values_seen(self, dim):
        """The values of dim among current events (for random filters)."""
        vals = set()
        for e in self.events.values():
            x = dim_value(e, dim)
            if x is not None:
                vals.add(x)
        return sorted(vals)


# --- random streams over every dimension -------------------------------------------

DATE_POOL = ("2015-12-31", "2016-01-01", "2016-01-03", "2016-01-04", "2018-12-31", "2019-01-01",
             "2020-12-31", "2021-01-01", "2021-01-03", "2021-01-04", "2024-02-29", "2024-12-29",
             "2024-12-30", "2024-12-31", "2025-01-01", "2026-06-30", "2026-07-01")
# Spans that fit one ISO week across a year end, or one day.
SPAN_POOL = (("2020-12-28", "2021-01-03"), ("2024-12-30", "2025-01-05"), ("2015-12-28", "2016-01-03"),
             ("2024-03-05", "2024-03-05"), ("2021-01-01", "2021-01-01"), ("2024-01-01", "2024-01-07"))
LONG = "Agence \u00e9crite/%\u00fcber \u043c\u0438\u0440 " * 2      # 64 chars, 120+ escaped bytes
SOURCE_MAP = {"Reuters": LONG + "Reuters", "AFP": LONG + "AFP"}   # same prefix: hashes tell them apart
ADMIN1 = ("", "", "Anbar", "Ninawa", "Dayr az Zawr", "al-Hasakah/North", "100% Kirkuk",
          "\u0645\u062d\u0627\u0641\u0638\u0629 \u0646\u064a\u0646\u0648\u0649 " * 4)
TYPES = ("", "PARTNERED", "UNILATERAL", "AIRSTRIKE", "RAID")


def _rng_for(seed, *parts):
    return random.Random(hashlib.sha256(repr((seed,) + parts).encode()).digest())


def decorate(stream, seed):
    """Spread a reports_model stream over every dimension: each line gets
    admin1, type, date, source and incident from a random function of
    (seed, id, revision), so exact copies stay copies and no id and
    revision gets two contents. Figures pass unchanged."""
    out = []
    long_inc = {}
    for d in stream:
        if rm.is_figure(d):
            out.append(d)
            continue
        d = dict(d)
        r = _rng_for(seed, d["event_id"], d.get("revision", 0))
        d["admin1"] = r.choice(ADMIN1)
        t = r.choice(TYPES)
        if t:
            d["type"] = t
        else:
            d.pop("type", None)
        d["source"] = SOURCE_MAP.get(d["source"], d["source"])
        if d.get("granularity") == "AGGREGATE":
            if r.random() < 0.3:
                d["occurred_on"], d["occurred_until"] = r.choice(SPAN_POOL)
        else:
            if not d.get("incident") and r.random() < 0.45:
                d["occurred_on"] = r.choice(DATE_POOL)
            if d.get("incident"):
                inc = d["incident"]
                if inc not in long_inc:
                    ri = _rng_for(seed, inc)
                    long_inc[inc] = inc + "/" + "%x" * 40 + "/" + ri.choice("abc") if ri.random() < 0.3 else inc
                d["incident"] = long_inc[inc]
        out.append(d)
    return out


def random_view(rng, model, name):
    """A random definition: 1..6 dims, 0..3 filters drawn from the values of
    the model's events (so filters select something)."""
    dims = rng.sample(DIMS, rng.choice((1, 1, 2, 2, 3, 4, 6)))
    where = []
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        kind = rng.random()
        if kind < 0.2:
            day = rng.choice(model.values_seen("day"))
            where.append("occurred_on%s%s" % (rng.choice((">=", "<=")), day))
            continue
        dim = rng.choice(("country", "admin1", "partner_force", "source", "type", "year",
                          "quarter", "month", "week", "granularity"))
        vals = [x for x in model.values_seen(dim) if x and "|" not in x]
        if not vals:
            continue
        if kind < 0.55:
            where.append("%s=%s" % (dim, rng.choice(vals)))
        elif kind < 0.8:
            where.append("%s=%s" % (dim, "|".join(rng.sample(vals, min(len(vals), rng.randint(2, 3))))))
        else:
            where.append("%s!=%s" % (dim, rng.choice(vals)))
    return View(name, dims, where)


# --- the CLI ----------------------------------------------------------------------------

def run(args, rc_want=0, label=None):
    """optally ARGS; asserts the exit code. Returns (stdout, stderr)."""
    rc, out, err = h._run(args)
    assert rc == rc_want, "%s: exit %d, want %d\nstdout: %s\nstderr: %s" % (
        label or "optally " + " ".join(args), rc, rc_want, out[-3000:], err[-3000:])
    return out, err


def view_add(data, v, rc_want=0):
    return run(["view", "add", v.name] + v.args() + ["--data", data], rc_want)


def view_list(data):
    out, _ = run(["view", "list", "--data", data, "--format", "json"])
    return rm.json_rows(out, "optally view list")


def status(data):
    out, _ = run(["status", "--data", data, "--format", "json"])
    rows = rm.json_rows(out, "optally status")
    assert len(rows) == 1, "status --format json: %d rows, want one object: %r" % (len(rows), out)
    return rows[0]


def query_view(data, v, extra=()):
    """{printed values tuple: 7 counters} of `query --view NAME --format
    json`, zero rows dropped. Asserts every row's fields are exactly view,
    the dimensions, the 7 counters in that order, and rows in key order
    (their key strings, as the model computes them, ascending in bytes)."""
    args = ["query", "--data", data, "--view", v.name, "--format", "json"] + list(extra)
    out, err = run(args)
    rows = rm.ordered_rows(out, "optally " + " ".join(args))
    want_fields = ["view"] + list(v.group_by) + list(COUNTERS7)
    table = {}
    for r in rows:
        fields = [k for k, _ in r]
        assert fields == want_fields, "optally %s: row fields %r, want %r" % (" ".join(args), fields, want_fields)
        d = dict(r)
        assert d["view"] == v.name, "query --view %s printed a row of %r" % (v.name, d["view"])
        k = tuple(d[f] for f in v.group_by)
        assert k not in table, "query --view %s: key %r twice" % (v.name, k)
        c = {f: int(d[f]) for f in COUNTERS7}
        table[k] = c
    return {k: c for k, c in table.items() if any(c.values())}, [tuple(dict(r)[f] for f in v.group_by) for r in rows], err


def diff(got, want, label, limit=12):
    lines = []
    for k in sorted(set(got) | set(want), key=repr):
        if got.get(k) != want.get(k):
            lines.append("  %s %r: got %s, want %s" % (label, k, got.get(k), want.get(k)))
            if len(lines) >= limit:
                lines.append("  ...")
                break
    return "\n".join(lines)


def check_view(data, model, v, label):
    """query --view v equals the model's, field by field, rows in key order."""
    want, keys = model.observed_view(v)
    got, order, _ = query_view(data, v)
    d = diff(got, want, v.name)
    assert not d, "%s: query --view %s (%r) differs from the model (%d keys, want %d):\n%s" % (
        label, v.name, v, len(got), len(want), d)
    ks = [keys[k].encode("utf-8") for k in order if k in keys]
    assert ks == sorted(ks), "%s: query --view %s: rows not in key byte order: %r" % (
        label, v.name, [k.decode() for k in ks][:20])
    return len(want)


def explain(data, view_name, key, extra=(), rc_want=0):
    args = ["explain", "--data", data, "--view", view_name, "--key", key, "--format", "json"] + list(extra)
    out, err = run(args, rc_want)
    if rc_want:
        return None, err
    return rm.json_rows(out, "optally " + " ".join(args)), err


def history(data, view_name, key, fmt="json", rc_want=0):
    args = ["history", "--data", data, "--view", view_name, "--key", key, "--format", fmt]
    out, err = run(args, rc_want)
    if fmt == "json" and not rc_want:
        return rm.json_rows(out, "optally " + " ".join(args)), err
    return out, err


def fingerprint(data):
    """Every database of the store as mdb_dump -a prints it (for "the store
    is untouched"); the store must not be open for writing meanwhile."""
    p = subprocess.run(["mdb_dump", "-a", data], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=h.CMD_TIMEOUT)
    assert p.returncode == 0, "mdb_dump -a %s: %s" % (data, p.stderr.decode("utf-8", "replace"))
    return hashlib.sha256(p.stdout).hexdigest(), len(p.stdout)


def mdb_keys(data, db):
    """The keys of one LMDB database of the store (mdb_dump, hex), as str."""
    p = subprocess.run(["mdb_dump", "-s", db, data], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=h.CMD_TIMEOUT)
    assert p.returncode == 0, "mdb_dump -s %s %s: %s" % (db, data, p.stderr.decode("utf-8", "replace"))
    lines = p.stdout.decode("ascii").splitlines()
    body = lines[lines.index("HEADER=END") + 1:lines.index("DATA=END")]
    return [bytes.fromhex(k.strip()).decode("utf-8", "replace") for k in body[0::2]]


# --- subscribe output of one declared view --------------------------------------------

def fold_view(lines, v):
    """Fold `subscribe --view NAME --format json` lines into {values: 7
    counters} (zero rows dropped), checking that view_seq rises by one per
    update after each snapshot_end. Returns (table, complete, stats)."""
    table, complete, last = {}, False, None
    stats = {"snapshots": 0, "updates": 0, "resyncs": 0}
    for n, r in enumerate(lines, 1):
        kind = r.get("kind")
        if kind == "resync":
            table, complete, last = {}, False, None
            stats["resyncs"] += 1
        elif kind == "snapshot":
            assert r.get("view") == v.name, "line %d: snapshot row of %r under --view %s" % (n, r.get("view"), v.name)
            table[tuple(r[f] for f in v.group_by)] = {c: int(r[c]) for c in COUNTERS7}
        elif kind == "snapshot_end":
            complete, last = True, r["view_seq"]
            stats["snapshots"] += 1
        elif kind == "update":
            assert complete, "line %d: an update before snapshot_end: %r" % (n, r)
            assert r.get("view") == v.name, "line %d: update of %r under --view %s" % (n, r.get("view"), v.name)
            assert r["view_seq"] == last + 1, "line %d: view_seq %d after %d: a gap: %r" % (
                n, r["view_seq"], last, r)
            last = r["view_seq"]
            table[tuple(r[f] for f in v.group_by)] = {c: int(r[c]) for c in COUNTERS7}
            stats["updates"] += 1
        else:
            raise AssertionError("line %d: unknown kind: %r" % (n, r))
    return {k: c for k, c in table.items() if any(c.values())}, complete, stats


def dumps(x):
    return json.dumps(x, sort_keys=True)


# --- a producer that streams ---------------------------------------------------------

class Streamer(threading.Thread):
    """Sends lines with `optally produce` in about nchunks files, pause
    seconds apart, and sums the summaries. chunks_done says how far it got.
    hold() makes it stop between two chunks (idle() says it waits there);
    release() lets it go on."""

    def __init__(self, ep, lines, tmp, nchunks, pause, tag):
        super().__init__(daemon=True)
        self.ep, self.tmp, self.pause, self.tag = ep, tmp, pause, tag
        step = max(1, -(-len(lines) // nchunks))
        self.chunks = [lines[i:i + step] for i in range(0, len(lines), step)]
        self.chunks_done = 0
        self.summary = dict.fromkeys(h.STATUSES, 0)
        self.error = None
        self._go = threading.Event()
        self._go.set()
        self._idle = threading.Event()

    def run(self):
        try:
            for i, chunk in enumerate(self.chunks):
                if not self._go.is_set():
                    self._idle.set()
                    self._go.wait()
                    self._idle.clear()
                path = os.path.join(self.tmp, "%s-%03d.jsonl" % (self.tag, i))
                h.write_jsonl(path, chunk)
                # --window 1: with several batches in flight, a first batch
                # that finds no connection yet (EAGAIN under ZMQ_IMMEDIATE)
                # waits while a later one goes out, and a revision can then
                # arrive before what it revises (STALE instead of SUPERSEDED)
                rc, out, err = h.run_produce(["--to", self.ep, "--batch", "7", "--window", "1", path])
                assert rc == 0, "produce chunk %d: exit %d\n%s%s" % (i, rc, out, err[-2000:])
                for k, n in h.parse_summary(out).items():
                    self.summary[k] += n
                self.chunks_done = i + 1
                time.sleep(self.pause)
        except AssertionError as e:
            self.error = e
        finally:
            self._idle.set()

    def hold(self, timeout=60):
        """Stop between chunks; returns once it waits (or has ended)."""
        self._go.clear()
        assert self._idle.wait(timeout), "streamer: not idle after %ds" % timeout

    def release(self):
        self._go.set()

    def wait_chunks(self, n, timeout=60):
        assert h.wait_for(lambda: self.chunks_done >= n or self.error or not self.is_alive(), timeout), \
            "streamer: %d chunks after %ds" % (self.chunks_done, timeout)

    def finish(self, want, label):
        """Wait for the end; assert the summed summaries equal want."""
        if self.is_alive() or self.ident is not None:
            self.join(120)
        assert not self.is_alive(), "%s: streamer still running" % label
        if self.error:
            raise self.error
        assert self.summary == want, "%s: produce summaries %r, want %r" % (label, self.summary, want)


def replay(records, rank, probe):
    """Fold the log [(seq, pb.LogRecord)] record by record with the model;
    after each record call probe(model, seq, received_at). The model's
    first-stored seqs are the log's (incident ties)."""
    m = ViewsModel(rank)
    first = {}
    for seq, rec in records:
        if rec.HasField("event"):
            first.setdefault(rec.event.event_id, seq)
    m.first_seq = first
    for seq, rec in records:
        if rec.HasField("event"):
            e = rm.pb_event_dict(rec.event)
            cur = m.events.get(e["event_id"])
            if cur is None or e["revision"] > cur["revision"]:
                m.events[e["event_id"]] = e
        probe(m, seq, rec.received_at)
    return m
