/*
 * cli: the `optally` subcommands. Each takes argc/argv after the subcommand
 * name (argv[0] is the subcommand) and returns the process exit code.
 * Exit codes: 0 ok; 1 the work ran but found a problem (rejected events,
 * differences); 2 transport / runtime failure; 64 usage error (EX_USAGE).
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

#endif
