/*
 * fuzz_json: one JSON line as `optally produce` reads it: parse, validate,
 * render back; a parsed event must survive pack/unpack unchanged in content.
 */
#include <stdlib.h>
#include <string.h>

#include "ot_error.h"
#include "ot_event.h"
#include "ot_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Optally__OperationEvent *ev = NULL;
    char err[256];
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
