/*
 * fuzz_json: one JSON line as `optally produce` reads it: parse, validate,
 * render back; a parsed event must survive pack/unpack unchanged in content.
 * The same bytes also go through the LogRecord reader (`log import --format
 * json`): a record whose event is valid (what a store can hold, so what
 * `log export` writes) must render and parse back to the same record.
 */
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_event.h"
#include "ot_figure.h"
#include "ot_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_logrec(const uint8_t *data, size_t size)
{
    Optally__LogRecord *r = NULL;
    char err[256];
    if (ot_json_to_logrec((const char *)data, size, &r, err, sizeof err) != 0) {
        if (r)
            abort();    /* failure must leave *out NULL */
        return;
    }
    if (!r->event == !r->figure)
        abort();        /* the contract: exactly one of ->event and ->figure */
    ot_reject rej;
    if (r->event)
        ot_event_validate(r->event, 1767225600000LL, &rej);
    else
        ot_figure_validate(r->figure, 1767225600000LL, &rej);
    ot_buf b = { 0 };
    if (rej.reason == OPTALLY__REJECT_REASON__REASON_NONE && ot_json_from_logrec(&b, r) == 0) {
        Optally__LogRecord *back = NULL;
        if (ot_json_to_logrec(b.data, b.len, &back, err, sizeof err) != 0 ||
            back->seq != r->seq || back->received_at != r->received_at ||
            !back->event != !r->event ||
            (r->event && !ot_event_same_content(r->event, back->event)) ||
            (r->figure && !ot_figure_same_content(r->figure, back->figure)))
            abort();    /* what we write, we must read back the same */
        ot_json_logrec_free(&back);
    }
    ot_buf_free(&b);
    ot_json_logrec_free(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Optally__OperationEvent *ev = NULL;
    char err[256];
    s_logrec(data, size);
    if (ot_json_to_event((const char *)data, size, &ev, err, sizeof err) != 0) {
        if (ev)
            abort();    /* failure must leave *out NULL */
        return 0;
    }
    ot_reject rej;
    ot_event_validate(ev, 1767225600000LL, &rej);
    char *out = NULL;
    if (ot_json_from_event(ev, &out) == 0)
        free(out);
    size_t n = optally__operation_event__get_packed_size(ev);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        abort();
    optally__operation_event__pack(ev, buf);
    Optally__OperationEvent *back = optally__operation_event__unpack(NULL, n, buf);
    if (!back || !ot_event_same_content(ev, back))
        abort();
    optally__operation_event__free_unpacked(back, NULL);
    free(buf);
    ot_json_event_free(&ev);
    return 0;
}
