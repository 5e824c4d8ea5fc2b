#!/usr/bin/python3
"""Build the bundled demo data of optally, deterministically.

    /usr/bin/python3 data/make_demo_data.py           # (re)write the files, print tallies
    /usr/bin/python3 data/make_demo_data.py --check   # fail if a file differs from a rebuild

Writes, next to this script:

  centcom-q1-2024.jsonl          94 operation-level events, one JSON object a
                                 line, one per operation.
  centcom-q1-2024-updates.jsonl  a short second file of re-sends, a correction,
                                 a retraction, a stale revision, invalid events
                                 and one malformed line, each built to give one
                                 known ingest status.
  centcom-q1-2024-release.jsonl  the release itself as published: the
                                 theatre-wide AGGREGATE (94 missions), its Iraq
                                 and Syria parts (parent_id) and its three
                                 point-in-time figures (lines with figure_id).
  incidents-example.jsonl        one raid reported by CENTCOM and by the SDF
                                 (one incident, counted once) and one incident
                                 whose two reports disagree on the killed.

ILLUSTRATIVE DATA. The source (CENTCOM's Defeat-ISIS update for January to
March 2024, see /work/shared/seed/centcom-dis-q1-2024.txt) publishes totals
only: 94 missions; Iraq 66 partnered operations, 11 killed, 36 detained;
Syria 28 operations, 7 killed, 27 detained. The per-operation rows below are
invented so that they add up to exactly those totals: dates, governorates and
the split of killed/detained over operations are made up (by a seeded PRNG),
not reported. The release's point-in-time figures (about 2,500 fighters at
large, 9,000+ detainees held, 45,000+ camp residents) are not operations: they
are in the release file as figures, never summed. The release file holds only
what was published (no invented value); the incidents file is made up.

The script checks the sums of the base file against the published totals and
prints the tallies (country,quarter and total views) expected after the base
file alone and after both files, computed by a small independent fold of the
events (the rules of the consumer: see fold() below). data/README.md quotes
those figures. Only the standard library is used; output is byte-identical on
every run (random.Random with a fixed integer seed is stable across Python 3
versions).
"""

import datetime
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BASE_FILE = os.path.join(HERE, "centcom-q1-2024.jsonl")
UPDATES_FILE = os.path.join(HERE, "centcom-q1-2024-updates.jsonl")
RELEASE_FILE = os.path.join(HERE, "centcom-q1-2024-release.jsonl")
INCIDENTS_FILE = os.path.join(HERE, "incidents-example.jsonl")

SEED = 20240331
SOURCE = "CENTCOM"
SOURCE_URL = "https://www.centcom.mil/MEDIA/PRESS-RELEASES/"  # illustrative
# Fixed "seen by the scraper" time: 2024-04-02T12:00:00Z in unix ms.
REPORTED_AT = 1712059200000
# The re-scrape in the updates file: 2024-04-09T12:00:00Z.
REPORTED_AT_LATER = 1712664000000
NOTES = "illustrative row: per-operation split built to match CENTCOM's published Q1 2024 totals"

# Published totals (the seed report) and the invented geography.
COUNTRIES = [
    # code, prefix, operations, killed, detained, partner force, governorates
    ("IQ", "iq", 66, 11, 36, "ISF", ["Anbar", "Kirkuk", "Ninawa", "Salah al-Din", "Diyala"]),
    ("SY", "sy", 28, 7, 27, "SDF", ["Deir ez-Zor", "Hasakah", "Raqqa"]),
]
PUBLISHED_TOTAL = {"operations": 94, "killed": 18, "detained": 63}

Q1_START = datetime.date(2024, 1, 1)
Q1_DAYS = 91  # 2024 is a leap year: 31 + 29 + 31

# Field order of proto/optally.proto's OperationEvent.
FIELDS = ["event_id", "revision", "retracted", "source", "source_url", "occurred_on",
          "occurred_until", "country", "admin1", "partner_force", "operations",
          "killed", "detained", "wounded", "reported_at", "notes", "type",
          "granularity", "parent_id", "countries", "killed_low", "killed_high",
          "incident", "via"]
# Field order of proto/optally.proto's Figure.
FIGURE_FIELDS = ["figure_id", "revision", "retracted", "source", "via", "source_url",
                 "metric", "scope", "as_of", "value", "qualifier", "low", "high", "unit",
                 "reported_at", "notes"]

# The release as a news outlet relayed it (the seed text): where the scraper
# read it, and CENTCOM's own press release it quotes.
RELEASE_VIA = "Zoom News"
RELEASE_URL = "https://zoomnews.info/en/37504/"
RELEASE_CENTCOM_URL = ("https://www.centcom.mil/MEDIA/PRESS-RELEASES/Press-Release-View/"
                       "Article/3733048/defeat-isis-mission-in-iraq-and-syria-for-january-through-march-2024/")
# CENTCOM's release 20240405-01 is dated 2024-04-05: the as_of of its figures.
RELEASE_DATE = "2024-04-05"
# The release "seen by the scraper": 2024-04-06T12:00:00Z.
RELEASE_REPORTED_AT = 1712404800000
RELEASE_NOTES = ("as published: CENTCOM release 20240405-01, Defeat ISIS Mission in Iraq and "
                 "Syria for January through March 2024 (" + RELEASE_CENTCOM_URL + ")")
# The made-up incidents: seen 2024-04-25T12:00:00Z.
INCIDENTS_REPORTED_AT = 1714046400000
INCIDENTS_NOTES = "illustrative row: an invented raid, to show incidents and disagreements"
COUNTERS = ["events", "operations", "killed", "detained", "wounded"]


def event(**kw):
    """One event as an ordered dict in proto field order (absent fields left out)."""
    assert set(kw) <= set(FIELDS), set(kw) - set(FIELDS)
    return {f: kw[f] for f in FIELDS if f in kw}


def figure(**kw):
    """One figure as an ordered dict in proto field order (absent fields left out)."""
    assert set(kw) <= set(FIGURE_FIELDS), set(kw) - set(FIGURE_FIELDS)
    return {f: kw[f] for f in FIGURE_FIELDS if f in kw}


def release_lines():
    """The release as published: the theatre-wide aggregate, its two
    country parts (parent_id), and its three point-in-time figures. Every
    number is the release's own; nothing is invented."""
    common = dict(revision=0, source=SOURCE, source_url=RELEASE_URL,
                  occurred_on="2024-01-01", occurred_until="2024-03-31",
                  wounded=0, reported_at=RELEASE_REPORTED_AT, notes=RELEASE_NOTES,
                  type="PARTNERED", granularity="AGGREGATE", via=RELEASE_VIA)
    parent = "centcom-2024q1-dis"
    rows = [event(event_id=parent, countries=["IQ", "SY"],
                  operations=PUBLISHED_TOTAL["operations"], killed=PUBLISHED_TOTAL["killed"],
                  detained=PUBLISHED_TOTAL["detained"], **common)]
    for cc, prefix, n, killed, detained, partner, _ in COUNTRIES:
        rows.append(event(event_id="%s-%s" % (parent, prefix), country=cc, partner_force=partner,
                          operations=n, killed=killed, detained=detained, parent_id=parent,
                          **common))
    fig = dict(revision=0, source=SOURCE, via=RELEASE_VIA, source_url=RELEASE_URL,
               as_of=RELEASE_DATE, reported_at=RELEASE_REPORTED_AT)
    rows += [
        figure(figure_id="centcom-2024q1-fighters-at-large", metric="fighters_at_large",
               scope=["IQ", "SY"], value=2500, qualifier="APPROX", unit="fighters",
               notes="Approximately 2,500 ISIS fighters remain at large in Iraq and Syria", **fig),
        figure(figure_id="centcom-2024q1-detainees-held", metric="detainees_held",
               scope=["SY"], value=9000, qualifier="AT_LEAST", unit="detainees",
               notes="over 9,000 ISIS detainees held in Syrian detention facilities", **fig),
        figure(figure_id="centcom-2024q1-camp-residents", metric="camp_residents",
               scope=["SY"], value=45000, qualifier="AT_LEAST", unit="individuals and families",
               notes="more than 45,000 individuals and families from the SDF-run camps such as "
                     "Al Hol and Al Roj", **fig),
    ]
    return rows


def check_release(rows):
    """The parts add up to the whole, as the release says."""
    aggs = [r for r in rows if "event_id" in r]
    whole = aggs[0]
    for f in ("operations", "killed", "detained"):
        assert whole[f] == sum(a[f] for a in aggs[1:]), f
    assert all(a["parent_id"] == whole["event_id"] for a in aggs[1:])
    assert len([r for r in rows if "figure_id" in r]) == 3


def incident_lines():
    """Two invented raids in Syria, April 2024, each reported by CENTCOM and
    by the SDF: the first agree (counted once), the second disagree on the
    killed (the SDF's report arrives first; the source ranking picks)."""
    common = dict(revision=0, country="SY", partner_force="SDF", operations=1, wounded=0,
                  reported_at=INCIDENTS_REPORTED_AT, notes=INCIDENTS_NOTES, type="PARTNERED")
    agree = "2024-04-12-hasakah-raid"
    differ = "2024-04-20-deir-ez-zor-raid"
    return [
        event(event_id="centcom-" + agree, source="CENTCOM", occurred_on="2024-04-12",
              admin1="Hasakah", killed=0, detained=2, incident=agree, **common),
        event(event_id="sdf-" + agree, source="SDF", occurred_on="2024-04-12",
              admin1="Hasakah", killed=0, detained=2, incident=agree, **common),
        event(event_id="sdf-" + differ, source="SDF", occurred_on="2024-04-20",
              admin1="Deir ez-Zor", killed=3, killed_low=2, killed_high=4, detained=1,
              incident=differ, **common),
        event(event_id="centcom-" + differ, source="CENTCOM", occurred_on="2024-04-20",
              admin1="Deir ez-Zor", killed=1, detained=1, incident=differ, **common),
    ]


def base_events():
    """The 94 base events: per country, n operations on dates spread evenly
    over the quarter, killed and detained dealt out one by one to random
    operations (so they sum exactly), governorates drawn at random."""
    rng = random.Random(SEED)
    out = []
    for cc, prefix, n, killed, detained, partner, admin1s in COUNTRIES:
        k = [0] * n
        d = [0] * n
        for _ in range(killed):
            k[rng.randrange(n)] += 1
        for _ in range(detained):
            d[rng.randrange(n)] += 1
        for i in range(n):
            # Operation i of n falls on day floor((i + 0.5) * 91 / n): evenly
            # spread, ascending, never outside the quarter.
            day = Q1_START + datetime.timedelta(days=(2 * i + 1) * Q1_DAYS // (2 * n))
            out.append(event(
                event_id="centcom-2024q1-%s-%03d" % (prefix, i + 1),
                revision=0,
                source=SOURCE,
                source_url=SOURCE_URL,
                occurred_on=day.isoformat(),
                country=cc,
                admin1=rng.choice(admin1s),
                partner_force=partner,
                operations=1,
                killed=k[i],
                detained=d[i],
                wounded=0,
                reported_at=REPORTED_AT,
                notes=NOTES,
                type="PARTNERED",
            ))
    return out


def check_base(events):
    """Assert the base file matches the published figures exactly."""
    def tot(cc, field):
        return sum(e[field] for e in events if cc is None or e["country"] == cc)
    for cc, _, n, killed, detained, _, _ in COUNTRIES:
        got = (sum(1 for e in events if e["country"] == cc), tot(cc, "operations"),
               tot(cc, "killed"), tot(cc, "detained"), tot(cc, "wounded"))
        assert got == (n, n, killed, detained, 0), "%s: %r" % (cc, got)
    for f, v in PUBLISHED_TOTAL.items():
        assert tot(None, f) == v, "total %s %d != %d" % (f, tot(None, f), v)
    assert len({e["event_id"] for e in events}) == len(events), "event_id not unique"
    months = {e["occurred_on"][:7] for e in events}
    assert months == {"2024-01", "2024-02", "2024-03"}, months
    assert all("2024-01-01" <= e["occurred_on"] <= "2024-03-31" for e in events)


def pick(events, pred):
    """The first event satisfying pred (deterministic: file order)."""
    for e in events:
        if pred(e):
            return e
    raise AssertionError("no event fits")


def update_lines(events):
    """The updates file as (text line, expected status, expected reason) rows.
    Order matters: the stale revision comes after the revision that makes it
    stale."""
    by_id = {e["event_id"]: e for e in events}
    iq1 = by_id["centcom-2024q1-iq-001"]
    sy1 = by_id["centcom-2024q1-sy-001"]
    iq2 = by_id["centcom-2024q1-iq-002"]
    # The correction: an Iraqi operation reported with nobody detained, later
    # corrected to two detainees.
    fix0 = pick(events, lambda e: e["country"] == "IQ" and e["detained"] == 0
                and e["event_id"] not in (iq1["event_id"], iq2["event_id"]))
    fix1 = dict(fix0, revision=1, detained=2, reported_at=REPORTED_AT_LATER)
    # The retraction: a Syrian operation that did kill someone, withdrawn.
    ret0 = pick(events, lambda e: e["country"] == "SY" and e["killed"] > 0
                and e["event_id"] != sy1["event_id"])
    ret1 = dict(ret0, revision=1, retracted=True, reported_at=REPORTED_AT_LATER)
    ret1 = event(**ret1)  # retracted back in its proto position
    # The conflict: same event_id and revision as a stored Syrian event,
    # different content (one more detained).
    con0 = pick(events, lambda e: e["country"] == "SY"
                and e["event_id"] not in (sy1["event_id"], ret0["event_id"]))
    con = dict(con0, detained=con0["detained"] + 1)

    def bad(suffix, **kw):
        fields = dict(event_id="centcom-2024q1-invalid-" + suffix, revision=0,
                      source=SOURCE, source_url=SOURCE_URL, occurred_on="2024-02-14",
                      country="IQ", admin1="Anbar", partner_force="ISF",
                      operations=1, killed=0, detained=1, wounded=0,
                      reported_at=REPORTED_AT_LATER, type="PARTNERED")
        fields.update(kw)
        return event(**fields)

    rows = [
        (iq1, "DUPLICATE", None),                               # re-sent unchanged
        (sy1, "DUPLICATE", None),                               # re-sent unchanged
        (fix1, "SUPERSEDED", None),                             # correction, rev 1
        (ret1, "SUPERSEDED", None),                             # retraction, rev 1
        (dict(iq2, reported_at=REPORTED_AT_LATER), "DUPLICATE", None),  # re-scrape: only reported_at differs
        (fix0, "STALE", None),                                  # rev 0 after rev 1
        (bad("country", country="ZZ", admin1="", partner_force=""), "REJECTED", "UNKNOWN_COUNTRY"),
        (bad("date", occurred_on="2024-02-30"), "REJECTED", "BAD_DATE"),
        (None, "MALFORMED", None),                              # not JSON
        (bad("future", occurred_on="2031-01-01"), "REJECTED", "FUTURE_DATE"),
        (bad("count", detained=2000000), "REJECTED", "COUNT_TOO_LARGE"),
        (bad("empty", operations=0, killed=0, detained=0, wounded=0), "REJECTED", "EMPTY_EVENT"),
        (con, "REJECTED", "CONFLICT"),
    ]
    out = []
    for ev, status, reason in rows:
        if ev is None:
            text = '{"event_id":"centcom-2024q1-malformed","source":"CENTCOM","occurred_on":"2024-03-0'
        else:
            text = compact(ev)
        out.append((text, status, reason))
    return out


def compact(ev):
    return json.dumps(ev, separators=(",", ":"), ensure_ascii=False)


# --- an independent fold, for the expected tallies ---------------------------

DEFAULTS = {"event_id": "", "revision": 0, "retracted": False, "source": "",
            "source_url": "", "occurred_on": "", "occurred_until": "", "country": "",
            "admin1": "", "partner_force": "", "operations": 0, "killed": 0,
            "detained": 0, "wounded": 0, "reported_at": 0, "notes": "", "type": 0}


def content(ev):
    """Every field but reported_at, absent fields at their proto3 default."""
    c = dict(DEFAULTS)
    c.update(ev)
    del c["reported_at"]
    return c


def fold(stored, rows):
    """Apply (event, status-expected) rows to stored {event_id: event} and
    check that each status is the one the rules give. Invalid events and the
    malformed line are skipped (the status table says so)."""
    for ev, expected in rows:
        if expected in ("REJECTED", "MALFORMED") and (ev is None or ev["event_id"] not in stored):
            continue
        cur = stored.get(ev["event_id"])
        if cur is None:
            got = "STORED"
            stored[ev["event_id"]] = ev
        elif ev.get("revision", 0) == cur.get("revision", 0):
            got = "DUPLICATE" if content(ev) == content(cur) else "REJECTED"
        elif ev.get("revision", 0) > cur.get("revision", 0):
            got = "SUPERSEDED"
            stored[ev["event_id"]] = ev
        else:
            got = "STALE"
        assert got == expected, "%s: fold gives %s, file says %s" % (ev["event_id"], got, expected)


def tallies(stored):
    """{(country, quarter): counters} and the total, over non-retracted events."""
    out = {}
    total = dict.fromkeys(COUNTERS, 0)
    for ev in stored.values():
        if ev.get("retracted"):
            continue
        month = int(ev["occurred_on"][5:7])
        key = (ev["country"], "%s-Q%d" % (ev["occurred_on"][:4], (month - 1) // 3 + 1))
        t = out.setdefault(key, dict.fromkeys(COUNTERS, 0))
        for acc in (t, total):
            acc["events"] += 1
            for f in COUNTERS[1:]:
                acc[f] += ev.get(f, 0)
    return out, total


def show(title, stored):
    rows, total = tallies(stored)
    print(title)
    for (cc, q), t in sorted(rows.items()):
        print("  country,quarter %s %s  " % (cc, q) + "  ".join("%s %d" % (f, t[f]) for f in COUNTERS))
    print("  total               " + "  ".join("%s %d" % (f, total[f]) for f in COUNTERS))


def main(argv):
    check = "--check" in argv[1:]
    events = base_events()
    check_base(events)
    updates = update_lines(events)
    # The update file's own invariants: each JSON line round-trips, the
    # malformed one does not parse.
    for text, status, _ in updates:
        if status == "MALFORMED":
            try:
                json.loads(text)
                raise AssertionError("malformed line parses")
            except json.JSONDecodeError:
                pass

    release = release_lines()
    check_release(release)
    incidents = incident_lines()

    files = [
        (BASE_FILE, "".join(compact(e) + "\n" for e in events)),
        (UPDATES_FILE, "".join(t + "\n" for t, _, _ in updates)),
        (RELEASE_FILE, "".join(compact(r) + "\n" for r in release)),
        (INCIDENTS_FILE, "".join(compact(e) + "\n" for e in incidents)),
    ]
    if check:
        for path, text in files:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    print("%s: differs from a rebuild" % path, file=sys.stderr)
                    return 1
    else:
        for path, text in files:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)

    stored = {}
    fold(stored, [(e, "STORED") for e in events])
    show("after %s:" % os.path.basename(BASE_FILE), stored)
    fold(stored, [(None if s == "MALFORMED" else json.loads(t), s) for t, s, _ in updates])
    show("after %s as well:" % os.path.basename(UPDATES_FILE), stored)
    counts = {}
    for _, s, _ in updates:
        counts[s] = counts.get(s, 0) + 1
    print("updates file: " + ", ".join("%s %d" % (s, counts.get(s, 0)) for s in
          ("STORED", "DUPLICATE", "SUPERSEDED", "STALE", "REJECTED", "MALFORMED")))
    # optally produce counts a malformed line among the rejected.
    print("  optally produce summary: stored %d, duplicate %d, superseded %d, stale %d, rejected %d"
          % (counts.get("STORED", 0), counts.get("DUPLICATE", 0), counts.get("SUPERSEDED", 0),
             counts.get("STALE", 0), counts.get("REJECTED", 0) + counts.get("MALFORMED", 0)))
    for n, (text, status, reason) in enumerate(updates, 1):
        eid = "-" if status == "MALFORMED" else json.loads(text)["event_id"]
        print("  line %2d: %-10s %-16s %s" % (n, status, reason or "", eid))
    show_release(events, release)
    show_incidents(incidents, ["CENTCOM", "SDF"])
    return 0


def show_release(events, release):
    """reconcile --view country,quarter after the base file and the release:
    the parts (one country, a span inside Q1) count there, the theatre-wide
    total (two countries) is unplaced."""
    base, _ = tallies({e["event_id"]: e for e in events})
    print("reconcile --view country,quarter after the base file and the release:")
    for a in release:
        if "event_id" not in a:
            continue
        if not a.get("country"):
            print("  unplaced: %s (countries %s)" % (a["event_id"], ",".join(a["countries"])))
            continue
        key = (a["country"], "2024-Q1")
        diff = ["%s %d" % (f, base[key][f] - a[f]) for f in ("operations", "killed", "detained")]
        print("  %s %s  reported %d/%d/%d (%s)  difference %s" % (
            key[0], key[1], a["operations"], a["killed"], a["detained"], a["event_id"], ", ".join(diff)))


def show_incidents(incidents, rank):
    """Each incident once, with its counted report (best rank, then first)."""
    print("incidents (ranking %s):" % ",".join(rank))
    by_inc = {}
    for e in incidents:
        by_inc.setdefault(e["incident"], []).append(e)
    for inc, members in sorted(by_inc.items()):
        counted = min(members, key=lambda e: (rank.index(e["source"]) if e["source"] in rank
                                              else len(rank), members.index(e)))
        differ = len({(e["killed"], e["detained"], e.get("killed_low", 0), e.get("killed_high", 0))
                      for e in members}) > 1
        print("  %s: counted %s (killed %d, detained %d)%s" % (
            inc, counted["event_id"], counted["killed"], counted["detained"],
            "; the reports disagree" if differ else ""))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
