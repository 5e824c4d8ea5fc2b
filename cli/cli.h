/*
 * cli: the `optally` subcommands. Each takes argc/argv after the subcommand
 * name (argv[0] is the subcommand) and returns the process exit code.
 * Exit codes: 0 ok; 1 the work ran but found a problem (rejected events,
 * differences); 2 transport / runtime failure; 64 usage error (EX_USAGE).
 *
 * The layout of cli/ (each file opens with its contract):
 *   optally.c          main: the subcommand table
 *   cmd_*.c            one file per subcommand (log: export and import;
 *                      cmd_query.c: query and rejects; cmd_view.c: view
 *                      add, drop and list)
 *   args.c             usage errors in one voice, getopt's errors, numbers
 *   store_arg.c        --data: its default, opening the store
 *   log_filter.c       --from-seq/--to-seq/--since/--until (export, replay)
 *   producer_opts.c    the producer flags of produce, log import, replay
 *   cli_keys.c         client CURVE key files (producer commands, subscribe)
 *   outcome.c          counting and telling the consumer's answers
 *   event_source.c     JSON Lines / LogRecord files -> events (the JSON forms
 *                      of an event and a LogRecord: lib/ot_json.h)
 *   send_files.c       the one body of produce and log import
 *   tally_print.c      a tally row as a table row or JSON (query, subscribe)
 *   tally_key.c        view names and tally keys given on the command line
 *                      (explain, history, query --view, view drop)
 *   admin_client.c     requests to a running consumer's admin socket (view)
 *   sub_print.c        subscribe's output formats
 *   progress.c         the one progress line
 */
#ifndef OT_CLI_H
#define OT_CLI_H

#define OT_EXIT_OK        0
#define OT_EXIT_PROBLEM   1
#define OT_EXIT_FAILURE   2
#define OT_EXIT_USAGE     64

int ot_cmd_consume(int argc, char **argv);
int ot_cmd_produce(int argc, char **argv);
int ot_cmd_query(int argc, char **argv);
int ot_cmd_rejects(int argc, char **argv);
int ot_cmd_subscribe(int argc, char **argv);
int ot_cmd_keygen(int argc, char **argv);
int ot_cmd_log(int argc, char **argv);          /* log export | log import */
int ot_cmd_replay(int argc, char **argv);
int ot_cmd_rebuild(int argc, char **argv);
int ot_cmd_reconcile(int argc, char **argv);
int ot_cmd_figures(int argc, char **argv);
int ot_cmd_disagreements(int argc, char **argv);
int ot_cmd_view(int argc, char **argv);         /* view add | drop | list */
int ot_cmd_explain(int argc, char **argv);
int ot_cmd_status(int argc, char **argv);
int ot_cmd_history(int argc, char **argv);

/* What every subcommand uses: ot_cli_usage_error, ot_cli_getopt_error,
 * ot_cli_parse_long, ot_cli_parse_u64. */
#include "args.h"

#endif
