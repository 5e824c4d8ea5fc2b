/*
 * send_files: the body of `produce` and `log import` (contract in
 * send_files.h).
 */
#include "send_files.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "event_source.h"
#include "outcome.h"
#include "producer_opts.h"
#include "progress.h"

/* State of one run, shared with the producer's result callback. */
typedef struct s_run {
    const ot_cli_send_spec *spec;
    bool quiet;
    ot_cli_popt po;
    ot_evsrc src;
    ot_cli_outcome out;
    ot_progress prog;
    ot_producer *p;
} s_run;

static void
s_on_result(void *ctx, uint64_t tag, Optally__IngestStatus status,
            Optally__RejectReason reason, const char *text, uint64_t seq)
{
    (void)seq;
    s_run *r = ctx;
    if (!ot_cli_outcome_count(&r->out, status) || r->quiet)
        return;
    char where[4200];
    ot_evsrc_where(&r->src, tag, where, sizeof where);
    ot_progress_clear(&r->prog);
    ot_cli_outcome_print_reject(where, reason, text);
}

/* The event source's sink: one event to the producer. */
static int
s_submit(void *ctx, const Optally__OperationEvent *ev, uint64_t tag)
{
    s_run *r = ctx;
    r->out.submitted++;
    int rc = ot_producer_submit(r->p, ev, tag);
    if (r->src.whole)   /* the time left is known from the bytes of a regular file */
        ot_progress_update_share(&r->prog, r->out.answered, r->src.part, r->src.whole);
    return rc;
}

/* The event source's figure sink: one figure to the producer, counted as
 * an event is (the summary does not tell them apart). */
static int
s_submit_figure(void *ctx, const Optally__Figure *f, uint64_t tag)
{
    s_run *r = ctx;
    r->out.submitted++;
    int rc = ot_producer_submit_figure(r->p, f, tag);
    if (r->src.whole)
        ot_progress_update_share(&r->prog, r->out.answered, r->src.part, r->src.whole);
    return rc;
}

/* One flag c (what getopt_long returned) with its value arg: an
 * ot_cli_flag_fn (args.h). */
static int
s_flag(void *ctx, int c, const char *arg)
{
    s_run *r = ctx;
    const char *prog = r->spec->prog;
    if (OT_CLI_PRODUCER_FLAG(c))
        return ot_cli_popt_opt(&r->po, prog, c, arg) ? OT_EXIT_USAGE : -1;
    switch (c) {
    case 'f': {
        static const char *const formats[] = { "json", "pb", NULL };
        int i;
        if (ot_cli_flag_choice(prog, "--format", arg, formats, &i))
            return OT_EXIT_USAGE;
        r->src.pb = i == 1;
        return -1;
    }
    case 'q':
        r->quiet = r->src.quiet = true;
        return -1;
    default:
        return OT_CLI_FLAG_UNKNOWN;
    }
}

/* The command line into *r. Returns -1 to go on, or the exit code (0
 * after --help, 64 on a usage error). */
static int
s_parse(int argc, char **argv, s_run *r)
{
    static const struct option longs[] = {
        OT_CLI_PRODUCER_OPTIONS,
        { "format", required_argument, NULL, 'f' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    const char *prog = r->spec->prog;
    int first;
    const ot_cli_parser parser = { prog, "q", longs, s_flag, r->spec->help };
    int code = ot_cli_parse(&parser, argc, argv, r, &first);
    if (code >= 0)
        return code;
    r->src.files = argv + first;
    r->src.nfiles = (size_t)(argc - first);
    if (r->src.nfiles >= OT_EVSRC_FILES_MAX)
        return ot_cli_usage_error(prog, "too many files");
    if (r->spec->need_files && r->src.nfiles == 0)
        return ot_cli_usage_error(prog, "which FILE? (\"-\" reads standard input)");
    return -1;
}

/* Read and send every input, then wait for every answer. Returns 0 or the
 * error that ended the run. */
static int
s_send(s_run *r)
{
    ot_progress_init(&r->prog, r->spec->label, "events", r->quiet);
    int rc = ot_evsrc_read(&r->src);
    int frc = ot_producer_flush(r->p);  /* after a read error: send what was read */
    ot_progress_clear(&r->prog);
    r->out.rejected += r->src.bad;       /* malformed lines and bad records */
    return rc ? rc : frc;
}

int
ot_cli_send_files(int argc, char **argv, const ot_cli_send_spec *spec)
{
    const char *env = getenv("OPTALLY_INGEST");
    s_run r = { .spec = spec };
    ot_cli_popt_init(&r.po, env && *env ? env : OT_CLI_INGEST_DEFAULT);
    r.po.opt.on_result = s_on_result;
    r.po.opt.ctx = &r;
    r.src = (ot_evsrc){ .prog = spec->prog, .pb = spec->pb, .sink = s_submit,
                        .figure_sink = s_submit_figure, .ctx = &r, .progress = &r.prog };
    int code = s_parse(argc, argv, &r);
    if (code >= 0)
        return code;
    if (ot_evsrc_check(&r.src))
        return OT_EXIT_FAILURE;
    if ((code = ot_cli_popt_keys(&r.po, spec->prog)) != 0 ||
        (code = ot_cli_popt_open(&r.po, spec->prog, &r.p)) != 0)
        return code;
    int rc = s_send(&r);
    /* Errors of reading an input were told as they happened. */
    if (rc < 0 || rc == ENOMEM)
        ot_cli_outcome_print_failure(&r.out, spec->prog, rc, &r.po.opt, r.p);
    uint64_t resends = ot_producer_resends(r.p);
    ot_producer_close(&r.p);
    ot_cli_outcome_print_resends(spec->prog, resends, r.quiet);
    return ot_cli_outcome_finish(&r.out, rc != 0);
}
