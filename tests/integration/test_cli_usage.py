#!/usr/bin/python3
"""Every subcommand speaks one command-line language (cli/args.c):

  - `optally SUBCMD --help` exits 0 and prints its usage on stdout;
  - an unknown flag, a flag without its value, and a bad value each exit 64
    with "optally SUBCMD: MESSAGE" on stderr and the hint
    "Try 'optally SUBCMD --help'." -- for every subcommand, consume included;
  - the producer flags shared by produce, log import and replay
    (cli/producer_opts.c) accept the same ranges and refuse the same values
    with the same message in all three;
  - the end of a run that the consumer never answers is told the same way
    by produce, log import and replay (cli/outcome.c), and the summary line
    is the same.

No consumer is needed but for the last part.
"""

import os
import re

import otharness as h

# Each subcommand (its words after `optally`), what its --help starts with,
# the extra words that make it reach option parsing, and one bad value.
COMMANDS = [
    (["consume"], "usage: optally consume", [], ["--batch", "0"]),
    (["produce"], "usage: optally produce", [], ["--format", "xml"]),
    (["query"], "usage: optally query", [], ["--format", "xml"]),
    (["rejects"], "usage: optally rejects", [], ["--format", "xml"]),
    (["subscribe"], "usage: optally subscribe", [], ["--format", "xml"]),
    (["keygen"], "usage: optally keygen", [], ["a", "b"]),
    (["log", "export"], "usage: optally log export", [], ["--format", "xml"]),
    (["log", "import"], "usage: optally log import", ["x.pb"], ["--format", "xml"]),
    (["replay"], "usage: optally replay", ["--to", "tcp://127.0.0.1:1"], ["--rate", "0"]),
    (["rebuild"], "usage: optally rebuild", [], ["--format", "xml"]),
    (["reconcile"], "usage: optally reconcile", ["--view", "total"], ["--format", "xml"]),
    (["figures"], "usage: optally figures", [], ["--format", "xml"]),
    (["disagreements"], "usage: optally disagreements", [], ["--format", "csv"]),
    (["view", "add"], "usage: optally view add", ["v", "--group-by", "country"], ["--timeout-ms", "0"]),
    (["view", "drop"], "usage: optally view drop", ["v"], ["--timeout-ms", "0"]),
    (["view", "list"], "usage: optally view list", [], ["--format", "csv"]),
    (["explain"], "usage: optally explain", ["--key", "total"], ["--format", "csv"]),
    (["history"], "usage: optally history", ["--key", "total"], ["--format", "xml"]),
    (["status"], "usage: optally status", [], ["--format", "csv"]),
]

# The shared producer flags: (flag, lowest, highest) as every command must
# accept them; one below and one above are refused.
PRODUCER_FLAGS = [
    ("--batch", 1, 10000),
    ("--timeout-ms", 1, 86400000),
    ("--retries", 0, 1000),
    ("--window", 1, 1024),
]


def run(args, **kw):
    return h._run(args, timeout=60, **kw)


def assert_usage_error(cmd, args, rc, err, want=None):
    prog = "optally " + " ".join(cmd)
    lines = err.splitlines()
    assert rc == 64, "%s: exit %d, want 64\nstderr: %r" % (" ".join(args), rc, err)
    assert lines and lines[0].startswith(prog + ": "), \
        "%s: stderr does not start with %r: %r" % (" ".join(args), prog + ": ", err)
    assert lines[-1] == "Try '%s --help'." % prog, \
        "%s: no --help hint as the last line: %r" % (" ".join(args), err)
    if want is not None:
        assert want in lines[0], "%s: %r not in %r" % (" ".join(args), want, lines[0])
    return lines[0][len(prog) + 2:]


def check_help_and_errors():
    for cmd, usage, extra, bad in COMMANDS:
        rc, out, err = run(cmd + ["--help"])
        assert rc == 0 and out.startswith(usage), \
            "%s --help: exit %d, stdout %r" % (" ".join(cmd), rc, out[:200])
        rc, out, err = run(cmd + extra + ["--no-such-flag"])
        assert_usage_error(cmd, cmd + ["--no-such-flag"], rc, err, "unknown option '--no-such-flag'")
        rc, out, err = run(cmd + extra + bad)
        assert_usage_error(cmd, cmd + extra + bad, rc, err)
        assert not out, "%s: a usage error wrote to stdout: %r" % (" ".join(cmd + bad), out)
    h.log("--help exits 0; unknown flags and bad values exit 64 in one voice, in %d subcommands"
          % len(COMMANDS))
    # A flag without its value.
    for cmd, flag in ((["produce"], "--batch"), (["query"], "--data"), (["subscribe"], "--view"),
                      (["replay"], "--rate"), (["rebuild"], "--views"), (["consume"], "--data"),
                      (["log", "export"], "--out"), (["reconcile"], "--view"),
                      (["figures"], "--metric"), (["figures"], "--as-of"),
                      (["rebuild"], "--source-rank"), (["explain"], "--key"),
                      (["history"], "--view"), (["query"], "--as-of-seq"),
                      (["query"], "--as-of-time"), (["view", "add"], "--where"),
                      (["view", "add"], "--group-by"), (["view", "list"], "--format")):
        rc, out, err = run(cmd + [flag])
        assert_usage_error(cmd, cmd + [flag], rc, err, "%s needs a value" % flag)
    # The words around the options.
    rc, out, err = run(["keygen"])
    assert_usage_error(["keygen"], ["keygen"], rc, err, "which NAME?")
    rc, out, err = run(["log", "nope"])
    assert_usage_error(["log"], ["log", "nope"], rc, err, "unknown subcommand 'nope'")
    rc, out, err = run(["view", "nope"])
    assert_usage_error(["view"], ["view", "nope"], rc, err, "unknown subcommand 'nope'")
    rc, out, err = run(["view"])
    assert_usage_error(["view"], ["view"], rc, err, "which subcommand? add, drop or list")
    rc, out, err = run(["view", "--help"])
    assert rc == 0 and out.startswith("usage: optally view add"), "view --help: %d %r" % (rc, out)
    rc, out, err = run(["query", "--view", "nope"])
    assert_usage_error(["query"], ["query", "--view", "nope"], rc, err,
                       "unknown view 'nope'; views: total country")
    h.log("missing values, missing operands and unknown views are usage errors too")
    check_report_commands()


def check_report_commands():
    """The read commands of reports as published (reconcile, figures,
    disagreements) and rebuild --source-rank: each bad combination or value
    is a usage error with its reason, told before any store is opened (the
    --data given does not exist: a usage check that came after opening would
    exit 2 instead)."""
    nodata = ["--data", "/nonexistent/optally-usage-test"]
    cases = [
        (["reconcile"], [], "which view? --view V"),
        (["reconcile"], ["--view", "nope"], "unknown view 'nope'; views: total country"),
        (["reconcile"], ["--check-parts", "--format", "csv"], "--check-parts prints table or json"),
        (["reconcile"], ["--view", "total", "extra"], "unexpected argument"),
        (["figures"], ["--scope", "ZZ"], "--scope takes an ISO 3166-1 alpha-2 country code"),
        (["figures"], ["--scope", "iq"], "not 'iq'"),
        (["figures"], ["--as-of", "2024-02-30"], "--as-of takes a date YYYY-MM-DD, not '2024-02-30'"),
        (["figures"], ["--as-of", "yesterday"], "--as-of takes a date YYYY-MM-DD"),
        (["figures"], ["--metric", "Fighters"], "--metric takes a lower_snake_case name"),
        (["figures"], ["--metric", "a" * 65], "--metric takes a lower_snake_case name"),
        (["figures"], ["--format", "pb"], "--format is table, json or csv, not 'pb'"),
        (["disagreements"], ["--format", "csv"], "--format is table or json, not 'csv'"),
        (["rebuild"], ["--check", "--source-rank", "CENTCOM"], "--source-rank changes the store"),
        (["rebuild"], ["--source-rank", "CENTCOM,,SDF"], "--source-rank: an empty source name"),
        (["rebuild"], ["--source-rank", ",SDF"], "--source-rank: an empty source name"),
        (["rebuild"], ["--source-rank", "SDF,"], "--source-rank: an empty source name"),
        # issue 12: views, explain, history, as-of
        (["query"], ["--view", "a/b"], "'a/b' is no view name"),
        (["query"], ["--view", "a b"], "(no '/', no spaces)"),
        (["query"], ["--as-of-seq", "-1"], "--as-of-seq takes a log seq"),
        (["query"], ["--as-of-seq", "12x"], "--as-of-seq takes a log seq"),
        (["query"], ["--as-of-time", "yesterday"], "--as-of-time takes RFC 3339"),
        (["query"], ["--as-of-time", "2024-02-30T00:00:00Z"], "--as-of-time takes RFC 3339"),
        (["query"], ["--as-of-time", "2024-05-01T12:00:00"], "--as-of-time takes RFC 3339"),
        (["query"], ["--as-of-seq", "1", "--as-of-time", "1"], "one of --as-of-seq and --as-of-time"),
        (["explain"], [], "which tally? --key K"),
        (["explain"], ["--key", "k", "--view", "a/b"], "no view name"),
        (["explain"], ["--key", "total", "--limit", "0"], "--limit takes"),
        (["history"], ["--view", "a b", "--key", "x=1"], "no view name"),
        (["history"], ["--view", "total"], "which tally? --key K"),
        (["view", "add"], [], "which view? optally view add NAME"),
        (["view", "add"], ["a/b", "--group-by", "country"], "'a/b' is no view name"),
        (["view", "add"], ["v", "--group-by", "country,nope"], "unknown dimension 'nope'"),
        (["view", "add"], ["v", "--group-by", "country,,month"], "an empty dimension"),
        (["view", "add"], ["v", "--group-by", "country", "--where", "x"], "filter 'x'"),
        (["view", "add"], ["v"], "which dimensions? --group-by"),
        (["view", "add"], ["v", "w", "--group-by", "country"], "unexpected argument 'w'"),
        (["view", "drop"], ["country,quarter"], "built-in views cannot be dropped"),
        (["view", "drop"], ["x/y"], "'x/y' is no view name"),
        (["view", "list"], ["extra"], "unexpected argument"),
    ]
    for cmd, args, want in cases:
        rc, out, err = run(cmd + nodata + args)
        assert_usage_error(cmd, cmd + args, rc, err, want)
        assert not out, "%s: a usage error wrote to stdout: %r" % (" ".join(cmd + args), out)
    # The good forms of the same flags get past parsing: the missing store
    # is what stops them (exit 2), so the checks above are not refusing all.
    goods = [
        (["reconcile"], ["--view", "country,quarter", "--format", "csv"]),
        (["reconcile"], ["--check-parts"]),
        (["reconcile"], ["--view", "total", "--check-parts", "--format", "json"]),
        (["figures"], ["--scope", "SY", "--as-of", "2024-02-29", "--metric", "detainees_held",
                       "--history", "--format", "csv"]),
        (["disagreements"], ["--format", "json"]),
        (["query"], ["--as-of-seq", "5", "--quiet"]),
        (["query"], ["--as-of-time", "2024-05-01T12:00:00.250+02:00", "--view", "country"]),
        (["query"], ["--as-of-time", "1714564800000"]),
        (["explain"], ["--key", "country,quarter/IQ/2024-Q1", "--format", "json", "--limit", "5"]),
        (["explain"], ["--view", "mine", "--key", "month=2024-01,partner_force=SDF"]),
        (["history"], ["--key", "total", "--format", "csv"]),
        (["status"], ["--format", "json"]),
        (["view", "list"], ["--format", "json"]),
        (["view", "add"], ["v.1_x-y", "--group-by", "partner_force,month", "--where", "country=SY",
                           "--where", "source=CENTCOM|SDF", "--where", "occurred_on>=2024-01-01"]),
        (["view", "drop"], ["v.1_x-y"]),
    ]
    for cmd, args in goods:
        rc, out, err = run(cmd + nodata + args)
        assert rc == 2 and "no store in /nonexistent/optally-usage-test" in err, \
            "%s: exit %d, want 2 (no store)\n%s" % (" ".join(cmd + args), rc, err)
    h.log("reconcile, figures, disagreements, rebuild --source-rank, view, explain, history,"
          " query --as-of-*: %d usage errors with reasons" % len(cases))


def producer_runs(tmp):
    """The three commands with the shared flags, each stopped right after
    option parsing by something that is not a usage error (exit 2)."""
    missing = os.path.join(tmp, "no-such-file")
    return [
        (["produce"], [missing], "cannot open " + missing),
        (["log", "import"], [missing], "cannot open " + missing),
        (["replay"], ["--to", "tcp://127.0.0.1:1", "--data", missing], "no store in " + missing),
    ]


def check_shared_producer_flags():
    with h.tempdir("ot-cli-") as tmp:
        for flag, lo, hi in PRODUCER_FLAGS:
            messages = set()
            for cmd, tail, stop in producer_runs(tmp):
                for good in (lo, hi):
                    rc, out, err = run(cmd + [flag, str(good)] + tail)
                    assert rc == 2 and stop in err, \
                        "%s %s %d: exit %d (want 2: the value is in range)\n%s" % (
                            " ".join(cmd), flag, good, rc, err)
                for bad in (str(lo - 1), str(hi + 1), "x", ""):
                    rc, out, err = run(cmd + [flag, bad] + tail)
                    msg = assert_usage_error(cmd, cmd + [flag, bad], rc, err)
                    messages.add(msg.replace("'%s'" % bad, "'VALUE'"))
            want = "%s takes %d..%d, not 'VALUE'" % (flag, lo, hi)
            assert messages == {want}, "%s: messages differ across commands: %r (want %r)" % (
                flag, sorted(messages), want)
        # The CURVE flags: half a pair is the same usage error everywhere.
        for cmd, tail in ((["produce"], [os.devnull]), (["log", "import"], [os.devnull]),
                          (["replay"], ["--to", "tcp://127.0.0.1:1"])):
            key = os.path.join(tmp, "me.key")
            rc, out, err = run(cmd + ["--curve-secret", key] + tail)
            assert rc == 64 and "CURVE needs both --curve-secret" in err, \
                "%s --curve-secret alone: exit %d\n%s" % (" ".join(cmd), rc, err)
    h.log("--batch, --timeout-ms, --retries, --window: one range and one message in produce, "
          "log import and replay")


def check_unanswered_run():
    """A consumer that stores events, then goes away: produce, log import
    and replay towards a silent endpoint end alike."""
    with h.tempdir("ot-cli-") as tmp:
        data = os.path.join(tmp, "data")
        ep = h.tcp_endpoint()
        c = h.Consumer(data, ep)
        rc, out, err = h.run_produce(["-q", "--to", ep, h.DEMO_FILE])
        assert rc == 0, "produce the demo file: exit %d\n%s" % (rc, err)
        c.stop()
        path = os.path.join(tmp, "log.pb")
        rc, out, err = run(["log", "export", "--data", data, "--out", path, "--quiet"])
        assert rc == 0, "log export: exit %d\n%s" % (rc, err)
        silent = h.tcp_endpoint()   # nothing listens there
        limits = ["--timeout-ms", "200", "--retries", "0", "--window", "1", "--batch", "10"]
        runs = [
            (["produce"], ["--to", silent] + limits + [h.DEMO_FILE]),
            (["log", "import"], ["--to", silent] + limits + [path]),
            (["replay"], ["--to", silent, "--data", data] + limits),
        ]
        for cmd, args in runs:
            prog = "optally " + " ".join(cmd)
            rc, out, err = run(cmd + args)
            assert rc == 2, "%s to a silent endpoint: exit %d, want 2\n%s" % (prog, rc, err)
            assert h.parse_summary(out)["stored"] == 0, "%s: summary %r" % (prog, out)
            want = ("%s: consumer at %s did not answer after 0 retries of 200 ms; "
                    "is `optally consume` running?" % (prog, silent))
            assert want in err.splitlines(), "%s: %r not in stderr:\n%s" % (prog, want, err)
            assert re.search(r"^%s: \d+ events sent were not answered$" % re.escape(prog), err, re.M), \
                "%s: no count of unanswered events:\n%s" % (prog, err)
    h.log("produce, log import and replay tell an unanswered run alike (exit 2, same lines)")


def main():
    check_help_and_errors()
    check_shared_producer_flags()
    check_unanswered_run()
    h.log("ok")


if __name__ == "__main__":
    main()
