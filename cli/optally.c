/*
 * optally: one executable, a subcommand per job. Thin: each subcommand
 * parses its flags and calls the library of its folder.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct s_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} s_cmd;

static const s_cmd s_cmds[] = {
    { "consume", ot_cmd_consume, "run the consumer daemon: validate, dedup, fold into LMDB" },
    { "produce", ot_cmd_produce, "send JSON Lines events to a consumer, report each outcome" },
    { "query",   ot_cmd_query,   "print tallies from the store (table, JSON Lines, CSV)" },
    { "reconcile", ot_cmd_reconcile, "reported totals (aggregates) beside observed tallies, per key" },
    { "figures", ot_cmd_figures, "point-in-time figures: the latest of each metric, scope, source" },
    { "disagreements", ot_cmd_disagreements, "incidents whose reports differ, each report's counts" },
    { "rejects", ot_cmd_rejects, "list rejected events and refused messages with reasons" },
    { "subscribe", ot_cmd_subscribe, "follow tallies live: snapshot, then every committed change" },
    { "keygen",  ot_cmd_keygen,  "write a CurveZMQ key pair (NAME.key, NAME.pub)" },
    { "log",     ot_cmd_log,     "export the event log to a file, or import one into a consumer" },
    { "replay",  ot_cmd_replay,  "re-publish the stored log to another consumer" },
    { "rebuild", ot_cmd_rebuild, "recompute tallies from the log (--check: compare only)" },
    { "view",    ot_cmd_view,    "declare, drop and list views (group-by dimensions, filters)" },
    { "explain", ot_cmd_explain, "the events that make up one tally now, and their sum" },
    { "history", ot_cmd_history, "each change of one tally over ingest (seq, time, delta)" },
    { "status",  ot_cmd_status,  "the store's state: last log seq, counters, views, size" },
};

static void
s_usage(FILE *f)
{
    fprintf(f, "usage: optally <command> [options]\n\n"
               "optally folds armed-conflict operation events into running tallies,\n"
               "exactly once, over ZeroMQ and LMDB; keeps reports as they are published\n"
               "(period totals, point-in-time figures) beside them.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf(f, "  %-13s %s\n", s_cmds[i].name, s_cmds[i].help);
    fprintf(f, "\n`optally <command> --help` describes each one.\n"
               "exit codes: 0 ok, 1 problem found (e.g. rejected events), 2 runtime or\n"
               "transport failure, 64 usage error.\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        s_usage(stderr);
        return OT_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        s_usage(stdout);
        return OT_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("optally 0.1.0\n");
        return OT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        if (!strcmp(argv[1], s_cmds[i].name))
            return s_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "optally: unknown command '%s'\n\n", argv[1]);
    s_usage(stderr);
    return OT_EXIT_USAGE;
}
