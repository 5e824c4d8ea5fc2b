/*
 * outcome: counting and telling the consumer's answers (contract in
 * outcome.h).
 */
#include "outcome.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"
#include "ot_error.h"

bool
ot_cli_outcome_count(ot_cli_outcome *o, Optally__IngestStatus status)
{
    o->answered++;
    switch (status) {
    case OPTALLY__INGEST_STATUS__STORED: o->stored++; return false;
    case OPTALLY__INGEST_STATUS__DUPLICATE: o->duplicate++; return false;
    case OPTALLY__INGEST_STATUS__SUPERSEDED: o->superseded++; return false;
    case OPTALLY__INGEST_STATUS__STALE: o->stale++; return false;
    default: break;  /* REJECTED (the producer maps unknown statuses to it) */
    }
    o->rejected++;
    return true;
}

void
ot_cli_outcome_print_reject(const char *where, Optally__RejectReason reason, const char *text)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&optally__reject_reason__descriptor, reason);
    char num[24];
    snprintf(num, sizeof num, "REASON_%d", (int)reason);
    fprintf(stderr, "%s: rejected: %s: %s\n", where, v ? v->name : num, text ? text : "");
}

/* The consumer kept answering a storage error: nothing of what is
 * unanswered was stored, and sending again is safe. */
static void
s_print_storage(const ot_cli_outcome *o, const char *prog, const ot_producer_options *opt,
                const ot_producer *p)
{
    fprintf(stderr, "%s: consumer at %s could not store a batch after %d retries (storage\n"
            "%s: full or failing; see its log): nothing of the %" PRIu64 " unanswered events\n"
            "%s: was stored. Free space on the consumer's disk and run again (dedup makes\n"
            "%s: re-sending safe).\n%s: the consumer said: %s\n", prog, opt->endpoint,
            opt->retries, prog, o->submitted - o->answered, prog, prog, prog,
            ot_producer_error_text(p));
}

void
ot_cli_outcome_print_failure(const ot_cli_outcome *o, const char *prog, int rc,
                             const ot_producer_options *opt, const ot_producer *p)
{
    if (rc == OT_ETIMEOUT || rc == OT_ETRANSPORT) {
        fprintf(stderr, "%s: consumer at %s did not answer after %d retries"
                " of %d ms; is `optally consume` running%s?\n", prog, opt->endpoint,
                opt->retries, opt->timeout_ms, opt->server_key ? ", and is this key allowed" : "");
        /* Under CURVE a refused key looks exactly like a dead consumer. */
        if (opt->server_key)
            fprintf(stderr, "%s: (CURVE: the consumer may have refused it: its log says"
                    " 'refused ... CURVE handshake' with the key; put your NAME.pub in its"
                    " --allow-keys)\n", prog);
        fprintf(stderr, "%s: %" PRIu64 " events sent were not answered\n", prog,
                o->submitted - o->answered);
    } else if (rc == OT_ESTORAGE) {
        s_print_storage(o, prog, opt, p);
    } else if (rc == ENOMEM) {
        fprintf(stderr, "%s: out of memory\n", prog);
    } else if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, ot_strerror(rc));
    }
}

void
ot_cli_outcome_print_resends(const char *prog, uint64_t resends, bool quiet)
{
    if (resends && !quiet)
        fprintf(stderr, "%s: %" PRIu64 " batch resends\n", prog, resends);
}

int
ot_cli_outcome_finish(const ot_cli_outcome *o, bool failed)
{
    printf("stored %" PRIu64 ", duplicate %" PRIu64 ", superseded %" PRIu64 ", stale %" PRIu64
           ", rejected %" PRIu64 "\n", o->stored, o->duplicate, o->superseded, o->stale,
           o->rejected);
    if (fflush(stdout) != 0 || failed)
        return OT_EXIT_FAILURE;
    return o->rejected ? OT_EXIT_PROBLEM : OT_EXIT_OK;
}
