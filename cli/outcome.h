/*
 * outcome: the answers a sending command (produce, log import, replay) got
 * from the consumer, counted per status and told in one voice:
 *
 *   stderr, per refused event:  WHERE: rejected: REASON_NAME: TEXT
 *   stderr, when the run ended early: why (no answer, storage failing, ...)
 *   stdout, exactly one line:   stored N, duplicate N, superseded N, stale N, rejected N
 *   exit code: 2 the run failed; else 1 when anything was rejected; else 0
 */
#ifndef OT_CLI_OUTCOME_H
#define OT_CLI_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#include "ot_producer.h"

/* The summary's line and the exit codes, for a command's --help. */
#define OT_CLI_OUTCOME_HELP \
"Output: one summary line on stdout,\n" \
"  stored N, duplicate N, superseded N, stale N, rejected N\n"

typedef struct ot_cli_outcome {
    uint64_t stored, duplicate, superseded, stale;
    uint64_t rejected;     /* by the consumer, plus what the command refused itself */
    uint64_t submitted;    /* events handed to the producer */
    uint64_t answered;     /* answers counted by ot_cli_outcome_count */
} ot_cli_outcome;

/* Count one answer. Returns true when it is a rejection (any status the
 * producer does not know is one), for the caller to say where it came from
 * with ot_cli_outcome_print_reject. */
bool
ot_cli_outcome_count(ot_cli_outcome *o, Optally__IngestStatus status);

/* "WHERE: rejected: REASON_NAME: TEXT" on stderr; an unknown reason is
 * named REASON_<number>; text may be NULL. */
void
ot_cli_outcome_print_reject(const char *where, Optally__RejectReason reason, const char *text);

/* Say on stderr why the producer stopped the run: rc from ot_producer_submit
 * or ot_producer_flush (OT_ETIMEOUT / OT_ETRANSPORT: the consumer did not
 * answer, and with CURVE keys (opt->server_key) it may have refused the
 * key: the message says so and how to check; OT_ESTORAGE: it kept failing to store; ENOMEM; any other code by
 * its ot_strerror). Nothing for rc 0. p is the open producer (its last batch
 * error is quoted), opt the options it was opened with. */
void
ot_cli_outcome_print_failure(const ot_cli_outcome *o, const char *prog, int rc,
                             const ot_producer_options *opt, const ot_producer *p);

/* "PROG: N batch resends" on stderr when there were any and not quiet. */
void
ot_cli_outcome_print_resends(const char *prog, uint64_t resends, bool quiet);

/* Print the summary line on stdout and flush it. Returns the exit code:
 * OT_EXIT_FAILURE when failed or stdout cannot be written, else
 * OT_EXIT_PROBLEM when anything was rejected, else OT_EXIT_OK. */
int
ot_cli_outcome_finish(const ot_cli_outcome *o, bool failed);

#endif
