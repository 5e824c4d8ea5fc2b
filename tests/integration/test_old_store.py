#!/usr/bin/python3
"""A store written by the release before issue 11 opens and answers as before.

tests/fixtures/store-r1 holds such a store (data/centcom-q1-2024.jsonl then
the updates file, 5-counter tallies, no reported/aggregates/incidents/figures
databases) and what that release printed for it. On a copy:
  1. readers: `query --view V --format json` prints the same rows as
     query-V.jsonl, each with killed_low and killed_high equal to killed;
     `rejects --format json` and `log export --format json` print what the
     old release printed; `reconcile` shows the observed tallies with nothing
     reported (and an empty unplaced row), `figures` and `disagreements`
     nothing; `rebuild --check` finds no difference;
  2. a consumer (with --source-rank: the store holds no incident, so the
     ranking is simply stored) opens it as a writer and ingests new-shape
     lines: aggregates with parts, figures, incident members with
     estimates, plus a revision of an old event; every answer then equals
     reports_model's fold of the old log and the new lines; the old rows of
     rejects and the log are unchanged; `rebuild --check` is clean, also
     after a restart.
"""

import json
import os
import shutil

import otharness as h
import reports_model as rm

FIXTURE = os.path.join(h.SRC, "tests", "fixtures", "store-r1")
CONSUMER_ARGS = ["--nosync", "--publish", "none", "--snapshot", "none"]


def fixture_rows(name):
    with open(os.path.join(FIXTURE, name), encoding="utf-8") as f:
        return [json.loads(x) for x in f if x.strip()]


def export_json(data, tmp):
    path = os.path.join(tmp, "export.jsonl")
    rm.run_ok(["log", "export", "--data", data, "--out", path, "--format", "json", "--quiet"])
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(x) for x in f if x.strip()]
    os.unlink(path)
    return rows


def new_lines():
    """New-shape lines on top of the old data."""
    release = [
        {"event_id": "r1-theatre", "granularity": "AGGREGATE", "source": "CENTCOM", "via": "Kurdistan24",
         "occurred_on": "2024-01-01", "occurred_until": "2024-03-31", "countries": ["IQ", "SY"],
         "operations": 94, "killed": 18, "detained": 63, "killed_low": 17, "killed_high": 20},
        {"event_id": "r1-iq", "granularity": "AGGREGATE", "parent_id": "r1-theatre", "source": "CENTCOM",
         "occurred_on": "2024-01-01", "occurred_until": "2024-03-31", "country": "IQ", "partner_force": "ISF",
         "operations": 66, "killed": 11, "detained": 36},
        {"event_id": "r1-sy", "granularity": "AGGREGATE", "parent_id": "r1-theatre", "source": "CENTCOM",
         "occurred_on": "2024-01-01", "occurred_until": "2024-03-31", "countries": ["SY"],
         "operations": 28, "killed": 7, "detained": 27},
        {"event_id": "r1-jan-iq", "granularity": "AGGREGATE", "source": "CENTCOM",
         "occurred_on": "2024-01-01", "occurred_until": "2024-01-31", "country": "IQ",
         "operations": 20, "killed": 3, "detained": 9},
    ]
    figures = [
        {"figure_id": "r1-fig-fighters", "source": "CENTCOM", "via": "Kurdistan24", "metric": "fighters_at_large",
         "scope": ["IQ", "SY"], "as_of": "2024-03-31", "value": 2500, "qualifier": "APPROX", "unit": "fighters"},
        {"figure_id": "r1-fig-detainees", "source": "CENTCOM", "metric": "detainees_held", "scope": ["SY"],
         "as_of": "2024-03-31", "value": 9000, "qualifier": "AT_LEAST"},
        {"figure_id": "r1-fig-detainees-old", "source": "CENTCOM", "metric": "detainees_held", "scope": ["SY"],
         "as_of": "2024-01-31", "value": 9100, "qualifier": "APPROX", "low": 9000, "high": 9200},
    ]
    inc = []
    for i, (src, killed, low, high) in enumerate((("Reuters", 3, 2, 5), ("SDF", 2, 0, 0), ("CENTCOM", 2, 1, 4))):
        inc.append({"event_id": "r1-raid-%d" % i, "source": src, "occurred_on": "2024-03-10", "country": "SY",
                    "partner_force": "SDF", "operations": 1, "killed": killed, "killed_low": low,
                    "killed_high": high, "detained": 1, "incident": "r1-raid", "type": "RAID"})
    # An old event revised with estimates.
    old = {"event_id": "centcom-2024q1-iq-004", "revision": 1, "source": "CENTCOM",
           "source_url": "https://www.centcom.mil/MEDIA/PRESS-RELEASES/", "occurred_on": "2024-01-05",
           "country": "IQ", "admin1": "Diyala", "partner_force": "ISF", "operations": 1, "killed": 1,
           "killed_high": 3, "detained": 1, "type": "PARTNERED"}
    return release + figures + inc + [old]


def test():
    with h.tempdir("ot-old-") as tmp:
        data = os.path.join(tmp, "data")
        shutil.copytree(os.path.join(FIXTURE, "store"), data)
        os.chmod(data, 0o700)

        # 1. readers on the old store
        for v in h.VIEWS:
            want = fixture_rows("query-%s.jsonl" % v.replace(",", "-"))
            for r in want:
                r["killed_low"] = r["killed_high"] = r["killed"]
            got = h.query(data, v)
            assert got == want, "old store, query --view %s:\n got  %r\n want %r" % (v, got, want)
        old_rejects = fixture_rows("rejects.jsonl")
        got = h.rejects(data)
        assert got == old_rejects, "old store, rejects:\n got  %r\n want %r" % (got[:3], old_rejects[:3])
        old_log = fixture_rows("log.jsonl")
        got = export_json(data, tmp)
        assert got == old_log, "old store, log export --format json differs from the old release's: " \
            "first difference at row %d" % next(i for i, (a, b) in enumerate(zip(got + [None] * len(old_log),
                                                                                  old_log)) if a != b)
        model = rm.ReportsModel(rm.RANK)
        for r in sorted(old_log, key=lambda r: r["seq"]):
            model.apply(r["event"])
        model.set_log(rm.read_log(data))
        rm.check_all(data, model, "old store, read only")
        rc, out, err = h.rebuild_check(data)
        assert rc == 0 and "0 differences" in out, "old store: rebuild --check: %d\n%s%s" % (rc, out, err)

        # 2. a writer opens it and ingests new-shape lines
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep, CONSUMER_ARGS + ["--source-rank", ",".join(rm.RANK)])
        lines = new_lines()
        path = os.path.join(tmp, "new.jsonl")
        h.write_jsonl(path, lines)
        want = model.apply_all(lines)
        rc, out, err = h.run_produce(["--to", ep, path])
        assert rc == 0, "old store: produce new-shape lines: exit %d\n%s%s" % (rc, out, err[-3000:])
        got = h.parse_summary(out)
        assert got == want, "old store: summary %r, want %r" % (got, want)
        model.set_log(rm.read_log(data))
        rm.check_all(data, model, "old store, after new-shape lines")
        # The raid counts once, from CENTCOM (best ranked), and disagrees.
        assert model.counted_member(model.incidents()["r1-raid"])["source"] == "CENTCOM"
        assert [r["incident"] for r in model.disagreements()] == ["r1-raid"]
        got = h.rejects(data)
        assert got[:len(old_rejects)] == old_rejects, "old store: the old rejects changed after ingest"
        got = export_json(data, tmp)
        assert got[:len(old_log)] == old_log, "old store: the old log records changed after ingest"
        assert len(got) == len(old_log) + len(lines), "old store: %d log records, want %d" % (
            len(got), len(old_log) + len(lines))
        rc, out, err = h.rebuild_check(data)
        assert rc == 0 and "0 differences" in out, "old store after ingest: rebuild --check: %d\n%s%s" % (
            rc, out, err)
        c.stop()
        c = h.Consumer(data, ep, CONSUMER_ARGS)
        c.stop()
        rm.check_all(data, model, "old store, after a restart")
        rc, out, err = h.rebuild_check(data)
        assert rc == 0 and "0 differences" in out, "old store after restart: rebuild --check: %d\n%s%s" % (
            rc, out, err)


if __name__ == "__main__":
    h.main(test)
