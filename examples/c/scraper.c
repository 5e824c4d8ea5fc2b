/*
 * scraper: the smallest C scraper of optally, a client of the installed
 * library alone (see README.md beside it):
 *
 *     cc scraper.c $(pkg-config --cflags --libs optally) -o scraper
 *     ./scraper tcp://127.0.0.1:7710
 *
 * It sends the figures of one published report as OperationEvents: the
 * seed release, "US CENTCOM reports advances in Defeat ISIS Mission for
 * first quarter 2024 in Iraq and Syria" (January-March 2024: in Iraq 66
 * partnered operations, 11 killed, 36 detained; in Syria 28 operations,
 * 7 killed, 27 detained). A real scraper would read them from the text;
 * here they are written down, so the example shows the library and nothing
 * else. The event ids derive from the source and the period, so a second
 * run is answered DUPLICATE for every event, never counted twice.
 *
 * Output: one line per event, "EVENT_ID STATUS" (STORED, DUPLICATE,
 * SUPERSEDED, STALE) or "EVENT_ID REJECTED REASON: text".
 * Exit status, as `optally produce`: 0 every event answered, none
 * rejected; 1 some rejected; 2 the consumer did not answer or another
 * runtime failure; 64 usage error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <ot_error.h>
#include <ot_producer.h>

#define S_EXIT_OK        0
#define S_EXIT_REJECTED  1
#define S_EXIT_RUNTIME   2
#define S_EXIT_USAGE     64

/* One country's figures of the report. */
typedef struct s_figures {
    const char *event_id;       /* stable: source, period, country */
    const char *country;        /* ISO 3166-1 alpha-2 */
    const char *partner_force;
    uint32_t operations;
    uint32_t killed;
    uint32_t detained;
} s_figures;

static const s_figures s_report[] = {
    { "centcom-dis-2024q1-iq", "IQ", "ISF", 66, 11, 36 },
    { "centcom-dis-2024q1-sy", "SY", "SDF", 28, 7, 27 },
};
#define S_NEVENTS (sizeof s_report / sizeof s_report[0])

/* What the results callback saw: each tag (an index of s_report) is
 * answered exactly once (ot_producer.h). */
typedef struct s_tally {
    int answered[S_NEVENTS];
    size_t rejected;
} s_tally;

/* Name of an IngestStatus / RejectReason value: its name in the schema,
 * or "?" for one this program was not built with. */
static const char *
s_enum_name(const ProtobufCEnumDescriptor *d, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);

    return v ? v->name : "?";
}

/* ot_producer_result_fn: print one event's outcome. */
static void
s_on_result(void *ctx, uint64_t tag, Optally__IngestStatus status,
            Optally__RejectReason reason, const char *text, uint64_t seq)
{
    s_tally *t = ctx;

    (void)seq;
    if (tag >= S_NEVENTS)
        return;
    t->answered[tag] = 1;
    if (status == OPTALLY__INGEST_STATUS__REJECTED) {
        t->rejected++;
        printf("%s REJECTED %s: %s\n", s_report[tag].event_id,
               s_enum_name(&optally__reject_reason__descriptor, (int)reason),
               text ? text : "");
    } else {
        printf("%s %s\n", s_report[tag].event_id,
               s_enum_name(&optally__ingest_status__descriptor, (int)status));
    }
    fflush(stdout);
}

/* Fill ev (strings borrowed from f and static text) for one country. */
static void
s_event_from(const s_figures *f, Optally__OperationEvent *ev)
{
    optally__operation_event__init(ev);
    ev->event_id = (char *)f->event_id;
    ev->source = (char *)"CENTCOM";
    ev->source_url = (char *)"https://www.centcom.mil/";
    ev->occurred_on = (char *)"2024-01-01";
    ev->occurred_until = (char *)"2024-03-31";
    ev->country = (char *)f->country;
    ev->partner_force = (char *)f->partner_force;
    ev->operations = f->operations;
    ev->killed = f->killed;
    ev->detained = f->detained;
    ev->type = OPTALLY__OPERATION_TYPE__PARTNERED;
}

int
main(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        fprintf(argc == 2 ? stdout : stderr, "usage: scraper ENDPOINT   (e.g. tcp://127.0.0.1:7710)\n");
        return argc == 2 ? S_EXIT_OK : S_EXIT_USAGE;
    }
    s_tally tally = { { 0 }, 0 };
    ot_producer_options opt = {
        .endpoint = argv[1],
        .timeout_ms = 2000,
        .retries = 2,
        .on_result = s_on_result,
        .ctx = &tally,
    };
    ot_producer *p = NULL;
    int rc = ot_producer_open(&opt, &p);
    if (rc != 0) {
        fprintf(stderr, "scraper: cannot open a producer on %s: %s\n", argv[1], ot_strerror(rc));
        return rc == EINVAL ? S_EXIT_USAGE : S_EXIT_RUNTIME;
    }
    for (size_t i = 0; rc == 0 && i < S_NEVENTS; i++) {
        Optally__OperationEvent ev;

        s_event_from(&s_report[i], &ev);
        rc = ot_producer_submit(p, &ev, i);
    }
    if (rc == 0)
        rc = ot_producer_flush(p);
    if (rc != 0)
        fprintf(stderr, "scraper: %s: %s %s\n", argv[1], ot_strerror(rc), ot_producer_error_text(p));
    ot_producer_close(&p);

    size_t unanswered = 0;
    for (size_t i = 0; i < S_NEVENTS; i++)
        unanswered += !tally.answered[i];
    if (rc != 0 || unanswered) {
        fprintf(stderr, "scraper: %zu of %zu events unanswered\n", unanswered, (size_t)S_NEVENTS);
        return S_EXIT_RUNTIME;
    }
    return tally.rejected ? S_EXIT_REJECTED : S_EXIT_OK;
}
