/*
 * sub_print: the output formats of `optally subscribe`, fed one
 * ot_sub_event at a time (the contract of each is in cmd_subscribe.c):
 *
 *   json   JSON Lines: rows and updates shaped as query's JSON rows plus the
 *          stream's keys; snapshot_end and resync lines
 *   plain  the snapshot as query's table, then one line per change
 *          (not a terminal, or --once: then stdout is exactly query's table)
 *   live   query's table redrawn in place on a terminal, at most every
 *          100 ms, never halfway through a snapshot
 * Figures (subscribe --figures) print in json (the row of `optally figures
 * --format json` plus "kind":"figure", log_seq, figure_seq, committed_at)
 * and plain (one line each); the caller never picks live for them.
 */
#ifndef OT_CLI_SUB_PRINT_H
#define OT_CLI_SUB_PRINT_H

#include <stdbool.h>

#include "ot_subscriber.h"

typedef enum { OT_CLI_SUB_JSON, OT_CLI_SUB_PLAIN, OT_CLI_SUB_LIVE } ot_cli_sub_format;

typedef struct ot_cli_sub_out ot_cli_sub_out;

/* An output on stdout. once: --once (the plain format then prints the
 * snapshot only, no stream comments). what names the filter in the live
 * table's status line (borrowed for the life of the output). OUT: *out,
 * freed with ot_cli_sub_out_free. Returns 0 or ENOMEM. */
int
ot_cli_sub_out_new(ot_cli_sub_format fmt, bool once, const char *what, ot_cli_sub_out **out);

/* Print (or hold, for the live table) one event. Returns 0 or ENOMEM. */
int
ot_cli_sub_out_event(ot_cli_sub_out *o, const ot_sub_event *ev);

/* Nothing more at hand for now: the live table draws what it holds back. */
void
ot_cli_sub_out_idle(ot_cli_sub_out *o);

/* Frees o; sets *o to NULL; safe on NULL. */
void
ot_cli_sub_out_free(ot_cli_sub_out **o);

#endif
